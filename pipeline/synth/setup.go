package synth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/armap/armap/pipeline/agent"
	llmpolicy "github.com/armap/armap/pipeline/agent/llm"
	"github.com/armap/armap/pipeline/agent/random"
	"github.com/armap/armap/pipeline/agent/scripted"
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/envs"
	httpenv "github.com/armap/armap/pipeline/env/http"
)

// Deps are what Run needs besides the configuration.
type Deps struct {
	// Factory makes the env instances (one per worker); nil builds the one Config names.
	Factory env.Factory
	// LLM serves the llm policy, LLM refinement and LLM wrong answers; nil when none is configured.
	// *llm.Client implements it (its retries apply before a failure is counted here).
	LLM llmpolicy.Chatter
	// LLMPolicy tunes the llm policy's prompts and parsing.
	LLMPolicy llmpolicy.Config
	// Progress receives the progress bar; nil draws none.
	Progress io.Writer
	// Log receives the final summary; nil prints none.
	Log io.Writer
}

// slot is what an attempt is asked to make: a negative of kind from source.
type slot struct {
	source, kind string
	w            float64
}

// setup is everything the workers share, fixed before the first attempt.
type setup struct {
	cfg     Config
	deps    Deps
	kind    string // env kind the makers and scripted policies are chosen by
	name    string // env name written into triplets
	local   bool   // the env runs in process (policies and makers may read its state)
	factory env.Factory
	tasks   []int
	order   []int // a seeded permutation of tasks: attempt i explores tasks[order[i % len]]
	slots   []slot
	perturb []string // perturbation kinds allowed for this env
	notes   []string
}

func newSetup(ctx context.Context, cfg Config, deps Deps) (*setup, error) {
	s := &setup{cfg: cfg, deps: deps, factory: deps.Factory}
	if s.factory == nil {
		f, err := buildFactory(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s.factory = f
	}
	probe, err := s.factory()
	if err != nil {
		return nil, fmt.Errorf("synth: make %s env: %w", cfg.Env, err)
	}
	defer probe.Close()
	s.name = probe.Name()
	s.kind = s.name
	_, isHTTP := probe.(*httpenv.Env)
	s.local = !isHTTP
	if isHTTP && cfg.HTTP.Name != "" {
		s.kind = cfg.HTTP.Name
	}
	if err := s.pickTasks(probe); err != nil {
		return nil, err
	}
	if err := s.checkPolicies(); err != nil {
		return nil, err
	}
	if err := s.makeSlots(); err != nil {
		return nil, err
	}
	return s, nil
}

// buildFactory makes the env factory Config names.
func buildFactory(ctx context.Context, cfg Config) (env.Factory, error) {
	f, err := envs.Factory(ctx, cfg.Env, envs.Options{Seed: cfg.EnvSeed,
		HTTP: httpenv.Options{BaseURL: cfg.HTTP.BaseURL, Name: cfg.HTTP.Name, Timeout: cfg.HTTP.Timeout}})
	if err != nil {
		return nil, fmt.Errorf("synth: %w", err)
	}
	return f, nil
}

// maxUnsizedTasks bounds the range taken as given from an env that does not say how many tasks it
// has: every task number in it is held in memory.
const maxUnsizedTasks = 1 << 20

// pickTasks resolves the split (refusing any overlap with the env's test split) and the range.
func (s *setup) pickTasks(e env.Env) error {
	cfg := s.cfg
	var tasks []int
	if sp, ok := e.(env.Splits); ok {
		var err error
		if tasks, err = sp.Split(cfg.Split); err != nil {
			return fmt.Errorf("synth: split: %w", err)
		}
		if n, _ := env.CountInSplit(e, "test", tasks); n > 0 {
			return fmt.Errorf("synth: split %q holds %d tasks of the %s test split, which is held out for evaluation", cfg.Split, n, s.name)
		}
	} else {
		// No named splits (http): every task, unless a range narrows them; the test tasks the
		// server names in /info are held out.
		if cfg.Split != "train" && cfg.Split != "all" {
			return fmt.Errorf("synth: env %s has no named splits; use tasks: lo-hi instead of split %q", s.name, cfg.Split)
		}
		var isTest func(int) bool
		if he, ok := e.(*httpenv.Env); ok && len(he.Info().TestTasks) > 0 {
			isTest = he.Info().IsTestTask
		}
		switch {
		case cfg.Tasks != "" && e.NumTasks() == 0:
			// The env cannot tell how many tasks it has: the range is taken as given, and a
			// task past the end fails at Reset.
			lo, hi, _ := parseRange(cfg.Tasks)
			if hi-lo >= maxUnsizedTasks {
				return fmt.Errorf("synth: tasks %q spans %d tasks; env %s does not say how many it has (num_tasks 0), and a range over %d is taken for a typo", cfg.Tasks, hi-lo+1, s.name, maxUnsizedTasks)
			}
			for i := lo; i <= hi; i++ {
				tasks = append(tasks, i)
			}
		default:
			for i := 0; i < e.NumTasks(); i++ {
				tasks = append(tasks, i)
			}
		}
		if isTest != nil {
			n := len(tasks)
			if cfg.Tasks != "" {
				lo, hi, _ := parseRange(cfg.Tasks)
				held := 0
				for _, t := range tasks {
					if t >= lo && t <= hi && isTest(t) {
						held++
					}
				}
				if held > 0 {
					return fmt.Errorf("synth: tasks %q hold %d tasks of the %s test split (the server's test_tasks %v), which is held out for evaluation", cfg.Tasks, held, s.name, e.(*httpenv.Env).Info().TestTasks)
				}
			}
			tasks = slices.DeleteFunc(tasks, isTest)
			if cfg.Tasks == "" {
				s.notes = append(s.notes, fmt.Sprintf("env %s has no named splits: drawing from its %d tasks outside the test tasks the server names (%d held out)", s.name, len(tasks), n-len(tasks)))
			}
		} else if cfg.Tasks == "" {
			s.notes = append(s.notes, fmt.Sprintf("env %s has no splits: drawing from all %d tasks (set tasks: lo-hi to hold some out)", s.name, len(tasks)))
		}
	}
	if cfg.Tasks != "" {
		lo, hi, _ := parseRange(cfg.Tasks)
		tasks = slices.DeleteFunc(tasks, func(t int) bool { return t < lo || t > hi })
		if n := e.NumTasks(); n > 0 && hi >= n && lo < n {
			s.notes = append(s.notes, fmt.Sprintf("tasks %q: env %s has tasks 0-%d, so the range ends at %d", cfg.Tasks, s.name, n-1, n-1))
		}
	}
	if len(tasks) == 0 {
		if e.NumTasks() == 0 && cfg.Tasks == "" {
			return fmt.Errorf("synth: env %s does not say how many tasks it has (num_tasks 0); set tasks: lo-hi", s.name)
		}
		return fmt.Errorf("synth: no tasks to draw from (env %s, split %q, tasks %q)", s.name, cfg.Split, cfg.Tasks)
	}
	s.tasks = tasks
	s.order = rand.New(rand.NewPCG(cfg.Seed, 0x7461736b73)).Perm(len(tasks))
	return nil
}

// scriptable reports whether the scripted policies work for this env: they read the in-process
// env's state, except game24's, which rebuilds the state from the instruction and the steps.
func (s *setup) scriptable() bool {
	switch s.kind {
	case "game24":
		return true
	case "shop", "household":
		return s.local
	}
	return false
}

func (s *setup) weakPolicyName() string {
	if s.cfg.WeakPolicy != "" {
		return s.cfg.WeakPolicy
	}
	if s.scriptable() {
		return PolicyScripted
	}
	return PolicyRandom
}

func (s *setup) checkPolicies() error {
	for _, p := range []struct{ key, name string }{{"policy", s.cfg.Policy}, {"weak_policy", s.weakPolicyName()}} {
		switch p.name {
		case PolicyScripted:
			if !s.scriptable() {
				return fmt.Errorf("synth: %s scripted has no policy for env %s (over http only game24's works); use llm or random", p.key, s.kind)
			}
		case PolicyLLM:
			if s.deps.LLM == nil {
				return fmt.Errorf("synth: %s llm needs an LLM (configure the llm: section, llm.model at least)", p.key)
			}
		}
	}
	if s.cfg.Refine == RefineLLM && s.deps.LLM == nil {
		return errors.New("synth: refine llm needs an LLM (configure the llm: section, llm.model at least)")
	}
	return nil
}

// newPolicy makes one policy by name; skill applies to scripted ones. LLM policies are wrapped
// so that their errors count as LLM failures of use.
func (s *setup) newPolicy(name string, skill float64, use string, useful *atomic.Int64) (agent.Policy, error) {
	switch name {
	case PolicyScripted:
		return scripted.New(s.kind, skill)
	case PolicyRandom:
		return random.New(), nil
	case PolicyLLM:
		return &llmMarked{Policy: llmpolicy.New(s.deps.LLM, s.deps.LLMPolicy), use: use, useful: useful}, nil
	}
	return nil, fmt.Errorf("synth: unknown policy %q", name)
}

// perturbKinds are the kinds the scripted negative makers produce for the env.
func (s *setup) perturbKinds() []string {
	switch s.kind {
	case "game24":
		return scripted.Game24NegativeKinds()
	case "shop":
		if s.local {
			return scripted.ShopNegativeKinds()
		}
	case "household":
		return []string{scripted.NegSkipStep, scripted.NegWrongReceptacle, scripted.NegWrongObject}
	}
	return nil
}

// AllKinds lists the negative kinds synthesis can make for an env kind (for --kinds help).
func AllKinds(envKind string, withLLM bool) []string {
	s := &setup{kind: envKind, local: true}
	out := append(s.perturbKinds(), KindWeaker)
	if envKind == "game24" && withLLM {
		for _, k := range llmpolicy.WrongAnswerKinds {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// makeSlots turns the mix and the kind filter into the slots attempts are assigned.
func (s *setup) makeSlots() error {
	cfg := s.cfg
	allowed := func(k string) bool { return len(cfg.Kinds) == 0 || slices.Contains(cfg.Kinds, k) }
	known := AllKinds(s.kind, true)
	for _, k := range cfg.Kinds {
		if !slices.Contains(known, k) {
			return fmt.Errorf("synth config kinds: %q is not a negative kind of env %s (have %s)", k, s.kind, strings.Join(known, ", "))
		}
	}
	add := func(source string, weight float64, kinds []string) {
		var keep []string
		for _, k := range kinds {
			if allowed(k) {
				keep = append(keep, k)
			}
		}
		for _, k := range keep {
			s.slots = append(s.slots, slot{source: source, kind: k, w: weight / float64(len(keep))})
		}
	}
	for _, k := range s.perturbKinds() {
		if allowed(k) {
			s.perturb = append(s.perturb, k)
		}
	}
	if cfg.Mix.Perturb > 0 {
		if len(s.perturbKinds()) == 0 {
			s.notes = append(s.notes, fmt.Sprintf("no negative maker changes %s trajectories (remote shop pages cannot be read): mix.perturb ignored", s.kind))
		}
		add(SourcePerturb, cfg.Mix.Perturb, s.perturb)
	}
	if cfg.Mix.Weaker > 0 {
		add(SourceWeaker, cfg.Mix.Weaker, []string{KindWeaker})
	}
	if cfg.Mix.LLM > 0 {
		if s.kind != "game24" || s.deps.LLM == nil {
			return fmt.Errorf("synth config mix.llm: LLM wrong answers are for game24 with an LLM configured (env %s, LLM configured: %v)", s.kind, s.deps.LLM != nil)
		}
		add(SourceLLM, cfg.Mix.LLM, llmpolicy.WrongAnswerKinds)
	}
	if len(s.slots) == 0 {
		return fmt.Errorf("synth: the mix %+v and kinds %v leave no negative to make for env %s", cfg.Mix, cfg.Kinds, s.kind)
	}
	return nil
}

// scheduler assigns slots by smooth weighted round robin: over any window the slots come up in
// proportion to their weights, interleaved, so short runs see every kind.
type scheduler struct {
	slots []slot
	cur   []float64
	total float64
}

func newScheduler(slots []slot) *scheduler {
	s := &scheduler{slots: slots, cur: make([]float64, len(slots))}
	for _, sl := range slots {
		s.total += sl.w
	}
	return s
}

func (s *scheduler) next() slot {
	best := 0
	for i := range s.slots {
		s.cur[i] += s.slots[i].w
		if s.cur[i] > s.cur[best] {
			best = i
		}
	}
	s.cur[best] -= s.total
	return s.slots[best]
}

// llmFailure marks an error of an LLM call, counted per use and never fatal to the run.
type llmFailure struct {
	use string
	err error
}

func (e *llmFailure) Error() string { return "llm " + e.use + ": " + e.err.Error() }
func (e *llmFailure) Unwrap() error { return e.err }

// llmMarked is an LLM policy whose errors are marked as LLM failures and whose usable answers
// are counted in useful.
type llmMarked struct {
	agent.Policy
	use    string
	useful *atomic.Int64
}

func (p *llmMarked) Act(ctx context.Context, st *agent.State, opt agent.ActOptions) ([]string, error) {
	acts, err := p.Policy.Act(ctx, st, opt)
	if err != nil && ctx.Err() == nil {
		return nil, &llmFailure{use: p.use, err: err}
	}
	if err == nil && len(acts) > 0 {
		p.useful.Add(1)
	}
	return acts, err
}
