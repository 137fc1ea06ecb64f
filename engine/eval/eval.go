// Package eval runs planning methods over a range of an environment's tasks and reports them:
// results.json (merged across environments), a results.md table, per-task JSONL and PNG plots.
//
// Tasks run in parallel on worker goroutines, each with its own env instance and planner; the
// reward model is shared, so a batching scorer packs the workers' calls into forward passes.
// Methods run one after another, so each method's wall time is its own.
package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/armap/armap/engine/planner"
	"github.com/armap/armap/engine/progress"
	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
)

// Config is the `eval:` settings a run needs besides what it runs on.
type Config struct {
	// Workers is how many tasks are planned at once; 0 means one per CPU.
	Workers int            `mapstructure:"workers"`
	Planner planner.Config `mapstructure:"planner"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Planner: planner.DefaultConfig()} }

// Spec is one evaluation: methods over tasks of one environment.
type Spec struct {
	Env       string // the environment's name in the results
	Factory   env.Factory
	Policy    agent.Policy
	RM        planner.RewardModel // nil when only greedy and sampling run
	Reflector planner.Reflector   // nil: planner.StepReflector
	Tasks     []int
	TaskSpec  string // how the tasks were given (e.g. "test"), for the report
	// EnvSeed and EnvURL say which world was evaluated: the generated world's seed (0: the env's
	// default), and for a remote env its server.
	EnvSeed uint64
	EnvURL  string
	Methods []string
	Config  Config
	// Model and PolicyName describe the run in the report.
	Model      string
	PolicyName string
	Progress   io.Writer // nil: silent
}

// MethodResult is one method's line of results.json.
type MethodResult struct {
	SuccessRate  float64 `json:"success_rate"`
	AvgEnvReward float64 `json:"avg_env_reward"`
	RMCalls      int64   `json:"rm_calls"` // over all tasks
	WallS        float64 `json:"wall_s"`   // elapsed for all tasks (workers in parallel)
	Tasks        int     `json:"tasks"`
	// Per task: reward-model calls, episode wall time (the latency one task sees), policy
	// calls and env steps.
	RMCallsPerTask     float64 `json:"rm_calls_per_task"`
	WallSPerTask       float64 `json:"wall_s_per_task"`
	PolicyCallsPerTask float64 `json:"policy_calls_per_task"`
	EnvStepsPerTask    float64 `json:"env_steps_per_task"`
	// The answers' length, and for shop the mean price of the purchases made; for sampling,
	// means over its runs (each task weighs the same), whereas its per-task line shows its first.
	AvgSteps float64  `json:"avg_steps"`
	AvgPrice *float64 `json:"avg_price,omitempty"`
}

// EnvResult is one environment's entry of results.json.
type EnvResult struct {
	Methods  map[string]MethodResult `json:"methods"`
	Tasks    int                     `json:"tasks"`
	TaskSpec string                  `json:"task_spec,omitempty"`
	EnvSeed  uint64                  `json:"env_seed,omitempty"`
	EnvURL   string                  `json:"env_url,omitempty"`
	Policy   string                  `json:"policy,omitempty"`
	Model    string                  `json:"model,omitempty"`
	Seed     uint64                  `json:"seed"`
	Workers  int                     `json:"workers"`
	Planner  planner.Config          `json:"planner"`
	Target   *planner.Target         `json:"target,omitempty"`
	Date     string                  `json:"date"`
}

// TaskResult is one line of the per-task file.
type TaskResult struct {
	Method      string   `json:"method"`
	Task        int      `json:"task"`
	TaskID      string   `json:"task_id"`
	Success     float64  `json:"success"`
	EnvReward   float64  `json:"env_reward"`
	Score       *float64 `json:"score,omitempty"`
	RMCalls     int64    `json:"rm_calls"`
	PolicyCalls int64    `json:"policy_calls"`
	EnvSteps    int64    `json:"env_steps"`
	Rollouts    int      `json:"rollouts"`
	Attempts    int      `json:"attempts,omitempty"`
	WallS       float64  `json:"wall_s"`
	Price       *float64 `json:"price,omitempty"`
	Actions     []string `json:"actions"`
}

// Run evaluates spec. The per-task results come in method order, then task order.
func Run(ctx context.Context, spec Spec) (*EnvResult, []TaskResult, error) {
	if len(spec.Tasks) == 0 {
		return nil, nil, errors.New("eval: no tasks")
	}
	methods, err := CheckMethods(spec.Methods, spec.RM != nil)
	if err != nil {
		return nil, nil, err
	}
	workers := spec.Config.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(spec.Tasks))
	planners := make([]*planner.Planner, workers)
	defer func() {
		for _, p := range planners {
			if p != nil {
				p.Close()
			}
		}
	}()
	for w := range planners {
		e, err := spec.Factory()
		if err != nil {
			return nil, nil, fmt.Errorf("eval %s: make env: %w", spec.Env, err)
		}
		defer e.Close()
		p, err := planner.New(e, spec.Policy, spec.RM, spec.Config.Planner, planner.Options{Factory: spec.Factory, Reflector: spec.Reflector})
		if err != nil {
			return nil, nil, fmt.Errorf("eval %s: %w", spec.Env, err)
		}
		planners[w] = p
	}
	var bar *progress.Bar
	if spec.Progress != nil {
		bar = progress.New(spec.Progress, "eval "+spec.Env, len(methods)*len(spec.Tasks))
	}
	er := &EnvResult{Methods: map[string]MethodResult{}, Tasks: len(spec.Tasks), TaskSpec: spec.TaskSpec, EnvSeed: spec.EnvSeed, EnvURL: spec.EnvURL,
		Policy: spec.PolicyName, Model: spec.Model, Seed: planners[0].Config().Seed, Workers: workers,
		Planner: planners[0].Config(), Date: time.Now().UTC().Format(time.RFC3339)}
	if t := er.Planner.Target; !t.IsZero() {
		er.Target = &t
	}
	var all []TaskResult
	done := 0
	for _, m := range methods {
		start := time.Now()
		res, err := runMethod(ctx, planners, m, spec.Tasks, func(r planner.Result) {
			if bar != nil {
				done++
				bar.Set(done, m)
			}
		})
		if err != nil {
			return nil, nil, fmt.Errorf("eval %s: %w", spec.Env, err)
		}
		er.Methods[m] = summarize(res, time.Since(start))
		for _, r := range res {
			all = append(all, taskResult(r))
		}
	}
	if bar != nil {
		bar.Finish()
	}
	return er, all, nil
}

// ErrNeedsRM is CheckMethods' error for a method that plans with a reward model when none is given.
var ErrNeedsRM = errors.New("needs a reward model")

// CheckMethods validates and deduplicates method names; RM-based ones need a reward model.
func CheckMethods(methods []string, haveRM bool) ([]string, error) {
	var out []string
	for _, m := range methods {
		m = strings.TrimSpace(m)
		if m == "" || slices.Contains(out, m) {
			continue
		}
		if !slices.Contains(planner.Methods(), m) {
			return nil, fmt.Errorf("eval: unknown method %q (have %s)", m, strings.Join(planner.Methods(), ", "))
		}
		if planner.UsesRM(m) && !haveRM {
			return nil, fmt.Errorf("eval: method %s %w", m, ErrNeedsRM)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("eval: no methods")
	}
	return out, nil
}

// runMethod plans every task with method on the workers' planners; results in task order. The
// first error cancels the rest.
func runMethod(ctx context.Context, planners []*planner.Planner, method string, tasks []int, onDone func(planner.Result)) ([]planner.Result, error) {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]planner.Result, len(tasks))
	errs := make([]error, len(tasks))
	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range planners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r, err := p.Plan(ctx, method, tasks[i])
				if err != nil {
					errs[i] = err
					cancel()
					continue
				}
				out[i] = r
				mu.Lock()
				onDone(r)
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range tasks {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	// Report the root cause, not the cancellations it caused in the other workers.
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
		if err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	if err := parent.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func summarize(rs []planner.Result, wall time.Duration) MethodResult {
	n := float64(len(rs))
	m := MethodResult{Tasks: len(rs), WallS: wall.Seconds()}
	// Sums first, one division last: means of 0/1 successes come out exact.
	var succ, rew, wallS, pol, steps, acts, price, priced float64
	for _, r := range rs {
		succ += r.Success
		rew += r.EnvReward
		m.RMCalls += r.RMCalls
		wallS += r.Wall.Seconds()
		pol += float64(r.PolicyCalls)
		steps += float64(r.EnvSteps)
		// Sampling's steps and prices are means over its runs, as its success is; each task
		// weighs the same.
		runs := r.Runs
		if len(runs) == 0 {
			runs = []dataset.Trajectory{r.Trajectory}
		}
		w := 1 / float64(len(runs))
		for _, tr := range runs {
			acts += w * float64(len(tr.Steps))
			if p, ok := planner.BoughtPrice(tr.Steps); ok && tr.Env == "shop" {
				priced += w
				price += w * p
			}
		}
	}
	m.SuccessRate, m.AvgEnvReward, m.WallSPerTask = succ/n, rew/n, wallS/n
	m.PolicyCallsPerTask, m.EnvStepsPerTask, m.AvgSteps = pol/n, steps/n, acts/n
	m.RMCallsPerTask = float64(m.RMCalls) / n
	if priced > 0 {
		avg := price / priced
		m.AvgPrice = &avg
	}
	return m
}

func taskResult(r planner.Result) TaskResult {
	t := TaskResult{Method: r.Method, Task: r.Task, TaskID: r.Trajectory.TaskID, Success: r.Success, EnvReward: r.EnvReward,
		RMCalls: r.RMCalls, PolicyCalls: r.PolicyCalls, EnvSteps: r.EnvSteps, Rollouts: r.Rollouts, Attempts: r.Attempts,
		WallS: r.Wall.Seconds(), Actions: make([]string, len(r.Trajectory.Steps))}
	for i, s := range r.Trajectory.Steps {
		t.Actions[i] = s.Action
	}
	if r.Scored {
		s := r.Score
		t.Score = &s
	}
	if p, ok := planner.BoughtPrice(r.Trajectory.Steps); ok && r.Trajectory.Env == "shop" {
		t.Price = &p
	}
	return t
}

// ParseTasks reads a task range: comma-separated task numbers and inclusive ranges
// ("900-999", "0-9,20"), or a split name the env knows ("test", "train").
// maxTasks bounds one evaluation's task list.
const maxTasks = 1_000_000

func ParseTasks(spec string, e env.Env) ([]int, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("eval: empty task range")
	}
	if c := spec[0]; (c < '0' || c > '9') && c != '-' && c != '+' { // "-1", "+5": a bad range, not a split
		sp, ok := e.(env.Splits)
		if !ok {
			return nil, fmt.Errorf("eval: env %s has no named splits; give task numbers like 0-99", e.Name())
		}
		ts, err := sp.Split(spec)
		if err != nil {
			return nil, fmt.Errorf("eval: task range %q: %w", spec, err)
		}
		return ts, nil
	}
	n := e.NumTasks()
	seen := map[int]bool{}
	var out []int
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("eval: task range %q: bad part %q (want N or LO-HI with LO <= HI)", spec, part)
		}
		if n > 0 && b >= n {
			return nil, fmt.Errorf("eval: task range %q: task %d out of range (env %s has %d tasks, 0-%d)", spec, b, e.Name(), n, n-1)
		}
		// An env that cannot tell its task count (http) still gets a bounded list.
		if b-a >= maxTasks-len(out) { // b-a+1 overflows for hi near the largest int
			return nil, fmt.Errorf("eval: task range %q: more than %d tasks", spec, maxTasks)
		}
		for k := 0; k <= b-a; k++ { // t <= b would never fail for b = the largest int
			t := a + k
			if seen[t] {
				return nil, fmt.Errorf("eval: task range %q: task %d given twice", spec, t)
			}
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}
