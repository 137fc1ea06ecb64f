package planner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/armap/armap/pipeline/agent"
	llmpolicy "github.com/armap/armap/pipeline/agent/llm"
	"github.com/armap/armap/pipeline/agent/scripted"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/game24"
	"github.com/armap/armap/pipeline/env/shop"
	"github.com/armap/armap/pipeline/llm"
)

const weakSkill = 0.35

var shopFactory = sync.OnceValues(func() (env.Factory, error) { return shop.NewFactory(shop.Config{}) })

// fixture is one environment the tests plan in.
type fixture struct {
	name    string
	factory env.Factory
	tasks   []int
}

func fixtures(t testing.TB, n int) []fixture {
	t.Helper()
	sf, err := shopFactory()
	if err != nil {
		t.Fatal(err)
	}
	span := func(lo int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = lo + i
		}
		return out
	}
	// game24 from its test split (ranks 901+), shop from its test tasks.
	return []fixture{
		{"game24", game24.NewFactory(game24.Options{}), span(900)},
		{"shop", sf, span(0)},
	}
}

func newEnv(t testing.TB, f env.Factory) env.Env {
	t.Helper()
	e, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newOracle(t testing.TB, fx fixture) *Oracle {
	t.Helper()
	o, err := NewOracle(context.Background(), fx.factory, fx.tasks, OracleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func newPlanner(t testing.TB, fx fixture, rm RewardModel, cfg Config) *Planner {
	t.Helper()
	pol, err := scripted.New(fx.name, weakSkill)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(newEnv(t, fx.factory), pol, rm, cfg, Options{Factory: fx.factory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// successRates runs every method on the fixture's tasks and returns the mean success per method.
func successRates(t *testing.T, fx fixture, rm RewardModel, cfg Config) map[string]float64 {
	t.Helper()
	p := newPlanner(t, fx, rm, cfg)
	out := map[string]float64{}
	for _, m := range Methods() {
		for _, task := range fx.tasks {
			r, err := p.Plan(context.Background(), m, task)
			if err != nil {
				t.Fatalf("%s %s task %d: %v", fx.name, m, task, err)
			}
			out[m] += r.Success / float64(len(fx.tasks))
		}
	}
	return out
}

// With a reward model that really knows good from bad trajectories, every RM-based planner must
// do clearly better than the policy's own samples; with one that scores at random none may.
func TestPlannersBeatSamplingWithARealRewardModel(t *testing.T) {
	for _, fx := range fixtures(t, 20) {
		t.Run(fx.name, func(t *testing.T) {
			oracle := successRates(t, fx, newOracle(t, fx), DefaultConfig())
			t.Logf("oracle RM: %v", oracle)
			base := oracle[Sampling]
			if base > 0.5 {
				t.Fatalf("sampling succeeds %.2f: the policy is not weak, the test shows nothing", base)
			}
			for _, m := range []string{BestOfN, MCTS, Beam, Reflexion} {
				if oracle[m] < base+0.2 {
					t.Errorf("%s with the oracle RM: success %.2f, sampling %.2f; want at least +0.20", m, oracle[m], base)
				}
			}
			// The random RM runs on the same seeds, so the comparison with sampling is paired;
			// averaging three RM seeds keeps one lucky draw from deciding.
			rnd := map[string]float64{}
			for seed := range uint64(3) {
				for m, v := range successRates(t, fx, RandomRM{Seed: seed + 1}, DefaultConfig()) {
					rnd[m] += v / 3
				}
			}
			t.Logf("random RM: %v", rnd)
			for _, m := range []string{BestOfN, MCTS, Beam, Reflexion} {
				if rnd[m] > base+0.1 {
					t.Errorf("%s with a random RM: success %.2f, sampling %.2f; a random RM must not help", m, rnd[m], base)
				}
			}
		})
	}
}

// replay plays tr's actions in a fresh env.
func replay(t *testing.T, f env.Factory, task int, tr dataset.Trajectory) (env.Env, []dataset.Step, env.StepResult) {
	t.Helper()
	e := newEnv(t, f)
	if _, err := e.Reset(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	var steps []dataset.Step
	var last env.StepResult
	for _, s := range tr.Steps {
		res, err := e.Step(context.Background(), s.Action)
		if err != nil {
			t.Fatalf("replay %q: %v", s.Action, err)
		}
		steps = append(steps, dataset.Step{Action: s.Action, Observation: res.Observation})
		last = res
	}
	return e, steps, last
}

// The search moves one env back and forth with Snapshot/Restore. What it reports must be what a
// plain replay of the answer gives, and the env must be left where that replay ends.
func TestAnswerMatchesReplay(t *testing.T) {
	for _, fx := range fixtures(t, 3) {
		p := newPlanner(t, fx, newOracle(t, fx), DefaultConfig())
		for _, m := range Methods() {
			for _, task := range fx.tasks {
				r, err := p.Plan(context.Background(), m, task)
				if err != nil {
					t.Fatal(err)
				}
				tr := r.Trajectory
				fresh, steps, last := replay(t, fx.factory, task, tr)
				name := fmt.Sprintf("%s %s task %d", fx.name, m, task)
				if !reflect.DeepEqual(steps, tr.Steps) {
					t.Errorf("%s: the answer's observations differ from a replay", name)
				}
				if !last.Done && len(tr.Steps) < p.Config().MaxSteps {
					t.Errorf("%s: the answer ends before the episode does", name)
				}
				if last.Reward != tr.EnvReward || (last.Reward >= 1) != tr.Success {
					t.Errorf("%s: answer reward %v success %v, replay reward %v", name, tr.EnvReward, tr.Success, last.Reward)
				}
				if m != Sampling && (r.EnvReward != tr.EnvReward || r.Success != b2f(tr.Success)) {
					t.Errorf("%s: result reward %v success %v, trajectory %v %v", name, r.EnvReward, r.Success, tr.EnvReward, tr.Success)
				}
				want, _ := fresh.Snapshot()
				got, _ := p.env.Snapshot()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: env state after planning differs from the replay's", name)
				}
				if r.Scored {
					if s, _ := p.rm.Score(context.Background(), tr.Instruction, tr.Steps); s != r.Score {
						t.Errorf("%s: reported score %v, rescored %v", name, r.Score, s)
					}
				}
			}
		}
	}
}

// countingRM counts the calls that reach the reward model.
type countingRM struct {
	RewardModel
	n atomic.Int64
}

func (c *countingRM) Score(ctx context.Context, instr string, steps []dataset.Step) (float64, error) {
	c.n.Add(1)
	return c.RewardModel.Score(ctx, instr, steps)
}

func TestCounters(t *testing.T) {
	fx := fixtures(t, 2)[1] // shop
	rm := &countingRM{RewardModel: newOracle(t, fx)}
	cfg := DefaultConfig()
	cfg.N = 6
	p := newPlanner(t, fx, rm, cfg)
	for _, m := range Methods() {
		for _, task := range fx.tasks {
			before := rm.n.Load()
			r, err := p.Plan(context.Background(), m, task)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%s task %d", m, task)
			if got := rm.n.Load() - before; got != r.RMCalls {
				t.Errorf("%s: reported %d RM calls, the RM saw %d", name, r.RMCalls, got)
			}
			if r.Wall <= 0 || r.EnvSteps < int64(len(r.Trajectory.Steps)) || r.PolicyCalls == 0 {
				t.Errorf("%s: counters %+v for a %d-step answer", name, r.Counters, len(r.Trajectory.Steps))
			}
			switch m {
			case Greedy:
				if r.RMCalls != 0 || r.Rollouts != 1 || r.EnvSteps != int64(len(r.Trajectory.Steps)) || r.PolicyCalls != r.EnvSteps {
					t.Errorf("%s: counters %+v", name, r.Counters)
				}
			case Sampling:
				if r.RMCalls != 0 || r.Rollouts != cfg.N || r.PolicyCalls != r.EnvSteps {
					t.Errorf("%s: counters %+v", name, r.Counters)
				}
			case BestOfN:
				if r.RMCalls != int64(cfg.N) || r.Rollouts != cfg.N {
					t.Errorf("%s: counters %+v", name, r.Counters)
				}
			case MCTS:
				if r.Rollouts != cfg.MCTS.Rollouts || r.RMCalls < 1 || r.RMCalls > int64(cfg.MCTS.Rollouts) {
					t.Errorf("%s: counters %+v", name, r.Counters)
				}
			case Reflexion:
				if r.Attempts < 1 || r.Attempts > cfg.Reflexion.Attempts || r.RMCalls < int64(r.Attempts) {
					t.Errorf("%s: %d attempts, counters %+v", name, r.Attempts, r.Counters)
				}
			}
			if UsesRM(m) && !r.Scored {
				t.Errorf("%s: answer not scored", name)
			}
		}
	}
}

func TestDeterministicPerSeed(t *testing.T) {
	for _, fx := range fixtures(t, 2) {
		rm := newOracle(t, fx)
		cfg := DefaultConfig()
		cfg.Seed = 7
		a := newPlanner(t, fx, rm, cfg)
		b := newPlanner(t, fx, rm, cfg)
		cfg.Parallel = 3 // concurrent generation must not change what is generated
		par := newPlanner(t, fx, rm, cfg)
		cfg.Parallel, cfg.Seed = 1, 8
		other := newPlanner(t, fx, rm, cfg)
		differs := 0
		for _, m := range Methods() {
			for _, task := range fx.tasks {
				ra, err1 := a.Plan(context.Background(), m, task)
				rb, err2 := b.Plan(context.Background(), m, task)
				rp, err3 := par.Plan(context.Background(), m, task)
				ro, err4 := other.Plan(context.Background(), m, task)
				if err := errors.Join(err1, err2, err3, err4); err != nil {
					t.Fatal(err)
				}
				for _, r := range []Result{rb, rp} {
					if !reflect.DeepEqual(r.Trajectory, ra.Trajectory) || r.Score != ra.Score || r.Success != ra.Success || r.RMCalls != ra.RMCalls {
						t.Errorf("%s %s task %d: two runs with seed 7 differ", fx.name, m, task)
					}
				}
				if m == Sampling && !reflect.DeepEqual(ro.Trajectory, ra.Trajectory) {
					differs++
				}
			}
		}
		if differs == 0 {
			t.Errorf("%s: seeds 7 and 8 sample the same runs", fx.name)
		}
	}
}

// cancelAfter cancels the episode's context at its k-th call.
type cancelAfter struct {
	RewardModel
	k      int64
	n      atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Score(ctx context.Context, instr string, steps []dataset.Step) (float64, error) {
	if c.n.Add(1) == c.k {
		c.cancel()
	}
	return c.RewardModel.Score(ctx, instr, steps)
}

func TestCancellation(t *testing.T) {
	fx := fixtures(t, 1)[0]
	p := newPlanner(t, fx, newOracle(t, fx), DefaultConfig())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, m := range Methods() {
		if _, err := p.Plan(ctx, m, fx.tasks[0]); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v", m, err)
		}
	}
	for _, m := range []string{BestOfN, Reflexion, Beam, MCTS} {
		ctx, cancel := context.WithCancel(context.Background())
		rm := &cancelAfter{RewardModel: RandomRM{Seed: 1}, k: 2, cancel: cancel}
		cfg := DefaultConfig()
		cfg.Reflexion.Threshold = 2 // never passes: keeps going until cancelled
		q := newPlanner(t, fx, rm, cfg)
		_, err := q.Plan(ctx, m, fx.tasks[0])
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s cancelled mid-search: %v", m, err)
		}
		cancel()
	}
}

// recorder is a Reflector that remembers what it was asked and what the policy saw after.
type recorder struct {
	worst []int
	trajs []dataset.Trajectory
}

func (r *recorder) Reflect(_ context.Context, st *agent.State, traj dataset.Trajectory, worstStep int) (agent.Reflection, error) {
	r.worst = append(r.worst, worstStep)
	r.trajs = append(r.trajs, traj)
	return StepReflector{}.Reflect(context.Background(), st, traj, worstStep)
}

// watcher records the reflections each episode start shows the policy.
type watcher struct {
	agent.Policy
	seen [][]agent.Reflection
}

func (w *watcher) Act(ctx context.Context, st *agent.State, opt agent.ActOptions) ([]string, error) {
	if len(st.Steps) == 0 {
		w.seen = append(w.seen, append([]agent.Reflection(nil), st.Reflections...))
	}
	return w.Policy.Act(ctx, st, opt)
}

func TestReflexion(t *testing.T) {
	fx := fixtures(t, 20)[0] // game24: the oracle's prefix scores fall exactly at the first dead step
	oracle := newOracle(t, fx)
	pol, _ := scripted.New(fx.name, weakSkill)
	for _, greedy := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Reflexion.Greedy = greedy
		cfg.Reflexion.Threshold = 2 // never passes: all attempts, each after a lesson
		rec := &recorder{}
		w := &watcher{Policy: pol}
		p, err := New(newEnv(t, fx.factory), w, oracle, cfg, Options{Reflector: rec})
		if err != nil {
			t.Fatal(err)
		}
		task := fx.tasks[0]
		r, err := p.Plan(context.Background(), Reflexion, task)
		if err != nil {
			t.Fatal(err)
		}
		k := cfg.Reflexion.Attempts
		if r.Attempts != k || len(rec.worst) != k-1 || len(w.seen) != k {
			t.Fatalf("greedy=%v: %d attempts, %d reflections, %d episode starts; want %d, %d, %d", greedy, r.Attempts, len(rec.worst), len(w.seen), k, k-1, k)
		}
		for i, refl := range w.seen {
			if len(refl) != i {
				t.Errorf("greedy=%v: attempt %d saw %d lessons, want %d", greedy, i+1, len(refl), i)
			}
		}
		for i, tr := range rec.trajs {
			// The blamed step is where the oracle's value fell most (the first such step), or
			// the last step when it never fell.
			want, drop := len(tr.Steps)-1, 0.0
			prev, _ := oracle.Score(context.Background(), tr.Instruction, nil)
			for k := range tr.Steps {
				next, _ := oracle.Score(context.Background(), tr.Instruction, tr.Steps[:k+1])
				if prev-next > drop {
					want, drop = k, prev-next
				}
				prev = next
			}
			if rec.worst[i] != want {
				t.Errorf("greedy=%v attempt %d: blamed step %d, want %d", greedy, i+1, rec.worst[i], want)
			}
			ws := rec.worst[i]
			if w.seen[i+1][i].Step != ws || w.seen[i+1][i].Action != tr.Steps[ws].Action {
				t.Errorf("greedy=%v attempt %d: lesson %+v, want step %d %q", greedy, i+2, w.seen[i+1][i], ws, tr.Steps[ws].Action)
			}
		}
		// The answer is the best-valued attempt.
		bestV := math.Inf(-1)
		for _, tr := range append(rec.trajs, r.Trajectory) {
			v, _ := oracle.Score(context.Background(), tr.Instruction, tr.Steps)
			bestV = max(bestV, v)
		}
		if r.Value != bestV {
			t.Errorf("greedy=%v: answer value %v, best attempt %v", greedy, r.Value, bestV)
		}
		// Greedy attempts repeat the previous one up to the blamed step.
		if greedy {
			for i := 1; i < len(rec.trajs); i++ {
				a, b, ws := rec.trajs[i-1], rec.trajs[i], rec.worst[i-1]
				if !reflect.DeepEqual(a.Steps[:ws], b.Steps[:ws]) || b.Steps[ws].Action == a.Steps[ws].Action {
					t.Errorf("attempt %d does not follow attempt %d up to its blamed step %d", i+1, i, ws)
				}
			}
		}
	}
	// A threshold every attempt passes stops after the first.
	cfg := DefaultConfig()
	cfg.Reflexion.Threshold = -5
	p := newPlanner(t, fx, oracle, cfg)
	r, err := p.Plan(context.Background(), Reflexion, fx.tasks[0])
	if err != nil || r.Attempts != 1 {
		t.Errorf("threshold -5: %d attempts, %v", r.Attempts, err)
	}
}

func TestBeamAdmissibleExpansion(t *testing.T) {
	fx := fixtures(t, 6)[0]
	cfg := DefaultConfig()
	cfg.Beam = BeamConfig{Width: 40, Beams: 2, Expand: "admissible"}
	p := newPlanner(t, fx, newOracle(t, fx), cfg)
	for _, task := range fx.tasks {
		r, err := p.Plan(context.Background(), Beam, task)
		if err != nil {
			t.Fatal(err)
		}
		// Every valid step is tried and the oracle sees which keep 24 reachable, and the final
		// answer is the env's own: the search cannot miss.
		if r.Success != 1 {
			t.Errorf("task %d: beam over all admissible steps with the oracle failed: %v", task, r.Trajectory.Steps)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	fx := fixtures(t, 1)[0]
	pol, _ := scripted.New(fx.name, weakSkill)
	e := newEnv(t, fx.factory)
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.N = -1 }, "n:"},
		{func(c *Config) { c.Beam.Expand = "all" }, "beam.expand"},
		{func(c *Config) { c.MCTS.Gamma = 1.5 }, "mcts.gamma"},
		{func(c *Config) { c.Target.Price = math.NaN() }, "target.price"},
		{func(c *Config) { c.Parallel = 4 }, "parallel"},
	} {
		cfg := DefaultConfig()
		tc.mut(&cfg)
		_, err := New(e, pol, RandomRM{}, cfg, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %s, got %v", tc.want, err)
		}
	}
	p, err := New(e, pol, nil, DefaultConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Plan(context.Background(), BestOfN, 900); err == nil {
		t.Error("best-of-n without a reward model ran")
	}
	if _, err := p.Plan(context.Background(), "bogus", 900); err == nil || !strings.Contains(err.Error(), "mcts") {
		t.Errorf("unknown method: %v", err)
	}
	if _, err := p.Plan(context.Background(), Greedy, 5000); !errors.Is(err, env.ErrNoTask) {
		t.Errorf("task out of range: %v", err)
	}
}

// scriptedLLM stands in for an LLM server: a fixed (wrong) game24 answer as the action, and a
// fixed lesson when asked to reflect. It records the prompts.
type scriptedLLM struct {
	mu      sync.Mutex
	prompts [][]llm.Message
}

const lesson = "Check that the answer uses the four input numbers exactly once."

func (s *scriptedLLM) Chat(_ context.Context, msgs []llm.Message, opt llm.Options) ([]string, llm.Usage, error) {
	s.mu.Lock()
	s.prompts = append(s.prompts, msgs)
	s.mu.Unlock()
	reply := "Answer: (1 + 1) * 12 = 24"
	if strings.Contains(msgs[0].Content, "failed attempts") {
		reply = "Reflection: " + lesson
	}
	out := make([]string, max(opt.N, 1))
	for i := range out {
		out[i] = reply
	}
	return out, llm.Usage{}, nil
}

// With the LLM policy, Reflexion's lessons come from the LLM (llmpolicy.Reflect, pointed at the
// blamed step) and reach the next attempt's prompt.
func TestReflexionWithLLMPolicy(t *testing.T) {
	fx := fixtures(t, 1)[0]
	chat := &scriptedLLM{}
	cfg := DefaultConfig()
	cfg.Reflexion.Attempts = 3
	p, err := New(newEnv(t, fx.factory), llmpolicy.New(chat, llmpolicy.Config{}), newOracle(t, fx), cfg,
		Options{Reflector: LLMReflector{Client: chat}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Plan(context.Background(), Reflexion, fx.tasks[0])
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts != 3 || r.Success != 0 {
		t.Fatalf("%d attempts, success %v", r.Attempts, r.Success)
	}
	var acts, reflects []string
	for _, msgs := range chat.prompts {
		all := ""
		for _, m := range msgs {
			all += m.Content + "\n"
		}
		if strings.Contains(msgs[0].Content, "failed attempts") {
			reflects = append(reflects, all)
		} else {
			acts = append(acts, all)
		}
	}
	if len(acts) != 3 || len(reflects) != 2 {
		t.Fatalf("%d action prompts, %d reflection prompts", len(acts), len(reflects))
	}
	if !strings.Contains(reflects[0], "step 1") {
		t.Errorf("the reflection prompt does not point at the blamed step:\n%s", reflects[0])
	}
	if strings.Contains(acts[0], lesson) || !strings.Contains(acts[1], lesson) || strings.Count(acts[2], lesson) != 2 {
		t.Errorf("lessons in the attempts' prompts: %d, %d, %d", strings.Count(acts[0], lesson), strings.Count(acts[1], lesson), strings.Count(acts[2], lesson))
	}
}
