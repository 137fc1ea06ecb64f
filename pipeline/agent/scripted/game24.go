package scripted

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env/game24"
)

// The kinds of Game of 24 mistakes, as ARMAP prompts an LLM to make them for negatives; they go
// into a triplet's meta.negative.
const (
	Game24Hallucinated = "hallucinated_number" // uses a number that is not available
	Game24Missing      = "missing_number"      // the answer leaves out an input number
	Game24Format       = "format_error"        // the step or answer is not in the required form
	Game24Arithmetic   = "wrong_arithmetic"    // claims a wrong result
)

// Game24NegativeKinds lists the kinds Game24Negative makes.
func Game24NegativeKinds() []string {
	return []string{Game24Hallucinated, Game24Missing, Game24Format, Game24Arithmetic}
}

// Game24 is the scripted stand-in for an LLM solving Game of 24 step by step, Tree of Thoughts
// style. In each state it builds a distribution over actions:
//
//   - the expert's steps (those from which 24 is still reachable), with weight growing with
//     skill;
//   - plausible but unguided valid steps, preferring whole, non-negative results and factors of
//     24, as people and LLMs do;
//   - mistakes: wrong arithmetic (claiming a wrong result, or claiming 24 from two numbers that
//     do not make it), hallucinated numbers (a step on a number that is not on the table) and
//     format errors; at the end, answers that leave out an input number, use a number that is not
//     an input, or break the `Answer: <expression> = 24` form.
//
// The distribution is a function of the state alone (its variants are drawn from a generator
// seeded by a hash of the instruction and the history), so greedy runs are reproducible and
// sampling only decides which entry is taken.
type Game24 struct {
	skill        float64
	expert       float64 // mass of the expert's steps, when there are any
	mistake      float64 // share of the remaining step mass that goes to mistakes
	answerSlip   float64 // chance that the final answer is botched although the steps reached 24
	fakeFinish   float64 // at a dead end with two numbers, chance of claiming 24 anyway
	maxVariants  int     // distinct variants drawn per mistake kind
	naturalBoost float64 // weight of a whole non-negative result against a fraction or negative
}

// NewGame24 makes the Game of 24 policy; skill is in [0, 1] (1 = the expert, never wrong).
func NewGame24(skill float64) (*Game24, error) {
	if math.IsNaN(skill) || skill < 0 || skill > 1 {
		return nil, fmt.Errorf("scripted game24: skill %v not in [0, 1]", skill)
	}
	u := 1 - skill
	return &Game24{
		skill:        skill,
		expert:       0.1 + 0.9*skill,
		mistake:      0.5,
		answerSlip:   0.3 * u,
		fakeFinish:   0.6 * u,
		maxVariants:  2,
		naturalBoost: 4,
	}, nil
}

// Name implements agent.Policy.
func (p *Game24) Name() string { return fmt.Sprintf("scripted-game24(skill=%.2f)", p.skill) }

var _ agent.Policy = (*Game24)(nil)

// Act implements agent.Policy. It reads State.Env when that is a game24 env positioned at the
// state; otherwise it rebuilds the state by replaying State.Steps on the instruction's input.
func (p *Game24) Act(ctx context.Context, st *agent.State, opt agent.ActOptions) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	view, ok := st.Env.(*game24.Env)
	if !ok || view.StepsTaken() != len(st.Steps) {
		var err error
		if view, err = g24Replay(ctx, st.Instruction, st.Steps); err != nil {
			return nil, fmt.Errorf("scripted game24: %w", err)
		}
	}
	if view.Done() {
		return nil, errors.New("scripted game24: the episode is over")
	}
	// The generator that drew the distribution's variants goes on to make greedy draws.
	build := agent.StateSeed{Salt: "game24\x00", Stream: 0x6a09e667f3bcc909}.Rand(st)
	cands := p.candidates(view, build)
	// A reflection's action is matched trimmed, as the env reads actions; when every candidate is
	// marked, another expert step stands in, then any admissible action.
	cands = avoid(cands, st, strings.TrimSpace, func() [][]string { return [][]string{view.ExpertActions(), view.Admissible()} })
	if len(cands) == 0 {
		return nil, errors.New("scripted game24: no candidate action")
	}
	return draw(cands, opt, func() *rand.Rand { return build }), nil
}

// plausibility is how readily a person or an LLM tries a step with result v.
func (p *Game24) plausibility(v game24.Number) float64 {
	w := 1.0
	if v.Sign() < 0 {
		w = 0.3
	}
	if v.IsInt() && v.Sign() >= 0 {
		w = p.naturalBoost
		if n := v.Num(); n > 0 && 24%n == 0 {
			w *= 1.5
		}
	}
	return w
}

func (p *Game24) candidates(v *game24.Env, rng *rand.Rand) []cand {
	nums := v.Numbers()
	var cs []cand
	if len(nums) == 1 {
		ans, _ := v.Answer()
		slip := p.answerSlip
		if !nums[0].Equal(game24.Int(24)) {
			// The answer is wrong whatever it says; an LLM still writes it down.
			slip = 0.5 * slip
		}
		cs = addCand(cs, ans, 1-slip)
		e, err := game24.ParseAnswer(ans)
		if err != nil || slip <= 0 {
			return cs
		}
		kinds := []struct {
			share float64
			make  func() (string, bool)
		}{
			{0.4, func() (string, bool) { return g24DropNumber(e, rng) }},
			{0.3, func() (string, bool) { return g24HallucinateAnswer(e, v.Input(), rng) }},
			{0.3, func() (string, bool) { return g24BreakAnswer(ans, rng) }},
		}
		for _, k := range kinds {
			cs = p.addVariants(cs, slip*k.share, k.make)
		}
		return cs
	}

	adm := v.Admissible()
	exp := v.ExpertActions()
	rest := 1.0
	if len(exp) > 0 {
		rest = 1 - p.expert
		cs = p.spreadSteps(cs, exp, p.expert)
	}
	var other []string
	for _, a := range adm {
		if !slices.Contains(exp, a) {
			other = append(other, a)
		}
	}
	mistakes := rest * p.mistake
	plain := rest - mistakes
	if len(exp) == 0 && len(nums) == 2 {
		// A dead end: LLMs tend to claim they reached 24 all the same.
		fake := plain * p.fakeFinish
		plain -= fake
		cs = p.addVariants(cs, fake, func() (string, bool) { return g24FakeFinish(nums, rng) })
	}
	if len(other) == 0 {
		other = adm
	}
	cs = p.spreadSteps(cs, other, plain)
	base := func() game24.Step {
		pool := adm
		if len(exp) > 0 && rng.IntN(2) == 0 {
			pool = exp
		}
		st, _ := game24.ParseStep(pool[rng.IntN(len(pool))])
		return st
	}
	cs = p.addVariants(cs, mistakes*0.35, func() (string, bool) { return g24WrongClaim(base(), rng) })
	cs = p.addVariants(cs, mistakes*0.35, func() (string, bool) { return g24HallucinateStep(base(), nums, v.Input(), rng) })
	cs = p.addVariants(cs, mistakes*0.30, func() (string, bool) { return g24BreakStep(base(), rng) })
	return cs
}

// spreadSteps shares w among step actions in proportion to their plausibility.
func (p *Game24) spreadSteps(cs []cand, actions []string, w float64) []cand {
	if w <= 0 || len(actions) == 0 {
		return cs
	}
	ws := make([]float64, len(actions))
	total := 0.0
	for i, a := range actions {
		ws[i] = 1
		if st, err := game24.ParseStep(a); err == nil {
			ws[i] = p.plausibility(st.Claim)
		}
		total += ws[i]
	}
	for i, a := range actions {
		cs = addCand(cs, a, w*ws[i]/total)
	}
	return cs
}

// addVariants draws up to maxVariants distinct variants of one mistake and shares w among them.
func (p *Game24) addVariants(cs []cand, w float64, mk func() (string, bool)) []cand {
	if w <= 0 {
		return cs
	}
	var vs []string
	for try := 0; try < 4*p.maxVariants && len(vs) < p.maxVariants; try++ {
		if a, ok := mk(); ok && !slices.Contains(vs, a) {
			vs = append(vs, a)
		}
	}
	for _, a := range vs {
		cs = addCand(cs, a, w/float64(len(vs)))
	}
	return cs
}

// g24Input reads the numbers from the instruction's last `Input:` line.
func g24Input(instruction string) ([]int, error) {
	i := strings.LastIndex(instruction, "Input:")
	if i < 0 {
		return nil, errors.New("instruction has no `Input:` line")
	}
	line, _, _ := strings.Cut(instruction[i+len("Input:"):], "\n")
	var nums []int
	for _, f := range strings.Fields(line) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("instruction input %q: %w", line, err)
		}
		nums = append(nums, n)
	}
	if len(nums) == 0 {
		return nil, errors.New("instruction's `Input:` line is empty")
	}
	return nums, nil
}

// g24Replay rebuilds the env state of a history on a private env.
func g24Replay(ctx context.Context, instruction string, steps []dataset.Step) (*game24.Env, error) {
	nums, err := g24Input(instruction)
	if err != nil {
		return nil, err
	}
	e, err := game24.New(game24.Options{MaxSteps: len(steps) + 64})
	if err != nil {
		return nil, err
	}
	if _, err := e.ResetInput(ctx, nums); err != nil {
		return nil, err
	}
	for i, s := range steps {
		if _, err := e.Step(ctx, s.Action); err != nil {
			return nil, fmt.Errorf("replay step %d %q: %w", i, s.Action, err)
		}
	}
	return e, nil
}

// ---- mistakes ----

// g24Claim writes a step with the given claim text and the left list the author believes in.
func g24Claim(st game24.Step, claim string, left []game24.Number) string {
	return fmt.Sprintf("%s %c %s = %s (left: %s)", st.X, st.Op, st.Y, claim, game24.FormatNumbers(left))
}

// g24Believed replaces one occurrence of old by v in left and keeps it sorted.
func g24Believed(left []game24.Number, old, v game24.Number) []game24.Number {
	out := make([]game24.Number, 0, len(left))
	replaced := false
	for _, x := range left {
		if !replaced && x.Equal(old) {
			replaced = true
			continue
		}
		out = append(out, x)
	}
	return g24Sorted(append(out, v))
}

func g24Sorted(v []game24.Number) []game24.Number {
	slices.SortStableFunc(v, func(a, b game24.Number) int {
		switch {
		case a.Less(b):
			return -1
		case b.Less(a):
			return 1
		}
		return 0
	})
	return v
}

// g24WrongValue returns a value an LLM might wrongly claim for x op y = v: off by one or two,
// another operation's result, or a fraction rounded to a whole number.
func g24WrongValue(st game24.Step, v game24.Number, rng *rand.Rand) (game24.Number, bool) {
	var opts []game24.Number
	for _, d := range []int64{-2, -1, 1, 2} {
		if w, err := v.Add(game24.Int(d)); err == nil {
			opts = append(opts, w)
		}
	}
	for _, op := range []byte("+-*/") {
		if w, err := game24.Apply(st.X, op, st.Y); err == nil && !w.Equal(v) {
			opts = append(opts, w)
		}
	}
	if !v.IsInt() {
		q := v.Num() / v.Den()
		opts = append(opts, game24.Int(q), game24.Int(q+1))
	}
	opts = slices.DeleteFunc(opts, func(w game24.Number) bool { return w.Equal(v) })
	if len(opts) == 0 {
		return game24.Number{}, false
	}
	return opts[rng.IntN(len(opts))], true
}

// g24WrongClaim turns a valid step into one that claims a wrong result (the left list follows
// the wrong belief).
func g24WrongClaim(st game24.Step, rng *rand.Rand) (string, bool) {
	if st.Op == 0 {
		return "", false
	}
	w, ok := g24WrongValue(st, st.Claim, rng)
	if !ok {
		return "", false
	}
	return g24Claim(st, w.String(), g24Believed(st.Left, st.Claim, w)), true
}

// g24Dist24 is how far v is from 24.
func g24Dist24(v game24.Number) float64 {
	return math.Abs(float64(v.Num())/float64(v.Den()) - 24)
}

// g24FakeFinish claims 24 from the last two numbers with the operation that comes closest.
func g24FakeFinish(nums []game24.Number, rng *rand.Rand) (string, bool) {
	if len(nums) != 2 {
		return "", false
	}
	type try struct {
		st   game24.Step
		dist float64
	}
	var tries []try
	for _, ord := range [][2]int{{0, 1}, {1, 0}} {
		x, y := nums[ord[0]], nums[ord[1]]
		for _, op := range []byte("+-*/") {
			v, err := game24.Apply(x, op, y)
			if err != nil || v.Equal(game24.Int(24)) {
				continue
			}
			tries = append(tries, try{game24.Step{X: x, Op: op, Y: y}, g24Dist24(v)})
		}
	}
	if len(tries) == 0 {
		return "", false
	}
	slices.SortStableFunc(tries, func(a, b try) int { return int(math.Copysign(1, a.dist-b.dist)) })
	k := 0
	if len(tries) > 1 && rng.IntN(3) == 0 {
		k = 1
	}
	return g24Claim(tries[k].st, "24", []game24.Number{game24.Int(24)}), true
}

// g24Phantom picks a number that is not on the table: an input already used up, or a neighbour
// of a number that is there.
func g24Phantom(nums []game24.Number, input []int, near game24.Number, rng *rand.Rand) (game24.Number, bool) {
	var opts []game24.Number
	has := func(x game24.Number) bool { return slices.ContainsFunc(nums, x.Equal) }
	for _, n := range input {
		if x := game24.Int(int64(n)); !has(x) {
			opts = append(opts, x)
		}
	}
	for _, d := range []int64{-1, 1, 2} {
		if x, err := near.Add(game24.Int(d)); err == nil && x.Sign() > 0 && !has(x) {
			opts = append(opts, x)
		}
	}
	if len(opts) == 0 {
		return game24.Number{}, false
	}
	return opts[rng.IntN(len(opts))], true
}

// g24HallucinateStep rewrites a step to use a number that is not on the table, computing the rest
// as if it were.
func g24HallucinateStep(st game24.Step, nums []game24.Number, input []int, rng *rand.Rand) (string, bool) {
	if st.Op == 0 {
		return "", false
	}
	first := rng.IntN(2) == 0
	old := st.Y
	if first {
		old = st.X
	}
	h, ok := g24Phantom(nums, input, old, rng)
	if !ok {
		return "", false
	}
	if first {
		st.X = h
	} else {
		st.Y = h
	}
	v, err := game24.Apply(st.X, st.Op, st.Y)
	if err != nil {
		return "", false
	}
	return g24Claim(st, v.String(), g24Believed(st.Left, st.Claim, v)), true
}

// g24BreakStep writes a valid step in a form the env cannot read.
func g24BreakStep(st game24.Step, rng *rand.Rand) (string, bool) {
	if st.Op == 0 {
		return "", false
	}
	s := st.String()
	words := map[byte]string{'+': "plus", '-': "minus", '*': "times", '/': "divided by"}
	var variants []string
	switch st.Op {
	case '*':
		variants = append(variants, strings.Replace(s, " * ", " x ", 1), strings.Replace(s, " * ", " × ", 1))
	case '/':
		variants = append(variants, strings.Replace(s, " / ", " ÷ ", 1))
	}
	lhs, _, _ := strings.Cut(s, " = ")
	variants = append(variants,
		lhs+" (left: "+game24.FormatNumbers(st.Left)+")",
		strings.TrimSuffix(s, ")"),
		fmt.Sprintf("%s %s %s equals %s (left: %s)", st.X, words[st.Op], st.Y, st.Claim, game24.FormatNumbers(st.Left)),
		"Next: "+s,
	)
	out := variants[rng.IntN(len(variants))]
	if _, err := game24.ParseStep(out); err == nil {
		return "", false
	}
	return out, true
}

// g24Leaves returns pointers to the leaves of e, left to right.
func g24Leaves(e *game24.Expr) []*game24.Expr {
	if e == nil {
		return nil
	}
	if e.IsLeaf() {
		return []*game24.Expr{e}
	}
	return append(g24Leaves(e.L), g24Leaves(e.R)...)
}

// g24Rewrite copies e with the leaf target replaced by repl; a nil repl removes the leaf, its
// parent node collapsing onto the sibling (a unary minus over it vanishes too).
func g24Rewrite(e, target, repl *game24.Expr) *game24.Expr {
	if e == nil {
		return nil
	}
	if e == target {
		return repl
	}
	if e.IsLeaf() {
		return e
	}
	l, r := g24Rewrite(e.L, target, repl), g24Rewrite(e.R, target, repl)
	switch {
	case e.Op == '~':
		if l == nil {
			return nil
		}
		return &game24.Expr{Op: '~', L: l}
	case l == nil:
		return r
	case r == nil:
		return l
	}
	return game24.Bin(e.Op, l, r)
}

// g24DropNumber writes the answer with one input number left out.
func g24DropNumber(e *game24.Expr, rng *rand.Rand) (string, bool) {
	ls := g24Leaves(e)
	if len(ls) < 2 {
		return "", false
	}
	out := g24Rewrite(e, ls[rng.IntN(len(ls))], nil)
	if out == nil {
		return "", false
	}
	return game24.FormatAnswer(out), true
}

// g24HallucinateAnswer writes the answer with one input number replaced by one that is not an
// input.
func g24HallucinateAnswer(e *game24.Expr, input []int, rng *rand.Rand) (string, bool) {
	ls := g24Leaves(e)
	if len(ls) == 0 {
		return "", false
	}
	leaf := ls[rng.IntN(len(ls))]
	var opts []int64
	for _, d := range []int64{-2, -1, 1, 2, 3} {
		n := leaf.Val.Num() + d
		if n > 0 && n <= 13 && !slices.Contains(input, int(n)) {
			opts = append(opts, n)
		}
	}
	if len(opts) == 0 {
		return "", false
	}
	return game24.FormatAnswer(g24Rewrite(e, leaf, game24.Leaf(game24.Int(opts[rng.IntN(len(opts))])))), true
}

// g24BreakAnswer writes an answer that is not in the `Answer: <expression> = 24` form.
func g24BreakAnswer(ans string, rng *rand.Rand) (string, bool) {
	body := strings.TrimSuffix(ans, " = 24")
	variants := []string{
		body,
		body + " = 24.",
		body + " is 24",
	}
	if strings.Contains(body, " * ") {
		variants = append(variants, strings.ReplaceAll(ans, " * ", " x "))
	}
	if strings.Contains(body, " / ") {
		variants = append(variants, strings.ReplaceAll(ans, " / ", " ÷ "))
	}
	if i := strings.LastIndexByte(ans, ')'); i >= 0 {
		variants = append(variants, ans[:i]+ans[i+1:])
	}
	out := variants[rng.IntN(len(variants))]
	var ae *game24.AnswerError
	if err := game24.CheckAnswer(nil, out); !errors.As(err, &ae) || ae.Kind != game24.FailFormat {
		return "", false
	}
	return out, true
}

// ---- negatives ----

// Game24Negative makes a failed trajectory of the given kind (one of Game24NegativeKinds) from a
// successful one, the way ARMAP has an LLM write wrong answers of known kinds. The changed
// actions are replayed in a fresh env, so every observation is one the env really gives; the
// result has env reward 0 or an error is returned. The puzzle comes from pos.TaskID
// ("game24/N") or else from the instruction's `Input:` line.
//
// What changes, by kind:
//   - hallucinated_number: a step uses a number that is not on the table and the steps after it
//     build on that belief, or the answer swaps an input number for another;
//   - missing_number: the answer leaves out one input number;
//   - format_error: the answer breaks the `Answer: <expression> = 24` form;
//   - wrong_arithmetic: the last step claims 24 with an operation that does not give it, or a
//     step claims a wrong result and the rest is planned from that belief, or (for an answer
//     without steps) an operation in the answer is changed.
func Game24Negative(pos dataset.Trajectory, kind string, rng *rand.Rand) (dataset.Trajectory, error) {
	if rng == nil {
		return dataset.Trajectory{}, errors.New("game24 negative: nil rng")
	}
	if pos.Env != "" && pos.Env != game24.Name {
		return dataset.Trajectory{}, fmt.Errorf("game24 negative: trajectory %q is from env %q", pos.ID, pos.Env)
	}
	if !slices.Contains(Game24NegativeKinds(), kind) {
		return dataset.Trajectory{}, fmt.Errorf("game24 negative: unknown kind %q (have %s)", kind, strings.Join(Game24NegativeKinds(), ", "))
	}
	g, err := newG24Replayer(pos)
	if err != nil {
		return dataset.Trajectory{}, fmt.Errorf("game24 negative of %q: %w", pos.ID, err)
	}
	orig := make([]string, len(pos.Steps))
	for i, s := range pos.Steps {
		orig[i] = s.Action
	}
	base, valid, err := g.run(orig)
	if err != nil {
		return dataset.Trajectory{}, fmt.Errorf("game24 negative of %q: %w", pos.ID, err)
	}
	if base.EnvReward < 1 {
		return dataset.Trajectory{}, fmt.Errorf("game24 negative of %q: not a successful trajectory (env reward %v)", pos.ID, base.EnvReward)
	}
	ans, err := game24.ParseAnswer(orig[len(orig)-1])
	if err != nil {
		return dataset.Trajectory{}, fmt.Errorf("game24 negative of %q: final answer: %w", pos.ID, err)
	}
	ch := &g24Chain{input: g.input, actions: orig, valid: valid}
	for attempt := 0; attempt < 24; attempt++ {
		acts, ok := ch.mutate(kind, ans, rng)
		if !ok {
			continue
		}
		tr, _, err := g.run(acts)
		if err != nil {
			return dataset.Trajectory{}, fmt.Errorf("game24 negative of %q: %w", pos.ID, err)
		}
		if tr.EnvReward < 1 {
			if pos.ID != "" {
				tr.ID = pos.ID + "/neg-" + kind
			}
			tr.Instruction = pos.Instruction
			return tr, nil
		}
	}
	return dataset.Trajectory{}, fmt.Errorf("game24 negative of %q: no %s variant of this trajectory fails", pos.ID, kind)
}

// g24Replayer replays action lists on a trajectory's puzzle.
type g24Replayer struct {
	pos   dataset.Trajectory
	task  int // -1: use input
	input []int
}

func newG24Replayer(pos dataset.Trajectory) (*g24Replayer, error) {
	if len(pos.Steps) == 0 {
		return nil, errors.New("no steps")
	}
	g := &g24Replayer{pos: pos, task: -1}
	if n, err := game24.ParseTaskID(pos.TaskID); err == nil {
		ps, err := game24.Puzzles()
		if err != nil {
			return nil, err
		}
		if n >= len(ps) {
			return nil, fmt.Errorf("task id %q out of range", pos.TaskID)
		}
		g.task, g.input = n, ps[n].Numbers[:]
		return g, nil
	}
	in, err := g24Input(pos.Instruction)
	if err != nil {
		return nil, fmt.Errorf("task id %q is not a game24 task and %w", pos.TaskID, err)
	}
	g.input = in
	return g, nil
}

// run plays actions in a fresh env; valid[i] reports whether action i was an applied step.
func (g *g24Replayer) run(actions []string) (dataset.Trajectory, []bool, error) {
	ctx := context.Background()
	e, err := game24.New(game24.Options{MaxSteps: len(actions) + 1})
	if err != nil {
		return dataset.Trajectory{}, nil, err
	}
	if g.task >= 0 {
		_, err = e.Reset(ctx, g.task)
	} else {
		_, err = e.ResetInput(ctx, g.input)
	}
	if err != nil {
		return dataset.Trajectory{}, nil, err
	}
	tr := dataset.Trajectory{Env: game24.Name, TaskID: g.pos.TaskID, Instruction: g.pos.Instruction}
	valid := make([]bool, len(actions))
	for i, a := range actions {
		n := len(e.Numbers())
		res, err := e.Step(ctx, a)
		if err != nil {
			return tr, nil, fmt.Errorf("replay action %d %q: %w", i, a, err)
		}
		valid[i] = !game24.IsAnswer(a) && len(e.Numbers()) == n-1
		tr.Steps = append(tr.Steps, dataset.Step{Action: a, Observation: res.Observation})
		if res.Done {
			tr.EnvReward = res.Reward
			tr.Success = res.Reward >= 1
			if i != len(actions)-1 {
				return tr, nil, fmt.Errorf("replay: episode ended at action %d of %d", i+1, len(actions))
			}
		}
	}
	return tr, valid, nil
}

// g24Chain is a trajectory read as the chain of beliefs behind it.
type g24Chain struct {
	input   []int
	actions []string
	valid   []bool
}

// g24Item is a number as it is (orig) and as the author believes it is (bel), with the
// expression of inputs it was built from.
type g24Item struct {
	orig, bel game24.Number
	expr      *game24.Expr
	input     bool
}

func (c *g24Chain) mutate(kind string, ans *game24.Expr, rng *rand.Rand) ([]string, bool) {
	last := len(c.actions) - 1
	withAnswer := func(a string, ok bool) ([]string, bool) {
		if !ok {
			return nil, false
		}
		out := slices.Clone(c.actions)
		out[last] = a
		return out, true
	}
	var steps []int
	for i, v := range c.valid {
		if v {
			steps = append(steps, i)
		}
	}
	switch kind {
	case Game24Missing:
		return withAnswer(g24DropNumber(ans, rng))
	case Game24Format:
		return withAnswer(g24BreakAnswer(game24.FormatAnswer(ans), rng))
	case Game24Hallucinated:
		if len(steps) > 0 && rng.IntN(3) > 0 {
			return c.rechain(steps[rng.IntN(len(steps))], "hallucinate", rng)
		}
		return withAnswer(g24HallucinateAnswer(ans, c.input, rng))
	case Game24Arithmetic:
		if len(steps) == 0 {
			return withAnswer(g24WrongOp(ans, rng))
		}
		final := steps[len(steps)-1]
		if len(steps) > 1 && rng.IntN(2) == 0 {
			return c.rechain(steps[rng.IntN(len(steps)-1)], "wrong", rng)
		}
		return c.rechain(final, "fakeop", rng)
	}
	return nil, false
}

// rechain rewrites the trajectory with a mistake at action k and the beliefs that follow:
//   - "hallucinate": an input operand of step k becomes a number not on the table;
//   - "wrong": step k claims a wrong result, and the rest is a plan from the believed numbers;
//   - "fakeop": step k (the last) uses another operation yet still claims 24.
//
// Later steps are written from the believed numbers, and the answer is the expression the author
// thinks it built.
func (c *g24Chain) rechain(k int, mode string, rng *rand.Rand) ([]string, bool) {
	var items []g24Item
	for _, n := range c.input {
		v := game24.Int(int64(n))
		items = append(items, g24Item{orig: v, bel: v, expr: game24.Leaf(v), input: true})
	}
	bels := func() []game24.Number {
		v := make([]game24.Number, len(items))
		for i, it := range items {
			v[i] = it.bel
		}
		return g24Sorted(v)
	}
	find := func(x game24.Number, skip int, byBel bool) int {
		for i, it := range items {
			if i != skip && ((byBel && it.bel.Equal(x)) || (!byBel && it.orig.Equal(x))) {
				return i
			}
		}
		return -1
	}
	combine := func(xi, yi int, it g24Item) {
		var next []g24Item
		for i, x := range items {
			if i != xi && i != yi {
				next = append(next, x)
			}
		}
		items = append(next, it)
	}
	var out []string
	last := len(c.actions) - 1
	for i, a := range c.actions[:last] {
		if !c.valid[i] {
			out = append(out, a)
			continue
		}
		st, err := game24.ParseStep(a)
		if err != nil {
			return nil, false
		}
		xi := find(st.X, -1, false)
		yi := find(st.Y, xi, false)
		if xi < 0 || yi < 0 {
			return nil, false
		}
		x, y := items[xi], items[yi]
		trueZ, err := game24.Apply(x.orig, st.Op, y.orig)
		if err != nil {
			return nil, false
		}
		op := st.Op
		if i == k && mode == "hallucinate" {
			var pick *g24Item
			switch {
			case x.input && (!y.input || rng.IntN(2) == 0):
				pick = &x
			case y.input:
				pick = &y
			default:
				return nil, false
			}
			h, ok := g24Phantom(bels(), c.input, pick.bel, rng)
			if !ok {
				return nil, false
			}
			pick.bel, pick.expr = h, game24.Leaf(h)
		}
		if i == k && mode == "fakeop" {
			var ops []byte
			for _, o := range []byte("+-*/") {
				if v, err := game24.Apply(x.bel, o, y.bel); err == nil && o != op && !v.Equal(game24.Int(24)) {
					ops = append(ops, o)
				}
			}
			if len(ops) == 0 {
				return nil, false
			}
			// Mostly the operation that comes closest to 24: the subtler slip.
			op = ops[rng.IntN(len(ops))]
			if rng.IntN(3) > 0 {
				best := math.Inf(1)
				for _, o := range ops {
					v, _ := game24.Apply(x.bel, o, y.bel)
					if d := g24Dist24(v); d < best {
						best, op = d, o
					}
				}
			}
		}
		bz, err := game24.Apply(x.bel, op, y.bel)
		if err != nil {
			return nil, false
		}
		switch {
		case i == k && mode == "fakeop":
			bz = game24.Int(24)
		case i == k && mode == "wrong":
			w, ok := g24WrongValue(game24.Step{X: x.bel, Op: op, Y: y.bel}, bz, rng)
			if !ok {
				return nil, false
			}
			bz = w
		}
		combine(xi, yi, g24Item{orig: trueZ, bel: bz, expr: game24.Bin(op, x.expr, y.expr)})
		out = append(out, g24Claim(game24.Step{X: x.bel, Op: op, Y: y.bel}, bz.String(), bels()))
		if i == k && mode == "wrong" {
			path, ok := game24.SolvePath(bels())
			if !ok {
				return nil, false
			}
			for _, ps := range path {
				xi := find(ps.X, -1, true)
				yi := find(ps.Y, xi, true)
				if xi < 0 || yi < 0 {
					return nil, false
				}
				x, y := items[xi], items[yi]
				combine(xi, yi, g24Item{bel: ps.Claim, expr: game24.Bin(ps.Op, x.expr, y.expr)})
				out = append(out, ps.String())
			}
			break
		}
	}
	if len(items) != 1 {
		return nil, false
	}
	return append(out, game24.FormatAnswer(items[0].expr)), true
}

// g24WrongOp changes one operation of the answer so that it no longer makes 24.
func g24WrongOp(e *game24.Expr, rng *rand.Rand) (string, bool) {
	var nodes []*game24.Expr
	var walk func(*game24.Expr)
	walk = func(x *game24.Expr) {
		if x == nil || x.IsLeaf() {
			return
		}
		if x.Op != '~' {
			nodes = append(nodes, x)
		}
		walk(x.L)
		walk(x.R)
	}
	walk(e)
	if len(nodes) == 0 {
		return "", false
	}
	n := nodes[rng.IntN(len(nodes))]
	ops := slices.DeleteFunc([]byte("+-*/"), func(o byte) bool { return o == n.Op })
	repl := game24.Bin(ops[rng.IntN(len(ops))], n.L, n.R)
	out := g24Swap(e, n, repl)
	if v, err := out.Eval(); err != nil || v.Equal(game24.Int(24)) {
		return "", false
	}
	return game24.FormatAnswer(out), true
}

// g24Swap copies e with node target replaced by repl.
func g24Swap(e, target, repl *game24.Expr) *game24.Expr {
	if e == target {
		return repl
	}
	if e == nil || e.IsLeaf() {
		return e
	}
	return &game24.Expr{Op: e.Op, L: g24Swap(e.L, target, repl), R: g24Swap(e.R, target, repl)}
}

// Game24DeadEnd labels a failure with no mistake of the four kinds: valid steps that lead away
// from 24, answered honestly.
const Game24DeadEnd = "dead_end"

// Game24Mistakes names the mistakes in a Game of 24 trajectory, for meta.negative of negatives
// taken from a weak policy's runs: the Game24NegativeKinds it shows (in that order), Game24DeadEnd
// for a failure with none of them, and nothing for a clean success. A run that never answers
// counts as a format error. It replays the actions, so it does not trust the recorded
// observations.
func Game24Mistakes(tr dataset.Trajectory) ([]string, error) {
	g, err := newG24Replayer(tr)
	if err != nil {
		return nil, fmt.Errorf("game24 mistakes of %q: %w", tr.ID, err)
	}
	ctx := context.Background()
	e, err := game24.New(game24.Options{MaxSteps: len(tr.Steps) + 1})
	if err != nil {
		return nil, err
	}
	if g.task >= 0 {
		_, err = e.Reset(ctx, g.task)
	} else {
		_, err = e.ResetInput(ctx, g.input)
	}
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	answered, success := false, false
	for i, s := range tr.Steps {
		if e.Done() {
			return nil, fmt.Errorf("game24 mistakes of %q: action %d after the episode ended", tr.ID, i)
		}
		before := e.Numbers()
		built, _ := e.Answer()
		res, err := e.Step(ctx, s.Action)
		if err != nil {
			return nil, fmt.Errorf("game24 mistakes of %q: action %d: %w", tr.ID, i, err)
		}
		if game24.IsAnswer(s.Action) {
			answered, success = true, res.Reward >= 1
			var ae *game24.AnswerError
			if errors.As(game24.CheckAnswer(g.input, s.Action), &ae) {
				switch ae.Kind {
				case game24.FailFormat:
					found[Game24Format] = true
				case game24.FailNumbers:
					ex, _ := game24.ParseAnswer(s.Action)
					// A literal that is not an input (or an input used too often) is a hallucinated
					// number; fewer literals than inputs means one was left out.
					if g24Foreign(ex.Leaves(), g.input) {
						found[Game24Hallucinated] = true
					}
					if len(ex.Leaves()) < len(g.input) {
						found[Game24Missing] = true
					}
				case game24.FailValue:
					// Writing down the expression the steps built is an honest dead end; any other
					// expression that is not 24 is a false claim of 24.
					ex, _ := game24.ParseAnswer(s.Action)
					if built != game24.FormatAnswer(ex) {
						found[Game24Arithmetic] = true
					}
				}
			}
			continue
		}
		st, err := game24.ParseStep(s.Action)
		switch {
		case err != nil:
			found[Game24Format] = true
		case len(e.Numbers()) == len(before):
			// Well formed but not applied: a division by zero, or an operand that is not on the
			// table (or is there once and used twice).
			if strings.Contains(res.Observation, "division by zero") {
				found[Game24Arithmetic] = true
			} else {
				found[Game24Hallucinated] = true
			}
		default:
			if v, err := game24.Apply(st.X, st.Op, st.Y); err == nil && !v.Equal(st.Claim) {
				found[Game24Arithmetic] = true
			}
		}
	}
	if !answered {
		found[Game24Format] = true
	}
	var out []string
	for _, k := range Game24NegativeKinds() {
		if found[k] {
			out = append(out, k)
		}
	}
	if len(out) == 0 && !success {
		out = append(out, Game24DeadEnd)
	}
	return out, nil
}

// g24Foreign reports whether used holds a number that is not an input, counting multiplicity.
func g24Foreign(used []game24.Number, input []int) bool {
	left := slices.Clone(input)
	for _, u := range used {
		k := slices.IndexFunc(left, func(n int) bool { return u.Equal(game24.Int(int64(n))) })
		if k < 0 {
			return true
		}
		left = slices.Delete(left, k, k+1)
	}
	return false
}
