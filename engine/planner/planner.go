// Package planner turns a policy and a reward model into better episodes (ARMAP's inference
// side): the greedy and sampling baselines, Best-of-N (ARMAP-B), Reflexion (ARMAP-R), step-level
// beam search and MCTS (ARMAP-M). Every search runs on one environment through Snapshot/Restore;
// reward-model calls, policy calls, env steps and wall time are counted per episode.
//
// A Planner belongs to one goroutine (it owns its env). Run one per worker and share the reward
// model between them: *scorer.Scorer batches the calls of all workers into forward passes.
package planner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
)

// RewardModel scores a (possibly partial) trajectory; higher is better. *scorer.Scorer
// implements it. It must be safe for concurrent use: planners score candidates concurrently so
// that a batching scorer can pack them.
type RewardModel interface {
	Score(ctx context.Context, instruction string, steps []dataset.Step) (float64, error)
}

// Method names, as `armap eval --methods` spells them.
const (
	Greedy    = "greedy"
	Sampling  = "sampling"
	BestOfN   = "best-of-n"
	Reflexion = "reflexion"
	Beam      = "beam"
	MCTS      = "mcts"
)

// Methods lists every method in the order reports show them.
func Methods() []string { return []string{Greedy, Sampling, Reflexion, BestOfN, Beam, MCTS} }

// UsesRM reports whether method needs a reward model.
func UsesRM(method string) bool { return method != Greedy && method != Sampling }

// Config tunes all planners. Zero fields take DefaultConfig's values (see WithDefaults).
type Config struct {
	// Seed and the task number seed every random choice of an episode.
	Seed uint64 `mapstructure:"seed" json:"seed"`
	// MaxSteps caps the actions of one episode; environments usually end theirs earlier.
	MaxSteps int `mapstructure:"max_steps" json:"max_steps"`
	// N is the number of independent runs of sampling and Best-of-N.
	N int `mapstructure:"n" json:"n"`
	// Parallel is how many rollouts of one task are generated at once (sampling, Best-of-N).
	// Above 1 it needs a Factory for the extra envs; it pays off for LLM policies, whose actions
	// wait on a server, not for scripted ones.
	Parallel  int             `mapstructure:"parallel" json:"parallel"`
	Reflexion ReflexionConfig `mapstructure:"reflexion" json:"reflexion"`
	Beam      BeamConfig      `mapstructure:"beam" json:"beam"`
	MCTS      MCTSConfig      `mapstructure:"mcts" json:"mcts"`
	// Target turns the reward-model score into the value the planners maximize.
	Target Target `mapstructure:"target" json:"target"`
}

// ReflexionConfig tunes ARMAP-R.
type ReflexionConfig struct {
	Attempts int `mapstructure:"attempts" json:"attempts"`
	// Threshold: an attempt whose raw reward-model score reaches it is accepted. The default 0
	// suits reward models trained with the pairwise loss whose scores straddle 0 between good and
	// bad trajectories (reward centering holds them there); a model whose scores all lie above it
	// makes Reflexion stop after one attempt.
	Threshold float64 `mapstructure:"threshold" json:"threshold"`
	// Greedy makes every attempt with the policy's greedy choices (classic Reflexion at
	// temperature 0): an attempt then repeats the failed one up to the step a lesson points at
	// and changes exactly that step. By default attempt i is sampled on the same RNG stream as
	// run i of sampling and Best-of-N, with the lessons so far: one lesson fixes one step, while a
	// weak policy makes several mistakes per episode, so fresh draws give later attempts more
	// chances (with the oracle reward model on game24 ranks 901-1000 at skill 0.35, 5 attempts
	// succeed on 51% of tasks sampled and 31% greedy).
	Greedy bool `mapstructure:"greedy" json:"greedy"`
}

// BeamConfig tunes step-level beam search.
type BeamConfig struct {
	Width int `mapstructure:"width" json:"width"` // actions expanded per beam
	Beams int `mapstructure:"beams" json:"beams"` // partial trajectories kept per step
	// Expand is where candidate actions come from: "policy" (Width sampled actions,
	// deduplicated) or "admissible" (the env's admissible actions, at most Width of them: those
	// among Width policy samples first, then the env's order; the policy alone where actions are
	// free text).
	Expand string `mapstructure:"expand" json:"expand"`
}

// MCTSConfig tunes ARMAP-M; the defaults are ARMAP's.
type MCTSConfig struct {
	Rollouts    int     `mapstructure:"rollouts" json:"rollouts"`       // simulations (selection, expansion, rollout, backup)
	Horizon     int     `mapstructure:"horizon" json:"horizon"`         // depth of the tree: nodes this deep are not expanded
	Candidates  int     `mapstructure:"candidates" json:"candidates"`   // actions sampled per expanded node (deduplicated)
	Exploration float64 `mapstructure:"exploration" json:"exploration"` // UCT constant (0 takes the default)
	Gamma       float64 `mapstructure:"gamma" json:"gamma"`             // discount per tree level in the backup
}

// DefaultConfig returns the defaults (MCTS: ARMAP's rollouts 10, horizon 10, 10 candidates,
// exploration 6.36, gamma 0.9).
func DefaultConfig() Config {
	return Config{
		Seed:      1,
		MaxSteps:  100,
		N:         10,
		Parallel:  1,
		Reflexion: ReflexionConfig{Attempts: 5, Threshold: 0},
		Beam:      BeamConfig{Width: 5, Beams: 3, Expand: "policy"},
		MCTS:      MCTSConfig{Rollouts: 10, Horizon: 10, Candidates: 10, Exploration: 6.36, Gamma: 0.9},
	}
}

// WithDefaults fills zero fields and checks the rest: the configuration New plans with.
func (c Config) WithDefaults() (Config, error) {
	d := DefaultConfig()
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.MaxSteps, d.MaxSteps)
	set(&c.N, d.N)
	set(&c.Parallel, d.Parallel)
	set(&c.Reflexion.Attempts, d.Reflexion.Attempts)
	set(&c.Beam.Width, d.Beam.Width)
	set(&c.Beam.Beams, d.Beam.Beams)
	set(&c.MCTS.Rollouts, d.MCTS.Rollouts)
	set(&c.MCTS.Horizon, d.MCTS.Horizon)
	set(&c.MCTS.Candidates, d.MCTS.Candidates)
	if c.Beam.Expand == "" {
		c.Beam.Expand = d.Beam.Expand
	}
	if c.MCTS.Exploration == 0 {
		c.MCTS.Exploration = d.MCTS.Exploration
	}
	if c.MCTS.Gamma == 0 {
		c.MCTS.Gamma = d.MCTS.Gamma
	}
	var errs []error
	bad := func(key string, v any, want string) {
		errs = append(errs, fmt.Errorf("planner config %s: %v, want %s", key, v, want))
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"max_steps", c.MaxSteps}, {"n", c.N}, {"parallel", c.Parallel}, {"reflexion.attempts", c.Reflexion.Attempts},
		{"beam.width", c.Beam.Width}, {"beam.beams", c.Beam.Beams}, {"mcts.rollouts", c.MCTS.Rollouts},
		{"mcts.horizon", c.MCTS.Horizon}, {"mcts.candidates", c.MCTS.Candidates}} {
		if f.v < 0 {
			bad(f.key, f.v, "a positive number (0 = default)")
		}
	}
	if c.Beam.Expand != "policy" && c.Beam.Expand != "admissible" {
		bad("beam.expand", c.Beam.Expand, `"policy" or "admissible"`)
	}
	if c.MCTS.Exploration < 0 || math.IsNaN(c.MCTS.Exploration) || math.IsInf(c.MCTS.Exploration, 0) {
		bad("mcts.exploration", c.MCTS.Exploration, "a finite number >= 0")
	}
	if !(c.MCTS.Gamma > 0 && c.MCTS.Gamma <= 1) {
		bad("mcts.gamma", c.MCTS.Gamma, "a number in (0, 1]")
	}
	if math.IsNaN(c.Reflexion.Threshold) {
		bad("reflexion.threshold", c.Reflexion.Threshold, "a number")
	}
	if err := c.Target.validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// Counters are what one episode cost.
type Counters struct {
	RMCalls     int64         `json:"rm_calls"`
	PolicyCalls int64         `json:"policy_calls"`
	EnvSteps    int64         `json:"env_steps"`
	Rollouts    int           `json:"rollouts"` // trajectories generated to the end of the episode
	Wall        time.Duration `json:"-"`
}

// Result is one planned episode.
type Result struct {
	Method string
	Task   int
	// Trajectory is the answer: the trajectory the method commits to, with the env's reward.
	// For sampling it is the first run.
	Trajectory dataset.Trajectory
	// Scored says whether Score and Value are meaningful (they are not for greedy and sampling).
	Scored bool
	Score  float64 // raw reward-model score of the answer
	Value  float64 // Target.Value of the answer
	// EnvReward and Success are the answer's; for sampling, the means over the N runs.
	EnvReward float64
	Success   float64
	// Runs are sampling's N runs (Trajectory is the first), for summaries that average over
	// them as Success does; nil for the methods that commit to one trajectory.
	Runs     []dataset.Trajectory
	Attempts int // Reflexion: attempts made
	Counters
}

// Planner runs the methods for one worker.
type Planner struct {
	cfg       Config
	env       env.Env
	factory   env.Factory
	policy    agent.Policy
	rm        RewardModel
	reflector Reflector
	extra     []env.Env // made by factory for Parallel > 1, closed by Close
}

// Options are the optional parts of a Planner.
type Options struct {
	// Factory makes the extra envs of Parallel > 1 (instances of the same kind as the main env).
	Factory env.Factory
	// Reflector writes Reflexion's reflections; nil means StepReflector (scripted policies).
	Reflector Reflector
}

// New makes a planner over e (owned by the caller; Plan leaves it at the end of the answer).
// rm may be nil when only greedy and sampling are run.
func New(e env.Env, policy agent.Policy, rm RewardModel, cfg Config, opt Options) (*Planner, error) {
	if e == nil || policy == nil {
		return nil, errors.New("planner: nil env or policy")
	}
	c, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if c.Parallel > 1 && opt.Factory == nil {
		return nil, fmt.Errorf("planner config parallel: %d needs an env factory", c.Parallel)
	}
	p := &Planner{cfg: c, env: e, factory: opt.Factory, policy: policy, rm: rm, reflector: opt.Reflector}
	if p.reflector == nil {
		p.reflector = StepReflector{}
	}
	return p, nil
}

// Config returns the effective configuration.
func (p *Planner) Config() Config { return p.cfg }

// Close closes the extra envs the planner made (not the main one).
func (p *Planner) Close() error {
	var errs []error
	for _, e := range p.extra {
		errs = append(errs, e.Close())
	}
	p.extra = nil
	return errors.Join(errs...)
}

// Plan runs method on task.
func (p *Planner) Plan(ctx context.Context, method string, task int) (Result, error) {
	run := map[string]func(*episode) error{
		Greedy:    p.greedy,
		Sampling:  p.sampling,
		BestOfN:   p.bestOfN,
		Reflexion: p.reflexion,
		Beam:      p.beam,
		MCTS:      p.mcts,
	}[method]
	if run == nil {
		return Result{}, fmt.Errorf("planner: unknown method %q (have %s)", method, strings.Join(Methods(), ", "))
	}
	if UsesRM(method) && p.rm == nil {
		return Result{}, fmt.Errorf("planner: %s needs a reward model", method)
	}
	start := time.Now()
	ep, err := p.start(ctx, method, task)
	if err != nil {
		return Result{}, err
	}
	if err := run(ep); err != nil {
		return Result{}, fmt.Errorf("%s on task %d: %w", method, task, err)
	}
	if ep.answer == nil {
		return Result{}, fmt.Errorf("%s on task %d: no trajectory", method, task)
	}
	// Leave the env where the answer ended, as if it had been played once.
	if err := p.env.Restore(ep.answer.snap); err != nil {
		return Result{}, fmt.Errorf("%s on task %d: restore the answer's end: %w", method, task, err)
	}
	r := ep.res
	r.Method, r.Task = method, task
	r.Trajectory = ep.answer.traj
	if !ep.meanSet {
		r.EnvReward = r.Trajectory.EnvReward
		r.Success = b2f(r.Trajectory.Success)
	}
	if ep.answer.scored {
		r.Scored, r.Score, r.Value = true, ep.answer.score, ep.answer.value
	}
	r.RMCalls = ep.rmCalls.Load()
	r.PolicyCalls = ep.policyCalls.Load()
	r.EnvSteps = ep.envSteps.Load()
	r.Wall = time.Since(start)
	return r, nil
}

// episode is the state of one Plan call.
type episode struct {
	p        *Planner
	ctx      context.Context
	method   string
	task     int
	taskID   string
	instr    string
	obs0     string // the first observation
	root     env.Snapshot
	seed     uint64
	answer   *cand
	res      Result
	meanSet  bool // res.EnvReward/Success hold means (sampling)
	rmCalls  atomic.Int64
	envSteps atomic.Int64

	policyCalls atomic.Int64
}

// cand is a trajectory with where it ended and, once scored, its score and value.
type cand struct {
	traj   dataset.Trajectory
	snap   env.Snapshot // env state at its end
	done   bool         // the episode ended (set by the tree searches, which step themselves)
	scored bool
	score  float64
	value  float64
}

func (p *Planner) start(ctx context.Context, method string, task int) (*episode, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	obs, err := p.env.Reset(ctx, task)
	if err != nil {
		return nil, fmt.Errorf("%s: reset task %d: %w", method, task, err)
	}
	root, err := p.env.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("%s: snapshot task %d: %w", method, task, err)
	}
	return &episode{p: p, ctx: ctx, method: method, task: task, taskID: obs.TaskID, instr: obs.Instruction,
		obs0: obs.Text, root: root, seed: TaskSeed(p.cfg.Seed, task)}, nil
}

// TaskSeed derives the seed of one task's episode from the run seed, so that every task has its
// own reproducible stream whatever order the tasks run in.
func TaskSeed(seed uint64, task int) uint64 {
	return splitmix(seed ^ splitmix(uint64(task)+0x9e3779b97f4a7c15))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Streams of an episode's RNG. Sample i of sampling, Best-of-N and sampled Reflexion attempts
// is stream i, so these methods see the same runs (paired comparisons); the searches have
// their own.
const (
	streamBeam uint64 = 1<<40 + iota
	streamMCTS
)

func (ep *episode) rng(stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(ep.seed, splitmix(stream)))
}

// countingPolicy counts Act calls.
type countingPolicy struct {
	agent.Policy
	n *atomic.Int64
}

func (c countingPolicy) Act(ctx context.Context, st *agent.State, opt agent.ActOptions) ([]string, error) {
	c.n.Add(1)
	return c.Policy.Act(ctx, st, opt)
}

func (ep *episode) policy() agent.Policy { return countingPolicy{ep.p.policy, &ep.policyCalls} }

// score asks the reward model and applies the target.
func (ep *episode) score(c *cand) error {
	ep.rmCalls.Add(1)
	s, err := ep.p.rm.Score(ep.ctx, ep.instr, c.traj.Steps)
	if err != nil {
		return fmt.Errorf("reward model: %w", err)
	}
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Errorf("reward model: non-finite score %v", s)
	}
	c.scored, c.score, c.value = true, s, ep.p.cfg.Target.Value(s, c.traj)
	return nil
}

// scoreRaw scores steps without a target (Reflexion's prefixes).
func (ep *episode) scoreRaw(steps []dataset.Step) (float64, error) {
	ep.rmCalls.Add(1)
	s, err := ep.p.rm.Score(ep.ctx, ep.instr, steps)
	if err != nil {
		return 0, fmt.Errorf("reward model: %w", err)
	}
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0, fmt.Errorf("reward model: non-finite score %v", s)
	}
	return s, nil
}

// scoreAll scores cands concurrently, so that a batching reward model packs them.
func (ep *episode) scoreAll(cs []*cand) error {
	return parallel(len(cs), len(cs), func(i int) error { return ep.score(cs[i]) })
}

// state builds the policy's view at the end of steps (e positioned there).
func (ep *episode) state(e env.Env, steps []dataset.Step, refl []agent.Reflection) *agent.State {
	obs := ep.obs0
	if len(steps) > 0 {
		obs = steps[len(steps)-1].Observation
	}
	return &agent.State{EnvName: e.Name(), Instruction: ep.instr, Steps: slices.Clone(steps), Observation: obs,
		Reflections: refl, Env: e, Admissible: e.Admissible()}
}

// rollout restores from in e and lets the policy finish the episode. A nil rng means greedy.
func (ep *episode) rollout(e env.Env, from env.Snapshot, prefix []dataset.Step, rng *rand.Rand, refl []agent.Reflection) (*cand, error) {
	if err := e.Restore(from); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	opt := agent.ActOptions{N: 1, Rand: rng, Greedy: rng == nil}
	tr, err := agent.Continue(ep.ctx, e, ep.policy(), ep.state(e, prefix, refl), ep.taskID, ep.p.cfg.MaxSteps, opt)
	ep.envSteps.Add(int64(len(tr.Steps) - len(prefix)))
	if err != nil {
		return nil, err
	}
	snap, err := e.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &cand{traj: tr, snap: snap}, nil
}

// step applies action in e restored to from, and returns the child's steps, snapshot and result.
func (ep *episode) step(e env.Env, from env.Snapshot, steps []dataset.Step, action string) ([]dataset.Step, env.Snapshot, env.StepResult, error) {
	if err := e.Restore(from); err != nil {
		return nil, nil, env.StepResult{}, fmt.Errorf("restore: %w", err)
	}
	res, err := e.Step(ep.ctx, action)
	ep.envSteps.Add(1)
	if err != nil {
		return nil, nil, res, fmt.Errorf("step %d %q: %w", len(steps), action, err)
	}
	snap, err := e.Snapshot()
	if err != nil {
		return nil, nil, res, fmt.Errorf("snapshot: %w", err)
	}
	out := append(slices.Clip(steps), dataset.Step{Action: action, Observation: res.Observation})
	return out, snap, res, nil
}

// trajectory wraps steps as a Trajectory of this episode.
func (ep *episode) trajectory(steps []dataset.Step, done bool, reward float64) dataset.Trajectory {
	tr := dataset.Trajectory{Env: ep.p.env.Name(), TaskID: ep.taskID, Instruction: ep.instr, Steps: steps}
	if done {
		tr.EnvReward, tr.Success = reward, reward >= 1
	}
	return tr
}

// envs returns k envs for concurrent rollouts: the main one and extras from the factory.
func (p *Planner) envs(k int) ([]env.Env, error) {
	for len(p.extra) < k-1 {
		e, err := p.factory()
		if err != nil {
			return nil, fmt.Errorf("planner: make env: %w", err)
		}
		p.extra = append(p.extra, e)
	}
	return append([]env.Env{p.env}, p.extra[:k-1]...), nil
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns the first error (by
// index, so the error is reproducible).
func parallel(n, workers int, fn func(i int) error) error {
	if n == 0 {
		return nil
	}
	workers = max(1, min(workers, n))
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				errs[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// best returns the candidate with the highest value; the first one on ties.
func best(cs []*cand) *cand {
	var b *cand
	for _, c := range cs {
		if c != nil && (b == nil || c.value > b.value) {
			b = c
		}
	}
	return b
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
