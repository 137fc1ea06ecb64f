package planner

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
)

func TestBoughtPrice(t *testing.T) {
	item := "[Back to Search]\n[< Prev]\nsize [s] [m]\nSoft cotton t-shirt\nPrice: $19.99\nRating: N.A.\n[Buy Now]"
	results := "[Back to Search]\nPage 1 (Total results: 2)\n[B0001]\nShirt\n$5.00\n[B0002]\nShirt\n$7.50"
	for _, tc := range []struct {
		name  string
		steps []dataset.Step
		want  float64
		ok    bool
	}{
		{"bought after an option", []dataset.Step{st("search[shirt]", results), st("click[B0001]", item),
			st("click[m]", "You have clicked m."), st("click[Buy Now]", "Thank you for shopping with us!")}, 19.99, true},
		{"last item page before the purchase wins", []dataset.Step{st("click[B0002]", "Price: $7.50"),
			st("click[< prev]", results), st("click[B0001]", item), st("click[buy now]", "Thank you")}, 19.99, true},
		{"result-page prices are not a purchase", []dataset.Step{st("search[shirt]", results), st("click[buy now]", "?")}, 0, false},
		{"nothing bought", []dataset.Step{st("search[shirt]", results), st("click[B0001]", item)}, 0, false},
		{"thousands separator", []dataset.Step{st("click[B1]", "Price: $1,299.00"), st("click[buy now]", "")}, 1299, true},
		{"a range is priced by its lower end", []dataset.Step{st("click[B1]", "Price: $10.00 to $12.00"), st("click[buy now]", "")}, 10, true},
	} {
		got, ok := BoughtPrice(tc.steps)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTargetValue(t *testing.T) {
	tr := dataset.Trajectory{Steps: []dataset.Step{st("click[B1]", "Price: $20.00"), st("click[buy now]", "Thank you")}}
	for _, tc := range []struct {
		tg   Target
		want float64
	}{
		{Target{}, 1},
		{Target{Steps: 0.1}, 0.8},
		{Target{Price: 0.01}, 0.8},
		{Target{Steps: 0.1, Price: 0.01}, 0.6},
	} {
		if got := tc.tg.Value(1, tr); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%+v: %v, want %v", tc.tg, got, tc.want)
		}
	}
}

// Controllable generation: the same planner and reward model, steered by the target, must buy
// cheaper or act shorter on average than with the plain score.
func TestTargetsSteerThePlanners(t *testing.T) {
	fx := fixtures(t, 20)[1]
	rm := newOracle(t, fx)
	type agg struct{ steps, price, success float64 }
	run := func(method string, tg Target) agg {
		cfg := DefaultConfig()
		cfg.Target = tg
		p := newPlanner(t, fx, rm, cfg)
		var a agg
		n := float64(len(fx.tasks))
		for _, task := range fx.tasks {
			r, err := p.Plan(context.Background(), method, task)
			if err != nil {
				t.Fatal(err)
			}
			pr, _ := BoughtPrice(r.Trajectory.Steps)
			a.steps += float64(len(r.Trajectory.Steps)) / n
			a.price += pr / n
			a.success += r.Success / n
		}
		return a
	}
	for _, m := range []string{BestOfN, MCTS} {
		plain := run(m, Target{})
		short := run(m, Target{Steps: 0.05})
		cheap := run(m, Target{Price: 0.02})
		t.Logf("%s plain %+v, steps target %+v, price target %+v", m, plain, short, cheap)
		if short.steps >= plain.steps {
			t.Errorf("%s: steps target gives %.2f steps, plain %.2f", m, short.steps, plain.steps)
		}
		if cheap.price >= plain.price {
			t.Errorf("%s: price target pays %.2f, plain %.2f", m, cheap.price, plain.price)
		}
	}
}

func TestOracle(t *testing.T) {
	ctx := context.Background()
	for _, fx := range fixtures(t, 3) {
		o := newOracle(t, fx)
		fin, err := NewOracle(ctx, fx.factory, fx.tasks, OracleOptions{FinalOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if !o.Completes() || fin.Completes() {
			t.Errorf("%s: Completes %v and %v (FinalOnly), want true and false", fx.name, o.Completes(), fin.Completes())
		}
		e := newEnv(t, fx.factory)
		for _, task := range fx.tasks {
			// The expert's episode succeeds: 1; so does any prefix of it (the expert can finish).
			obs, _ := e.Reset(ctx, task)
			var steps []dataset.Step
			for {
				a, ok := e.(env.Expert).ExpertAction()
				if !ok {
					t.Fatalf("%s task %d: expert stuck", fx.name, task)
				}
				res, err := e.Step(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				steps = append(steps, dataset.Step{Action: a, Observation: res.Observation})
				if res.Done {
					break
				}
			}
			for k := 0; k <= len(steps); k++ {
				if v, err := o.Score(ctx, obs.Instruction, steps[:k]); err != nil || v != 1 {
					t.Errorf("%s task %d: expert prefix %d scored %v, %v", fx.name, task, k, v, err)
				}
			}
			if v, _ := fin.Score(ctx, obs.Instruction, steps[:1]); v != -1 {
				t.Errorf("%s task %d: FinalOnly scored an unfinished prefix %v", fx.name, task, v)
			}
			// A weak policy's failures score below 0, by how much reward they got.
			pol := newPlanner(t, fx, o, DefaultConfig()).policy
			for i := range uint64(8) {
				tr, err := agent.Rollout(ctx, e, pol, task, 30, agent.ActOptions{N: 1, Rand: newRand(i)}, nil)
				if err != nil {
					t.Fatal(err)
				}
				v, err := o.Score(ctx, obs.Instruction, tr.Steps)
				want := tr.EnvReward - 1
				if tr.Success {
					want = 1
				}
				if err != nil || v != want {
					t.Errorf("%s task %d: run with reward %v scored %v, want %v (%v)", fx.name, task, tr.EnvReward, v, want, err)
				}
			}
		}
		if _, err := o.Score(ctx, "an instruction of no task", nil); !errors.Is(err, ErrUnknownTask) {
			t.Errorf("unknown instruction: %v", err)
		}
		fin.Close()
	}
}

func TestRandomRM(t *testing.T) {
	ctx := context.Background()
	steps := []dataset.Step{st("a", "b")}
	a, _ := RandomRM{Seed: 1}.Score(ctx, "x", steps)
	b, _ := RandomRM{Seed: 1}.Score(ctx, "x", steps)
	c, _ := RandomRM{Seed: 2}.Score(ctx, "x", steps)
	if a != b || a == c || a < -1 || a >= 1 {
		t.Errorf("scores %v %v %v", a, b, c)
	}
	// Spread over [-1, 1): the mean of many is near 0.
	sum := 0.0
	for i := range 2000 {
		v, _ := RandomRM{Seed: uint64(i)}.Score(ctx, "x", steps)
		sum += v
	}
	if m := sum / 2000; math.Abs(m) > 0.05 {
		t.Errorf("mean random score %v", m)
	}
}

func newRand(i uint64) *rand.Rand { return rand.New(rand.NewPCG(i, 99)) }

func st(action, obs string) dataset.Step { return dataset.Step{Action: action, Observation: obs} }

// constRM gives every trajectory the same score.
type constRM float64

func (c constRM) Score(context.Context, string, []dataset.Step) (float64, error) {
	return float64(c), nil
}

// A reward model that answers with a non-finite score is an error for every method, not a
// crash (MCTS) or a silent -Inf answer.
func TestNonFiniteScoreIsAnError(t *testing.T) {
	fx := fixtures(t, 1)[0]
	for _, v := range []float64{math.Inf(-1), math.Inf(1), math.NaN()} {
		for _, m := range []string{BestOfN, MCTS, Beam, Reflexion} {
			p := newPlanner(t, fx, constRM(v), DefaultConfig())
			if _, err := p.Plan(context.Background(), m, fx.tasks[0]); err == nil || !strings.Contains(err.Error(), "non-finite") {
				t.Errorf("%s with score %v: %v", m, v, err)
			}
		}
	}
}
