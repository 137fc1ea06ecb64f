package planner

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
)

// corridor is an env where "on" walks one room further (never ending the episode), "win" ends
// it with reward 1 and "lose" with 0: small enough to see every choice a search makes.
type corridor struct {
	room int
	done bool
}

type corridorState struct {
	room int
	done bool
}

func (e *corridor) Name() string  { return "corridor" }
func (e *corridor) NumTasks() int { return 1 }
func (e *corridor) Reset(context.Context, int) (env.Observation, error) {
	*e = corridor{}
	return env.Observation{TaskID: "corridor/0", Instruction: "get out", Text: "room 0"}, nil
}

func (e *corridor) Step(_ context.Context, a string) (env.StepResult, error) {
	if e.done {
		return env.StepResult{}, env.ErrDone
	}
	switch a {
	case "win":
		e.done = true
		return env.StepResult{Observation: "out", Reward: 1, Done: true}, nil
	case "lose":
		e.done = true
		return env.StepResult{Observation: "trapped", Done: true}, nil
	}
	e.room++
	return env.StepResult{Observation: "room " + strconv.Itoa(e.room)}, nil
}

func (e *corridor) Admissible() []string            { return []string{"on", "win", "lose"} }
func (e *corridor) Snapshot() (env.Snapshot, error) { return corridorState{e.room, e.done}, nil }
func (e *corridor) Close() error                    { return nil }
func (e *corridor) Restore(s env.Snapshot) error {
	st, ok := s.(corridorState)
	if !ok {
		return errors.New("corridor: not a corridor snapshot")
	}
	e.room, e.done = st.room, st.done
	return nil
}

// cycle proposes its actions in turn, as many as asked.
type cycle []string

func (c cycle) Name() string { return "cycle" }
func (c cycle) Act(_ context.Context, _ *agent.State, opt agent.ActOptions) ([]string, error) {
	out := make([]string, max(opt.N, 1))
	for i := range out {
		out[i] = c[i%len(c)]
	}
	return out, nil
}

// rmFunc scores with a function of the steps and counts its calls.
type rmFunc struct {
	f     func([]dataset.Step) float64
	calls atomic.Int64
}

func (r *rmFunc) Score(_ context.Context, _ string, steps []dataset.Step) (float64, error) {
	r.calls.Add(1)
	return r.f(steps), nil
}

func lastAction(steps []dataset.Step) string {
	if len(steps) == 0 {
		return ""
	}
	return steps[len(steps)-1].Action
}

// A finished success must stay an answer even when the reward model rates the partial
// trajectories beside it higher, or as high: beam search used to keep only the Beams best of
// everything and answer with an unfinished trajectory at MaxSteps.
func TestBeamKeepsFinishedTrajectories(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func([]dataset.Step) float64
	}{
		{"partials rated higher", func(s []dataset.Step) float64 {
			switch lastAction(s) {
			case "win":
				return 0.4
			case "lose":
				return -1
			}
			return 0.5
		}},
		{"all equal", func([]dataset.Step) float64 { return 0 }},
	} {
		cfg := DefaultConfig()
		cfg.MaxSteps = 3
		cfg.Beam = BeamConfig{Width: 2, Beams: 1, Expand: "policy"}
		p, err := New(&corridor{}, cycle{"on", "win"}, &rmFunc{f: c.f}, cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.Plan(context.Background(), Beam, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Success != 1 || lastAction(r.Trajectory.Steps) != "win" {
			t.Errorf("%s: answer %v (success %v) although a win was found", c.name, r.Trajectory.Steps, r.Success)
		}
	}
}

// With every trajectory rated by its length, MCTS would like to go deep: it must stop at
// MaxSteps, and score a node there once however often it is visited.
func TestMCTSStopsAtMaxSteps(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSteps = 2
	cfg.MCTS = MCTSConfig{Rollouts: 10, Horizon: 10, Candidates: 1, Exploration: 1, Gamma: 0.9}
	rm := &rmFunc{f: func(s []dataset.Step) float64 { return float64(len(s)) }}
	p, err := New(&corridor{}, cycle{"on"}, rm, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Plan(context.Background(), MCTS, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Trajectory.Steps) != cfg.MaxSteps {
		t.Errorf("answer has %d steps, want MaxSteps %d", len(r.Trajectory.Steps), cfg.MaxSteps)
	}
	// One action per node: the tree is a path of MaxSteps nodes below the root, and each
	// distinct trajectory is scored once.
	if n := rm.calls.Load(); n > int64(cfg.MaxSteps) {
		t.Errorf("%d reward-model calls for %d distinct trajectories", n, cfg.MaxSteps)
	}
}

// A shop page lists its buttons before "click[Buy Now]": with expand=admissible and a width
// below the number of admissible actions, the env's order alone never reaches the purchase.
func TestBeamAdmissibleBuysInShop(t *testing.T) {
	fx := fixtures(t, 8)[1]
	cfg := DefaultConfig()
	cfg.Beam = BeamConfig{Width: 5, Beams: 3, Expand: "admissible"}
	p := newPlanner(t, fx, newOracle(t, fx), cfg)
	won := 0.0
	for _, task := range fx.tasks {
		r, err := p.Plan(context.Background(), Beam, task)
		if err != nil {
			t.Fatal(err)
		}
		won += r.Success
	}
	if won < float64(len(fx.tasks))/2 {
		t.Errorf("beam over admissible actions with the oracle won %v of %d shop tasks", won, len(fx.tasks))
	}
}

// The oracle with a step budget values a trajectory that cannot end within it as a failure,
// instead of completing it with the expert beyond the budget.
func TestOracleHonoursMaxSteps(t *testing.T) {
	fx := fixtures(t, 1)[0]
	e := newEnv(t, fx.factory)
	obs, err := e.Reset(context.Background(), fx.tasks[0])
	if err != nil {
		t.Fatal(err)
	}
	// The expert's whole solution: its length is the least budget that lets it end.
	var solution []dataset.Step
	for {
		a, ok := e.(env.Expert).ExpertAction()
		if !ok {
			t.Fatal("game24's expert has no action")
		}
		solution = append(solution, dataset.Step{Action: a})
		res, err := e.Step(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			break
		}
	}
	n := len(solution)
	for _, c := range []struct {
		max  int
		want float64
	}{{0, 1}, {n, 1}, {n - 1, -1}} {
		o, err := NewOracle(context.Background(), fx.factory, fx.tasks, OracleOptions{MaxSteps: c.max})
		if err != nil {
			t.Fatal(err)
		}
		v, err := o.Score(context.Background(), obs.Instruction, solution[:1])
		o.Close()
		if err != nil || v != c.want {
			t.Errorf("MaxSteps %d: the first of %d expert steps valued %v (%v), want %v", c.max, n, v, err, c.want)
		}
	}
}

// Reward-model scores are fixed only up to a constant, so MCTS must search the same tree whatever
// the offset. Every rollout here ends in "lose", a little worse the deeper it is; discounting
// toward 0 made the deep branch look better when the scores were negative and worse when they
// were positive.
func TestMCTSIgnoresScoreOffset(t *testing.T) {
	var first []int
	for _, offset := range []float64{-10, 0, 10} {
		var lengths []int
		rm := &rmFunc{f: func(s []dataset.Step) float64 {
			lengths = append(lengths, len(s))
			return offset - 1 - 0.01*float64(len(s))
		}}
		cfg := DefaultConfig()
		cfg.MaxSteps = 12
		cfg.MCTS = MCTSConfig{Rollouts: 30, Horizon: 10, Candidates: 2, Exploration: 0.05, Gamma: 0.9}
		p, err := New(&corridor{}, cycle{"lose", "on"}, rm, cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Plan(context.Background(), MCTS, 0); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = lengths
			continue
		}
		if !slices.Equal(lengths, first) {
			t.Errorf("offset %v: scored trajectories of lengths %v, offset -10 scored %v", offset, lengths, first)
		}
	}
}

// mean discounts toward the baseline: equal values give the same mean at any depth, and with
// gamma 1 it is the plain average.
func TestMCTSMean(t *testing.T) {
	deep := &mnode{visits: 2, total: 2 * 0.729 * -3, weight: 2 * 0.729}
	shallow := &mnode{visits: 2, total: 2 * -3, weight: 2}
	if d, s := deep.mean(-3), shallow.mean(-3); math.Abs(d-s) > 1e-12 || math.Abs(d+3) > 1e-12 {
		t.Errorf("equal values at depths 3 and 0: means %v and %v, want -3 both", d, s)
	}
	flat := &mnode{visits: 3, total: 1 + 2 + 6, weight: 3}
	if m := flat.mean(-5); math.Abs(m-3) > 1e-12 {
		t.Errorf("gamma 1: mean %v, want 3", m)
	}
}
