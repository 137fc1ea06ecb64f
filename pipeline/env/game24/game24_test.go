package game24

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/env"
)

func newEnv(t testing.TB, opt Options) *Env {
	t.Helper()
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// bruteSolvable is an independent oracle over math/big: combine any two numbers, recurse.
func bruteSolvable(v []*big.Rat) bool {
	if len(v) == 1 {
		return v[0].Cmp(big.NewRat(24, 1)) == 0
	}
	for i := range v {
		for j := range v {
			if i == j {
				continue
			}
			rest := make([]*big.Rat, 0, len(v)-1)
			for k := range v {
				if k != i && k != j {
					rest = append(rest, v[k])
				}
			}
			var outs []*big.Rat
			outs = append(outs, new(big.Rat).Add(v[i], v[j]), new(big.Rat).Sub(v[i], v[j]), new(big.Rat).Mul(v[i], v[j]))
			if v[j].Sign() != 0 {
				outs = append(outs, new(big.Rat).Quo(v[i], v[j]))
			}
			for _, r := range outs {
				if bruteSolvable(append(rest, r)) {
					return true
				}
			}
		}
	}
	return false
}

func TestPuzzleSetIsAllSolvableMultisets(t *testing.T) {
	ps, err := Puzzles()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1362 {
		t.Fatalf("%d puzzles, want 1362", len(ps))
	}
	have := make(map[[4]int]int)
	for i, p := range ps {
		if p.Rank != i+1 {
			t.Fatalf("row %d has rank %d", i, p.Rank)
		}
		k := p.Numbers
		sort.Ints(k[:])
		if prev, dup := have[k]; dup {
			t.Fatalf("puzzle %v at ranks %d and %d", k, prev+1, i+1)
		}
		have[k] = i
	}
	// Every multiset of four numbers from 1 to 13, checked by the fast solver and, for a sample,
	// by the big.Rat oracle.
	n := 0
	for a := 1; a <= 13; a++ {
		for b := a; b <= 13; b++ {
			for c := b; c <= 13; c++ {
				for d := c; d <= 13; d++ {
					k := [4]int{a, b, c, d}
					s := Solvable(k[:])
					if (n%7 == 0) && s != bruteSolvable([]*big.Rat{big.NewRat(int64(a), 1), big.NewRat(int64(b), 1), big.NewRat(int64(c), 1), big.NewRat(int64(d), 1)}) {
						t.Fatalf("%v: fast solver says %v, oracle disagrees", k, s)
					}
					if _, listed := have[k]; listed != s {
						t.Errorf("%v: solvable %v but listed %v", k, s, listed)
					}
					n++
				}
			}
		}
	}
	if n != 1820 {
		t.Fatalf("enumerated %d multisets, want 1820", n)
	}
}

func TestSolverSolvesEveryPuzzle(t *testing.T) {
	ps, err := Puzzles()
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		e, ok := Solve(p.Numbers[:])
		if !ok {
			t.Fatalf("task %d %v: no solution", i, p.Numbers)
		}
		if err := CheckAnswer(p.Numbers[:], FormatAnswer(e)); err != nil {
			t.Fatalf("task %d %v: solver answer %q: %v", i, p.Numbers, FormatAnswer(e), err)
		}
	}
}

func TestExpertSolvesEveryPuzzle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{})
	for task := range e.NumTasks() {
		if _, err := e.Reset(ctx, task); err != nil {
			t.Fatal(err)
		}
		var trace []string
		for !e.Done() {
			a, ok := e.ExpertAction()
			if !ok {
				t.Fatalf("task %d: expert has no action after %q", task, trace)
			}
			trace = append(trace, a)
			res, err := e.Step(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if res.Done && res.Reward != 1 {
				t.Fatalf("task %d: expert path %q got reward %v", task, trace, res.Reward)
			}
		}
		if len(trace) != 4 {
			t.Fatalf("task %d: expert took %d actions: %q", task, len(trace), trace)
		}
	}
}

func TestSplits(t *testing.T) {
	e := newEnv(t, Options{})
	test, err := e.Split("test")
	if err != nil {
		t.Fatal(err)
	}
	train, err := e.Split("train")
	if err != nil {
		t.Fatal(err)
	}
	if len(test) != 100 || test[0] != 900 || test[99] != 999 {
		t.Fatalf("test split %d tasks from %d", len(test), test[0])
	}
	if len(train) != 1262 || slices.Contains(train, 950) || !slices.Contains(train, 1000) || !slices.Contains(train, 899) {
		t.Fatalf("train split wrong: %d tasks", len(train))
	}
	if _, err := e.Split("dev"); err == nil {
		t.Fatal("unknown split accepted")
	}
	if _, err := e.Reset(context.Background(), 1362); !errors.Is(err, env.ErrNoTask) {
		t.Fatalf("Reset(1362) = %v, want ErrNoTask", err)
	}
	obs, err := e.Reset(context.Background(), 900)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(obs.Instruction, "\nInput: 4 5 6 10") || obs.TaskID != "game24/900" || obs.Text != "left: 4 5 6 10" {
		t.Fatalf("task 900: %+v", obs)
	}
	if n, err := ParseTaskID(obs.TaskID); err != nil || n != 900 {
		t.Fatalf("ParseTaskID(%q) = %d, %v", obs.TaskID, n, err)
	}
}

// TestEpisode walks Tree of Thoughts' worked example and the ways a step can go wrong.
func TestEpisode(t *testing.T) {
	ctx := context.Background()
	type step struct {
		action string
		obs    string // exact, or a prefix when it ends with "..."
		reward float64
		done   bool
	}
	tests := []struct {
		name  string
		input []int
		steps []step
	}{
		{"tot example", []int{4, 4, 6, 8}, []step{
			{"4 + 8 = 12 (left: 4 6 12)", "left: 4 6 12", 0, false},
			{"6 - 4 = 2 (left: 2 12)", "left: 2 12", 0, false},
			{"2 * 12 = 24 (left: 24)", "left: 24", 0, false},
			{"Answer: (6 - 4) * (4 + 8) = 24", FinalObservation, 1, true},
		}},
		{"wrong claim shows as mismatch", []int{4, 9, 10, 13}, []step{
			{"13 - 9 = 5 (left: 4 5 10)", "left: 4 4 10", 0, false},
			{"5 * 4 = 20 (left: 10 20)", "Invalid step: 5 is not among the numbers left; left: 4 4 10", 0, false},
			{"10 - 4 = 6 (left: 4 6)", "left: 4 6", 0, false},
			{"4 * 6 = 24 (left: 24)", "left: 24", 0, false},
			{"Answer: (10 - 4) * 4 = 24", FinalObservation, 0, true},
		}},
		{"fractions", []int{3, 3, 8, 8}, []step{
			{"8 / 3 = 8/3 (left: 8/3 3 8)", "left: 8/3 3 8", 0, false},
			{"3 - 8/3 = 1/3 (left: 1/3 8)", "left: 1/3 8", 0, false},
			{"8 / 1/3 = 24", "left: 24", 0, false},
			{"Answer: 8 / (3 - 8 / 3) = 24", FinalObservation, 1, true},
		}},
		{"invalid steps change nothing", []int{1, 2, 3, 4}, []step{
			{"4 * 4 = 16", "Invalid step: 4 is left only once; left: 1 2 3 4", 0, false},
			{"7 + 1 = 8", "Invalid step: 7 is not among the numbers left; left: 1 2 3 4", 0, false},
			{"3 times 4 is 12", "Invalid step: expected ...", 0, false},
			{"4 / 0 = 0", "Invalid step: 0 is not among the numbers left; left: 1 2 3 4", 0, false},
			{"1 * 2 = 2", "left: 2 3 4", 0, false},
			{"3 - 3 = 0", "Invalid step: 3 is left only once; left: 2 3 4", 0, false},
			{"2 * 3 = 6", "left: 4 6", 0, false},
			{"4 * 6 = 24", "left: 24", 0, false},
			{"Answer: 1 * 2 * 3 * 4 = 24", FinalObservation, 1, true},
		}},
		{"division by zero", []int{2, 2, 5, 5}, []step{
			{"5 - 5 = 0", "left: 0 2 2", 0, false},
			{"2 / 0 = 0", "Invalid step: game24: division by zero; left: 0 2 2", 0, false},
		}},
		{"step limit", []int{1, 1, 1, 1}, []step{
			{"1 + 1 = 2", "left: 1 1 2", 0, false},
			{"9 + 9 = 18", "Invalid step: ...", 0, false},
			{"9 + 9 = 18", "Invalid step: ...", 0, false},
			{"1 + 1 = 2", "left: 2 2 Step limit reached. The episode is over.", 0, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{MaxSteps: 4 + 5*boolInt(tt.name != "step limit")})
			if _, err := e.ResetInput(ctx, tt.input); err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.steps {
				res, err := e.Step(ctx, s.action)
				if err != nil {
					t.Fatalf("%q: %v", s.action, err)
				}
				match := res.Observation == s.obs
				if p, ok := strings.CutSuffix(s.obs, "..."); ok {
					match = strings.HasPrefix(res.Observation, p)
				}
				if !match || res.Reward != s.reward || res.Done != s.done {
					t.Fatalf("%q: got (%q, %v, %v), want (%q, %v, %v)", s.action, res.Observation, res.Reward, res.Done, s.obs, s.reward, s.done)
				}
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestStepAfterDoneAndBeforeReset(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{})
	if _, err := e.Step(ctx, "1 + 1 = 2"); err == nil {
		t.Fatal("Step before Reset accepted")
	}
	if _, err := e.Reset(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step(ctx, "Answer: 1 = 24"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step(ctx, "Answer: 1 = 24"); !errors.Is(err, env.ErrDone) {
		t.Fatalf("Step after answer: %v, want ErrDone", err)
	}
	if a := e.Admissible(); a != nil {
		t.Fatalf("Admissible after done = %q", a)
	}
}

// TestFinalObservationHidesCorrectness: a right and a wrong answer read the same.
func TestFinalObservationHidesCorrectness(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{})
	var obs []string
	var rewards []float64
	for _, a := range []string{"Answer: (6 - 4) * (4 + 8) = 24", "Answer: (6 + 4) * (4 + 8) = 24", "Answer: (6 - 4) * 12 = 24", "Answer: oops"} {
		if _, err := e.ResetInput(ctx, []int{4, 4, 6, 8}); err != nil {
			t.Fatal(err)
		}
		res, err := e.Step(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		obs = append(obs, res.Observation)
		rewards = append(rewards, res.Reward)
	}
	for i := range obs {
		if obs[i] != obs[0] {
			t.Fatalf("observations differ: %q", obs)
		}
	}
	if !slices.Equal(rewards, []float64{1, 0, 0, 0}) {
		t.Fatalf("rewards %v", rewards)
	}
}

// leftOf returns the multiset left after applying action, computed independently with big.Rat.
func oracleNext(nums []*big.Rat) map[string]bool {
	out := map[string]bool{}
	for i := range nums {
		for j := range nums {
			if i == j {
				continue
			}
			var rs []*big.Rat
			rs = append(rs, new(big.Rat).Add(nums[i], nums[j]), new(big.Rat).Sub(nums[i], nums[j]), new(big.Rat).Mul(nums[i], nums[j]))
			if nums[j].Sign() != 0 {
				rs = append(rs, new(big.Rat).Quo(nums[i], nums[j]))
			}
			for _, r := range rs {
				var left []*big.Rat
				for k := range nums {
					if k != i && k != j {
						left = append(left, nums[k])
					}
				}
				left = append(left, r)
				slices.SortFunc(left, func(a, b *big.Rat) int { return a.Cmp(b) })
				var sb []string
				for _, x := range left {
					sb = append(sb, x.RatString())
				}
				out[strings.Join(sb, " ")] = true
			}
		}
	}
	return out
}

// TestAdmissible: distinct actions, each valid, together reaching exactly the states the
// big.Rat oracle reaches; with one number left, the answer from the history.
func TestAdmissible(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	for _, task := range []int{0, 1, 45, 900, 950, 999, 1361} {
		if _, err := e.Reset(ctx, task); err != nil {
			t.Fatal(err)
		}
		for depth := 0; !e.Done(); depth++ {
			adm := e.Admissible()
			if len(adm) == 0 {
				t.Fatalf("task %d depth %d: no admissible action", task, depth)
			}
			if len(e.Numbers()) == 1 {
				if len(adm) != 1 || !IsAnswer(adm[0]) {
					t.Fatalf("task %d: final admissible %q", task, adm)
				}
				want := CheckAnswer(e.Input(), adm[0]) == nil
				res, err := e.Step(ctx, adm[0])
				if err != nil {
					t.Fatal(err)
				}
				if (res.Reward == 1) != want || (res.Reward == 1) != e.Numbers()[0].Equal(Int(24)) {
					t.Fatalf("task %d: assembled answer %q reward %v, value %v", task, adm[0], res.Reward, e.Numbers()[0])
				}
				break
			}
			if dup := len(adm) - len(uniq(adm)); dup != 0 {
				t.Fatalf("task %d: %d duplicate actions in %q", task, dup, adm)
			}
			var cur []*big.Rat
			for _, n := range e.Numbers() {
				cur = append(cur, big.NewRat(n.Num(), n.Den()))
			}
			want := oracleNext(cur)
			got := map[string]bool{}
			snap, err := e.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range adm {
				res, err := e.Step(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				left, ok := strings.CutPrefix(res.Observation, "left: ")
				if !ok {
					t.Fatalf("task %d: admissible %q gave %q", task, a, res.Observation)
				}
				st, err := ParseStep(a)
				if err != nil || FormatNumbers(st.Left) != left {
					t.Fatalf("task %d: action %q claims a left list other than %q", task, a, left)
				}
				got[left] = true
				if err := e.Restore(snap); err != nil {
					t.Fatal(err)
				}
			}
			if !maps2Equal(got, want) {
				t.Fatalf("task %d depth %d: states %v, oracle %v", task, depth, keys(got), keys(want))
			}
			if _, err := e.Step(ctx, adm[rng.IntN(len(adm))]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func uniq(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func maps2Equal(a, b map[string]bool) bool {
	return slices.Equal(keys(a), keys(b))
}

// TestSnapshotRestore: after Restore, the same actions give the same observations and rewards,
// in the same instance and in a fresh one, and the snapshot can be reused.
func TestSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	e := newEnv(t, Options{})
	for trial := range 200 {
		task := rng.IntN(e.NumTasks())
		if _, err := e.Reset(ctx, task); err != nil {
			t.Fatal(err)
		}
		pick := func() string {
			adm := e.Admissible()
			switch r := rng.IntN(10); {
			case r == 0:
				return "12 + 99 = 111"
			case r == 1:
				return "Answer: 1 + 2 = 24"
			case len(adm) == 0:
				return "1 + 1 = 2"
			default:
				return adm[rng.IntN(len(adm))]
			}
		}
		for range rng.IntN(3) {
			if e.Done() {
				break
			}
			if _, err := e.Step(ctx, pick()); err != nil {
				t.Fatal(err)
			}
		}
		if e.Done() {
			continue
		}
		snap, err := e.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		var first []string
		for !e.Done() {
			a := pick()
			res, err := e.Step(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			actions = append(actions, a)
			first = append(first, fmt.Sprintf("%s|%v|%v|%q", res.Observation, res.Reward, res.Done, e.Admissible()))
		}
		other := newEnv(t, Options{})
		for _, target := range []*Env{e, e, other} {
			if err := target.Restore(snap); err != nil {
				t.Fatal(err)
			}
			for k, a := range actions {
				res, err := target.Step(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				got := fmt.Sprintf("%s|%v|%v|%q", res.Observation, res.Reward, res.Done, target.Admissible())
				if got != first[k] {
					t.Fatalf("trial %d step %d: %s, first run %s", trial, k, got, first[k])
				}
			}
		}
	}
	if err := e.Restore(struct{}{}); err == nil {
		t.Fatal("Restore of a foreign snapshot accepted")
	}
}

func TestExpertActionsAreExactlyTheSolvableSteps(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{})
	for _, task := range []int{3, 500, 900, 1361} {
		if _, err := e.Reset(ctx, task); err != nil {
			t.Fatal(err)
		}
		exp := e.ExpertActions()
		first, ok := e.ExpertAction()
		if !ok || len(exp) == 0 || exp[0] != first {
			t.Fatalf("task %d: ExpertAction %q, ExpertActions %q", task, first, exp)
		}
		snap, _ := e.Snapshot()
		var want []string
		for _, a := range e.Admissible() {
			if _, err := e.Step(ctx, a); err != nil {
				t.Fatal(err)
			}
			var vals []*big.Rat
			for _, n := range e.Numbers() {
				vals = append(vals, big.NewRat(n.Num(), n.Den()))
			}
			if bruteSolvable(vals) {
				want = append(want, a)
			}
			e.Restore(snap)
		}
		if !slices.Equal(uniq(exp), uniq(want)) {
			t.Fatalf("task %d: expert steps %q, solvable steps %q", task, exp, want)
		}
	}
}
