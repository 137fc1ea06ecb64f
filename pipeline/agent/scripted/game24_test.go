package scripted

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env/game24"
)

func g24Env(t testing.TB) *game24.Env {
	t.Helper()
	e, err := game24.New(game24.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func g24Policy(t testing.TB, skill float64) agent.Policy {
	t.Helper()
	p, err := New("game24", skill)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewDispatch(t *testing.T) {
	if p, err := New("game24", 0.3); err != nil || !strings.Contains(p.Name(), "game24") {
		t.Fatalf("New(game24) = %v, %v", p, err)
	}
	if _, err := New("chess", 0.5); err == nil || !strings.Contains(err.Error(), "game24") {
		t.Fatalf("unknown env: %v", err)
	}
	for _, s := range []float64{-0.1, 1.5} {
		if _, err := New("game24", s); err == nil {
			t.Fatalf("skill %v accepted", s)
		}
	}
}

// rate runs k sampled rollouts per task and returns the share of successes and of tasks with at
// least one success.
func rate(t *testing.T, skill float64, tasks []int, k int) (float64, float64) {
	ctx := context.Background()
	e := g24Env(t)
	p := g24Policy(t, skill)
	succ, solved := 0, 0
	for i, task := range tasks {
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		any := false
		for range k {
			tr, err := agent.Rollout(ctx, e, p, task, 12, agent.ActOptions{N: 1, Rand: rng}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Success {
				succ++
				any = true
			}
		}
		if any {
			solved++
		}
	}
	return float64(succ) / float64(k*len(tasks)), float64(solved) / float64(len(tasks))
}

// TestGame24SkillBands: the expert solves everything, and a weak policy solves a minority of
// test puzzles per try while eight tries usually include a success (the headroom planners need).
func TestGame24SkillBands(t *testing.T) {
	test, err := g24Env(t).Split("test")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := rate(t, 1, test, 1); s != 1 {
		t.Fatalf("skill 1 success %.2f, want 1", s)
	}
	weak, pass8 := rate(t, 0.35, test, 8)
	if weak < 0.05 || weak > 0.35 || pass8 < 0.5 {
		t.Fatalf("skill 0.35: success %.3f, pass@8 %.2f; want success in [0.05, 0.35] and pass@8 >= 0.5", weak, pass8)
	}
	low, _ := rate(t, 0.1, test, 4)
	mid, _ := rate(t, 0.7, test, 4)
	if !(low < weak && weak < mid && mid < 1) {
		t.Fatalf("success not increasing with skill: 0.1 → %.3f, 0.35 → %.3f, 0.7 → %.3f", low, weak, mid)
	}
	t.Logf("success per try: skill 0.1 %.3f, 0.35 %.3f (pass@8 %.2f), 0.7 %.3f", low, weak, pass8, mid)
}

// TestGame24GreedyIsAFunctionOfState: greedy ignores Rand, gives the same action for the same
// state, also when the state is rebuilt from the history instead of read from the env.
func TestGame24GreedyIsAFunctionOfState(t *testing.T) {
	ctx := context.Background()
	e := g24Env(t)
	p := g24Policy(t, 0.4)
	for task := 900; task < 930; task++ {
		tr1, err := agent.Rollout(ctx, e, p, task, 12, agent.ActOptions{N: 1, Greedy: true, Rand: rand.New(rand.NewPCG(1, 1))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr2, err := agent.Rollout(ctx, e, p, task, 12, agent.ActOptions{N: 1, Greedy: true, Rand: rand.New(rand.NewPCG(2, 2))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tr1.Steps, tr2.Steps) {
			t.Fatalf("task %d: greedy runs differ:\n%v\n%v", task, tr1.Steps, tr2.Steps)
		}
		for k := range tr1.Steps {
			st := &agent.State{EnvName: "game24", Instruction: tr1.Instruction, Steps: tr1.Steps[:k]}
			acts, err := p.Act(ctx, st, agent.ActOptions{N: 3, Greedy: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(acts) != 1 || acts[0] != tr1.Steps[k].Action {
				t.Fatalf("task %d step %d: replayed greedy %q, rollout took %q", task, k, acts, tr1.Steps[k].Action)
			}
		}
	}
}

func TestGame24SamplingUsesRand(t *testing.T) {
	ctx := context.Background()
	e := g24Env(t)
	p := g24Policy(t, 0.35)
	obs, err := e.Reset(ctx, 950)
	if err != nil {
		t.Fatal(err)
	}
	st := &agent.State{EnvName: "game24", Instruction: obs.Instruction, Observation: obs.Text, Admissible: e.Admissible(), Env: e}
	draw := func(seed uint64) []string {
		a, err := p.Act(ctx, st, agent.ActOptions{N: 64, Rand: rand.New(rand.NewPCG(seed, 3))})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b, c := draw(1), draw(1), draw(2)
	if !slices.Equal(a, b) {
		t.Fatal("same Rand seed gave different samples")
	}
	if slices.Equal(a, c) {
		t.Fatal("different Rand seeds gave the same 64 samples")
	}
	if n := len(uniqStrings(a)); n < 4 {
		t.Fatalf("only %d distinct actions in 64 samples: %q", n, uniqStrings(a))
	}
	expert := e.ExpertActions()
	hits := 0
	for _, x := range a {
		if slices.Contains(expert, x) {
			hits++
		}
	}
	if hits == 0 || hits == len(a) {
		t.Fatalf("%d of %d samples are expert steps; want a mix", hits, len(a))
	}
}

func uniqStrings(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}

// TestGame24Reflections: an action a reflection marks at a step is never taken there again.
func TestGame24Reflections(t *testing.T) {
	ctx := context.Background()
	e := g24Env(t)
	for _, skill := range []float64{1, 0.35} {
		p := g24Policy(t, skill)
		for task := 900; task < 920; task++ {
			obs, err := e.Reset(ctx, task)
			if err != nil {
				t.Fatal(err)
			}
			first, _ := e.ExpertAction()
			refl := []agent.Reflection{{Text: "that step led nowhere", Step: 0, Action: first}}
			st := &agent.State{EnvName: "game24", Instruction: obs.Instruction, Observation: obs.Text, Admissible: e.Admissible(), Env: e, Reflections: refl}
			acts, err := p.Act(ctx, st, agent.ActOptions{N: 50, Rand: rand.New(rand.NewPCG(uint64(task), 9))})
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(acts, first) {
				t.Fatalf("skill %v task %d: took the avoided action %q", skill, task, first)
			}
			if skill == 1 && len(e.ExpertActions()) > 1 {
				// The expert switches to another path to 24.
				tr, err := agent.Rollout(ctx, e, p, task, 12, agent.ActOptions{N: 1, Greedy: true}, refl)
				if err != nil {
					t.Fatal(err)
				}
				if !tr.Success || tr.Steps[0].Action == first {
					t.Fatalf("task %d: reflected expert run %v", task, tr.Steps)
				}
			}
		}
	}
}

// TestGame24MistakeKinds: a weak policy makes every kind of mistake the error model names.
func TestGame24MistakeKinds(t *testing.T) {
	ctx := context.Background()
	e := g24Env(t)
	p := g24Policy(t, 0.3)
	rng := rand.New(rand.NewPCG(4, 4))
	seen := map[string]int{}
	for task := range 200 {
		tr, err := agent.Rollout(ctx, e, p, task*5, 12, agent.ActOptions{N: 1, Rand: rng}, nil)
		if err != nil {
			t.Fatal(err)
		}
		in, err := g24Input(tr.Instruction)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tr.Steps {
			switch {
			case strings.Contains(s.Observation, "is not among"):
				seen["hallucinated step"]++
			case strings.Contains(s.Observation, "Invalid step: expected"):
				seen["format step"]++
			case game24.IsAnswer(s.Action):
				var ae *game24.AnswerError
				if err := game24.CheckAnswer(in, s.Action); errors.As(err, &ae) {
					seen["answer "+ae.Kind]++
				}
			case strings.HasPrefix(s.Observation, "left: "):
				st, err := game24.ParseStep(s.Action)
				if err != nil {
					t.Fatalf("applied step %q does not parse: %v", s.Action, err)
				}
				if v, err := game24.Apply(st.X, st.Op, st.Y); err == nil && !v.Equal(st.Claim) {
					seen["wrong claim"]++
				}
			}
		}
	}
	for _, k := range []string{"hallucinated step", "format step", "wrong claim", "answer " + game24.FailFormat, "answer " + game24.FailNumbers, "answer " + game24.FailValue} {
		if seen[k] == 0 {
			t.Errorf("no %q in 200 weak rollouts (seen %v)", k, seen)
		}
	}
}

// expertTrajectory is a successful trajectory by the expert policy.
func expertTrajectory(t testing.TB, e *game24.Env, task int) dataset.Trajectory {
	t.Helper()
	tr, err := agent.Rollout(context.Background(), e, g24Policy(t, 1), task, 12, agent.ActOptions{N: 1, Greedy: true}, nil)
	if err != nil || !tr.Success {
		t.Fatalf("expert on task %d: %v, %v", task, err, tr)
	}
	tr.ID = "pos"
	return tr
}

func TestGame24Negative(t *testing.T) {
	ctx := context.Background()
	e := g24Env(t)
	rng := rand.New(rand.NewPCG(8, 8))
	weak := g24Policy(t, 0.5)
	var positives []dataset.Trajectory
	for task := 0; task < 1362; task += 23 {
		positives = append(positives, expertTrajectory(t, e, task))
	}
	// Successful runs of a weak policy carry invalid steps and wrong claims of their own.
	for task := 1; len(positives) < 90 && task < 1362; task += 17 {
		tr, err := agent.Rollout(ctx, e, weak, task, 12, agent.ActOptions{N: 1, Rand: rng}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Success {
			positives = append(positives, tr)
		}
	}
	// A direct answer with no steps, on a puzzle known only from its instruction.
	positives = append(positives, dataset.Trajectory{ID: "direct", Env: "game24", TaskID: "custom", Instruction: game24.Instruction([]int{4, 4, 6, 8}),
		Steps: []dataset.Step{{Action: "Answer: (6 - 4) * (4 + 8) = 24", Observation: game24.FinalObservation}}, EnvReward: 1, Success: true})
	counts := map[string]int{}
	for _, pos := range positives {
		in, err := g24Input(pos.Instruction)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range Game24NegativeKinds() {
			neg, err := Game24Negative(pos, kind, rng)
			if err != nil {
				t.Logf("%s from %s: %v", kind, pos.TaskID, err)
				continue
			}
			counts[kind]++
			if neg.EnvReward != 0 || neg.Success || neg.Instruction != pos.Instruction || neg.TaskID != pos.TaskID {
				t.Fatalf("%s negative of %s: %+v", kind, pos.TaskID, neg)
			}
			// Observations are the env's: replay the actions.
			r := g24Env(t)
			if _, err := r.ResetInput(ctx, in); err != nil {
				t.Fatal(err)
			}
			for k, s := range neg.Steps {
				res, err := r.Step(ctx, s.Action)
				if err != nil || res.Observation != s.Observation || res.Done != (k == len(neg.Steps)-1) {
					t.Fatalf("%s negative of %s: step %d %q replays as %q, %v", kind, pos.TaskID, k, s.Action, res.Observation, err)
				}
			}
			last := neg.Steps[len(neg.Steps)-1].Action
			var ae *game24.AnswerError
			if !errors.As(game24.CheckAnswer(in, last), &ae) {
				t.Fatalf("%s negative of %s: final answer %q not wrong", kind, pos.TaskID, last)
			}
			switch kind {
			case Game24Missing:
				if ae.Kind != game24.FailNumbers || len(mustAnswer(t, last).Leaves()) != len(in)-1 {
					t.Fatalf("missing-number negative answer %q (%v)", last, ae)
				}
			case Game24Format:
				if ae.Kind != game24.FailFormat {
					t.Fatalf("format negative answer %q (%v)", last, ae)
				}
			case Game24Hallucinated:
				invalid := slices.ContainsFunc(neg.Steps, func(s dataset.Step) bool { return strings.Contains(s.Observation, "is not among") })
				if ae.Kind != game24.FailNumbers && !invalid {
					t.Fatalf("hallucination negative with no foreign number: %v", neg.Steps)
				}
			case Game24Arithmetic:
				if ae.Kind == game24.FailFormat || (ae.Kind == game24.FailNumbers && len(mustAnswer(t, last).Leaves()) != len(in)) {
					t.Fatalf("arithmetic negative answer %q (%v)", last, ae)
				}
			}
		}
	}
	for _, kind := range Game24NegativeKinds() {
		if counts[kind] < len(positives)*3/4 {
			t.Errorf("kind %s: %d negatives from %d positives", kind, counts[kind], len(positives))
		}
	}

	// Bad inputs.
	pos := positives[0]
	if _, err := Game24Negative(pos, "typo", rng); err == nil {
		t.Fatal("unknown kind accepted")
	}
	failed := pos
	failed.Steps = slices.Clone(pos.Steps)
	failed.Steps[len(failed.Steps)-1].Action = "Answer: 1 + 1 = 24"
	if _, err := Game24Negative(failed, Game24Missing, rng); err == nil {
		t.Fatal("a failed trajectory accepted as positive")
	}
	other := pos
	other.Env = "shop"
	if _, err := Game24Negative(other, Game24Missing, rng); err == nil {
		t.Fatal("a shop trajectory accepted")
	}
}

func mustAnswer(t *testing.T, a string) *game24.Expr {
	t.Helper()
	e, err := game24.ParseAnswer(a)
	if err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	return e
}

func TestGame24Mistakes(t *testing.T) {
	ctx := context.Background()
	e := g24Env(t)
	rng := rand.New(rand.NewPCG(12, 12))
	for task := 0; task < 1362; task += 61 {
		pos := expertTrajectory(t, e, task)
		if got, err := Game24Mistakes(pos); err != nil || len(got) != 0 {
			t.Fatalf("expert run on task %d: mistakes %v, %v", task, got, err)
		}
		for _, kind := range Game24NegativeKinds() {
			neg, err := Game24Negative(pos, kind, rng)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Game24Mistakes(neg)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(got, kind) {
				t.Fatalf("%s negative of task %d classified %v: %v", kind, task, got, neg.Steps)
			}
		}
	}
	direct := dataset.Trajectory{Instruction: game24.Instruction([]int{4, 4, 6, 8}), Steps: []dataset.Step{{Action: "Answer: (6 + 4) * (4 + 8) = 24"}}}
	if got, err := Game24Mistakes(direct); err != nil || !slices.Equal(got, []string{Game24Arithmetic}) {
		t.Fatalf("direct wrong answer: %v, %v", got, err)
	}
	// Weak runs: every failure gets a label, honest dead ends among them.
	p := g24Policy(t, 0.3)
	labels := map[string]int{}
	for task := 900; task < 1000; task++ {
		tr, err := agent.Rollout(ctx, e, p, task, 12, agent.ActOptions{N: 1, Rand: rng}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Game24Mistakes(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !tr.Success && len(got) == 0 {
			t.Fatalf("failed run without a label: %v", tr.Steps)
		}
		for _, k := range got {
			labels[k]++
		}
	}
	if labels[Game24DeadEnd] == 0 {
		t.Fatalf("no dead ends among weak failures: %v", labels)
	}
	t.Logf("labels over 100 weak runs: %v", labels)
}

func BenchmarkGame24Rollout(b *testing.B) {
	ctx := context.Background()
	e := g24Env(b)
	p := g24Policy(b, 0.35)
	rng := rand.New(rand.NewPCG(1, 1))
	steps, task := 0, 0
	for b.Loop() {
		tr, err := agent.Rollout(ctx, e, p, 900+task%100, 12, agent.ActOptions{N: 1, Rand: rng}, nil)
		if err != nil {
			b.Fatal(err)
		}
		steps += len(tr.Steps)
		task++
	}
	b.ReportMetric(float64(task)/b.Elapsed().Seconds(), "rollouts/s")
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

func BenchmarkGame24Negative(b *testing.B) {
	e := g24Env(b)
	var pos []dataset.Trajectory
	for task := 900; task < 1000; task++ {
		tr, err := agent.Rollout(context.Background(), e, g24Policy(b, 1), task, 12, agent.ActOptions{N: 1, Greedy: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		pos = append(pos, tr)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	kinds := Game24NegativeKinds()
	i := 0
	for b.Loop() {
		if _, err := Game24Negative(pos[i%len(pos)], kinds[i%len(kinds)], rng); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "negatives/s")
}
