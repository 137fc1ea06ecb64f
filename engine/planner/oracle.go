package planner

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sync"

	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
)

// Oracle is a reward model that knows the environment's reward: it replays a trajectory's
// actions in a fresh env of its task and reads the outcome. It shows the headroom a perfect
// reward model gives the planners (`armap eval --model oracle`), and gives the planner tests a
// real scoring function.
//
// Scores: 1 for a success, reward-1 (in [-1, 0)) for an episode that ended without one, so that
// 0 separates successes from failures as Reflexion's default threshold expects. An unfinished
// trajectory is valued by finishing it with the env's expert (when the env has one and
// FinalOnly is not set): the best outcome still reachable from its last state, which is what a
// step-level search needs to compare partial trajectories.
//
// The observations a trajectory carries are ignored (only actions are replayed), and the task
// is found from the instruction, so it scores trajectories from any source. Safe for
// concurrent use.
type Oracle struct {
	factory env.Factory
	opt     OracleOptions
	tasks   map[string][]int
	expert  bool // the env has an expert to complete unfinished trajectories with

	mu   sync.Mutex
	free []env.Env
	all  []env.Env
}

// OracleOptions tune an Oracle.
type OracleOptions struct {
	// FinalOnly scores unfinished trajectories -1 instead of completing them with the expert.
	FinalOnly bool
	// MaxSteps bounds the replay and the expert's completion (default 100; envs end earlier).
	MaxSteps int
}

// NewOracle indexes the instructions of tasks (all of the env's tasks when nil) so that Score
// can tell which task a trajectory belongs to.
func NewOracle(ctx context.Context, factory env.Factory, tasks []int, opt OracleOptions) (*Oracle, error) {
	if opt.MaxSteps <= 0 {
		opt.MaxSteps = 100
	}
	o := &Oracle{factory: factory, opt: opt, tasks: map[string][]int{}}
	e, err := o.get()
	if err != nil {
		return nil, err
	}
	defer o.put(e)
	_, o.expert = e.(env.Expert)
	if tasks == nil {
		n := e.NumTasks()
		if n <= 0 {
			return nil, fmt.Errorf("oracle: env %s cannot list its tasks; give them", e.Name())
		}
		tasks = make([]int, n)
		for i := range tasks {
			tasks[i] = i
		}
	}
	for _, t := range tasks {
		obs, err := e.Reset(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("oracle: %w", err)
		}
		o.tasks[obs.Instruction] = append(o.tasks[obs.Instruction], t)
	}
	return o, nil
}

// ErrUnknownTask is returned for an instruction of none of the indexed tasks.
var ErrUnknownTask = errors.New("oracle: instruction of no indexed task")

// Score implements RewardModel. Where tasks share an instruction, the best of their scores.
func (o *Oracle) Score(ctx context.Context, instruction string, steps []dataset.Step) (float64, error) {
	ts := o.tasks[instruction]
	if len(ts) == 0 {
		return 0, fmt.Errorf("%w: %.80q", ErrUnknownTask, instruction)
	}
	e, err := o.get()
	if err != nil {
		return 0, err
	}
	defer o.put(e)
	bestV := math.Inf(-1)
	for _, t := range ts {
		v, err := o.value(ctx, e, t, steps)
		if err != nil {
			return 0, err
		}
		bestV = max(bestV, v)
	}
	return bestV, nil
}

func (o *Oracle) value(ctx context.Context, e env.Env, task int, steps []dataset.Step) (float64, error) {
	if _, err := e.Reset(ctx, task); err != nil {
		return 0, fmt.Errorf("oracle: %w", err)
	}
	outcome := func(r float64) float64 {
		if r >= 1 {
			return 1
		}
		return r - 1
	}
	for i, s := range steps {
		if i >= o.opt.MaxSteps {
			return -1, nil
		}
		res, err := e.Step(ctx, s.Action)
		if errors.Is(err, env.ErrDone) {
			// Actions after the end do not change the outcome; the env said it with Done before.
			return -1, nil
		}
		if err != nil {
			return 0, fmt.Errorf("oracle: task %d step %d: %w", task, i, err)
		}
		if res.Done {
			return outcome(res.Reward), nil
		}
	}
	x, ok := e.(env.Expert)
	if o.opt.FinalOnly || !ok {
		return -1, nil
	}
	for i := len(steps); i < o.opt.MaxSteps; i++ {
		a, ok := x.ExpertAction()
		if !ok {
			return -1, nil
		}
		res, err := e.Step(ctx, a)
		if err != nil {
			return 0, fmt.Errorf("oracle: task %d expert step %d: %w", task, i, err)
		}
		if res.Done {
			return outcome(res.Reward), nil
		}
	}
	return -1, nil
}

// Completes reports whether unfinished trajectories are valued by the env's expert; without one
// (FinalOnly, or an env such as a remote one that has no expert) they score -1.
func (o *Oracle) Completes() bool { return o.expert && !o.opt.FinalOnly }

func (o *Oracle) get() (env.Env, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.free); n > 0 {
		e := o.free[n-1]
		o.free = o.free[:n-1]
		return e, nil
	}
	e, err := o.factory()
	if err != nil {
		return nil, fmt.Errorf("oracle: make env: %w", err)
	}
	o.all = append(o.all, e)
	return e, nil
}

func (o *Oracle) put(e env.Env) {
	o.mu.Lock()
	o.free = append(o.free, e)
	o.mu.Unlock()
}

// Close closes the oracle's envs.
func (o *Oracle) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, e := range o.all {
		errs = append(errs, e.Close())
	}
	o.all, o.free = nil, nil
	return errors.Join(errs...)
}

// RandomRM scores every trajectory with a pseudo-random number in [-1, 1) drawn from a hash of
// the seed and its content: a reward model that knows nothing, as a sanity baseline (planners
// must not gain from it).
type RandomRM struct{ Seed uint64 }

// Score implements RewardModel.
func (r RandomRM) Score(ctx context.Context, instruction string, steps []dataset.Step) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(r.Seed >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(instruction))
	for _, s := range steps {
		h.Write([]byte{0})
		h.Write([]byte(s.Action))
		h.Write([]byte{1})
		h.Write([]byte(s.Observation))
	}
	x := splitmix(h.Sum64())
	return float64(x>>11)/float64(1<<53)*2 - 1, nil
}
