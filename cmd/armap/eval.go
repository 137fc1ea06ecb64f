package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/armap/armap/engine/eval"
	"github.com/armap/armap/engine/planner"
	"github.com/armap/armap/engine/scorer"
	"github.com/armap/armap/pipeline/agent"
	llmpolicy "github.com/armap/armap/pipeline/agent/llm"
	"github.com/armap/armap/pipeline/agent/random"
	"github.com/armap/armap/pipeline/agent/scripted"
	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/envs"
	httpenv "github.com/armap/armap/pipeline/env/http"
	"github.com/armap/armap/pipeline/llm"
)

// Reward models `armap eval --model` accepts besides a model directory.
const (
	evalModelOracle = "oracle" // the env's own reward, replayed (planner.Oracle): the headroom
	evalModelRandom = "random" // scores at random (planner.RandomRM): a sanity baseline
)

// EvalSection is `eval:`.
type EvalSection struct {
	Env     string `mapstructure:"env"`
	EnvSeed uint64 `mapstructure:"env_seed"` // shop catalog / household scenes; 0: the env's default
	HTTPURL string `mapstructure:"http_url"` // env=http: the env server
	// Model is a reward model directory, "oracle" or "random"; empty runs only greedy and sampling.
	Model        string   `mapstructure:"model"`
	Tokenizer    string   `mapstructure:"tokenizer"`
	MaxLength    int      `mapstructure:"max_length"`
	BatchTokens  int      `mapstructure:"batch_tokens"` // the scorer's token budget per forward pass
	Methods      []string `mapstructure:"methods"`
	Tasks        string   `mapstructure:"tasks"`
	Policy       string   `mapstructure:"policy"` // scripted, llm or random
	Skill        float64  `mapstructure:"skill"`  // scripted policy's skill
	TrainMetrics string   `mapstructure:"train_metrics"`
	Out          string   `mapstructure:"out"`
	eval.Config  `mapstructure:",squash"`
}

func defaultEvalSection() EvalSection {
	c := eval.DefaultConfig()
	// 0 means the top-level seed; see runEval.
	c.Planner.Seed = 0
	return EvalSection{
		Env:         "game24",
		BatchTokens: scorer.DefaultOptions().MaxBatchTokens,
		Methods:     planner.Methods(),
		Tasks:       "test",
		Policy:      "scripted",
		Skill:       0.35,
		Config:      c,
	}
}

func newEvalCmd() *cobra.Command {
	a := newApp()
	d := defaultConfig().Eval
	c := &cobra.Command{
		Use:   "eval --env E --model DIR|oracle|random --methods M,... --tasks RANGE --out DIR",
		Short: "Plan with a reward model over an env's tasks and report success per method",
		Long: `Run planning methods (` + strings.Join(planner.Methods(), ", ") + `) with a policy and a
reward model over a range of an environment's tasks, in parallel over tasks (--workers); the
reward model's calls from all workers are batched by one scorer. --model is a reward model
directory, "oracle" (the env's own reward, replayed: the headroom a perfect reward model gives) or
"random" (a sanity baseline); without it only greedy and sampling can run (--methods
greedy,sampling). RANGE is a split name ("test"; for --env http, the test_tasks the server names),
or task numbers and inclusive ranges ("900-999", "0-9,20"); tasks of the training split are
evaluated with a warning, since synthesis draws from them.

Writes into --out: results.json {"envs": {E: {"methods": {M: {"success_rate", "avg_env_reward",
"rm_calls", "wall_s", ...}}}}} (an existing file keeps its other envs), results.md, tasks_E.jsonl
(one line per method and task), success.png, and training.png from --train-metrics (a training
run's metrics.jsonl). Planner settings (eval.planner.*: n, reflexion, beam, mcts, target) come
from the eval: section of the config; eval.planner.seed 0 uses the top-level seed.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	for _, s := range []struct{ flag, key, def, usage string }{
		{"env", "eval.env", d.Env, "environment: game24, shop, household or http"},
		{"model", "eval.model", "", `reward model directory, "oracle" or "random"`},
		{"tokenizer", "eval.tokenizer", "", "tokenizer.json (default: the model directory's)"},
		{"tasks", "eval.tasks", d.Tasks, `tasks: a split ("test") or numbers and ranges ("900-999", "0-9,20")`},
		{"policy", "eval.policy", d.Policy, "policy: scripted, llm or random"},
		{"train-metrics", "eval.train_metrics", "", "a training run's metrics.jsonl to plot as training.png"},
		{"out", "eval.out", "", "output directory"},
		{"http-url", "eval.http_url", "", "env=http: base URL of a server speaking the armap env protocol"},
		{"device", "device", "cpu", "cpu or cuda"},
		{"dtype", "dtype", "auto", "compute dtype of the reward model: auto (bf16 on CUDA, f32 on CPU), f32, bf16 or f16 (f16 on CPU needs a libtorch 2 backend)"},
	} {
		f.String(s.flag, s.def, s.usage)
		a.l.bind(s.flag, s.key)
	}
	for _, s := range []struct {
		flag, key, usage string
		def              int
	}{
		{"n", "eval.planner.n", "runs per task of sampling and best-of-n", d.Planner.N},
		{"workers", "eval.workers", "tasks planned at once (0: one per CPU; raise it for --policy llm, which waits on a server)", d.Workers},
		{"parallel", "eval.planner.parallel", "rollouts of one task generated at once (worth it for --policy llm)", d.Planner.Parallel},
		{"batch-tokens", "eval.batch_tokens", "the scorer's tokens per forward pass", d.BatchTokens},
		{"max-length", "eval.max_length", "longest scored sequence in tokens (left-truncated); 0 = the model's", 0},
		{"threads", "threads", "intra-op threads (0 = all cores)", 0},
	} {
		f.Int(s.flag, s.def, s.usage)
		a.l.bind(s.flag, s.key)
	}
	for _, s := range []struct {
		flag, key, usage string
		def              float64
	}{
		{"skill", "eval.skill", "scripted policy's skill in [0, 1]", d.Skill},
		{"target-steps", "eval.planner.target.steps", "custom target: penalty per action taken", 0},
		{"target-price", "eval.planner.target.price", "custom target: penalty per dollar spent (shop)", 0},
	} {
		f.Float64(s.flag, s.def, s.usage)
		a.l.bind(s.flag, s.key)
	}
	f.StringSlice("methods", d.Methods, "methods to run, comma-separated")
	a.l.bind("methods", "eval.methods")
	f.Uint64("seed", 42, "seed of every random choice (per task: derived from seed and task)")
	a.l.bind("seed", "seed")
	f.Uint64("env-seed", 0, "seed of the generated worlds (shop catalog, household scenes); use synthesis' value")
	a.l.bind("env-seed", "eval.env_seed")
	c = a.command(c, runEval)
	c.AddCommand(newEvalCheckCmd())
	return c
}

func newEvalCheckCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "check --results FILE",
		Short: "Check that methods beat a baseline by a margin in every env of a results.json (exit 1 if not, 2 if it cannot check)",
		Args:  cobra.NoArgs,
	}
	c.Flags().String("results", "results.json", "results.json written by armap eval")
	c.Flags().StringSlice("methods", []string{"best-of-n", "mcts"}, "methods that must beat the baseline")
	c.Flags().String("baseline", "sampling", "baseline method")
	c.Flags().Float64("min-gain", 0.10, "required success-rate margin (0.10 = 10 points)")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		path, _ := cmd.Flags().GetString("results")
		methods, _ := cmd.Flags().GetStringSlice("methods")
		base, _ := cmd.Flags().GetString("baseline")
		gain, _ := cmd.Flags().GetFloat64("min-gain")
		// LoadResults takes a missing file for an empty one (eval merges into it); here that would
		// read as "no environments".
		if _, err := os.Stat(path); err != nil {
			return &exitCode{2, fmt.Errorf("eval check: %w (run armap eval first, or give --results FILE)", err)}
		}
		res, err := eval.LoadResults(path)
		if err != nil {
			return &exitCode{2, fmt.Errorf("eval check: %w", err)}
		}
		gs, err := eval.Gains(res, methods, base, gain)
		if err != nil {
			return &exitCode{2, fmt.Errorf("eval check: %w", err)}
		}
		short := 0
		for _, g := range gs {
			fmt.Fprintln(cmd.OutOrStdout(), g)
			if !g.OK {
				short++
			}
		}
		if short > 0 {
			return fmt.Errorf("%d of %d method/env pairs fall short of %+.0f points over %s", short, len(gs), 100*gain, base)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "all %d method/env pairs are at least %.0f points above %s\n", len(gs), 100*gain, base)
		return nil
	}
	return c
}

// evalFactory makes the env factory for the section.
func evalFactory(ctx context.Context, s *EvalSection) (env.Factory, error) {
	if s.Env == "http" && s.HTTPURL == "" {
		return nil, errors.New("eval: env http needs --http-url")
	}
	f, err := envs.Factory(ctx, s.Env, envs.Options{Seed: s.EnvSeed, HTTP: httpenv.Options{BaseURL: s.HTTPURL}})
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return f, nil
}

// evalPolicy makes the policy, and for the llm policy the reflector that asks the same LLM.
func evalPolicy(cfg *Config, envKind string) (agent.Policy, planner.Reflector, error) {
	s := &cfg.Eval
	switch s.Policy {
	case "scripted":
		p, err := scripted.New(envKind, s.Skill)
		return p, nil, err
	case "random":
		return random.New(), nil, nil
	case "llm":
		client, err := llm.New(cfg.LLM)
		if err != nil {
			return nil, nil, fmt.Errorf("eval: the llm policy needs the llm: section: %w", err)
		}
		return llmpolicy.New(client, llmpolicy.Config{}), planner.LLMReflector{Client: client}, nil
	}
	return nil, nil, fmt.Errorf("eval: unknown policy %q (want scripted, llm or random)", s.Policy)
}

// evalRM loads the reward model the section names; the returned closer releases it.
func evalRM(ctx context.Context, cfg *Config, factory env.Factory, tasks []int, log io.Writer) (planner.RewardModel, string, func(), error) {
	s := &cfg.Eval
	switch s.Model {
	case "":
		return nil, "", func() {}, nil
	case evalModelOracle:
		// The planners' step budget: a trajectory cut there is a failure, not something the
		// expert would have finished.
		pc, err := s.Planner.WithDefaults()
		if err != nil {
			return nil, "", nil, fmt.Errorf("eval: %w", err)
		}
		o, err := planner.NewOracle(ctx, factory, tasks, planner.OracleOptions{MaxSteps: pc.MaxSteps})
		if err != nil {
			return nil, "", nil, err
		}
		name := "oracle (env reward, replayed)"
		if !o.Completes() {
			// A remote env has no expert: a step-level search then sees every unfinished
			// trajectory alike.
			name = "oracle (env reward, replayed; no expert: unfinished trajectories score -1)"
		}
		return o, name, func() { o.Close() }, nil
	case evalModelRandom:
		// The planner seed, which results.json records (the top-level seed unless eval.planner.seed is set).
		return planner.RandomRM{Seed: s.Planner.Seed}, "random", func() {}, nil
	}
	r, err := resolveModel(s.Model, s.Tokenizer, s.MaxLength)
	if err != nil {
		return nil, "", nil, err
	}
	if r.Dir == "" {
		return nil, "", nil, fmt.Errorf("eval needs a trained model directory, %q, or %q; not the preset %q", evalModelOracle, evalModelRandom, s.Model)
	}
	if r.Tok == nil {
		return nil, "", nil, fmt.Errorf("eval: model %s has no tokenizer.json (give --tokenizer): planners score text", s.Model)
	}
	_, m, err := r.buildScorer(cfg, 0, log)
	if err != nil {
		return nil, "", nil, err
	}
	opt := scorer.DefaultOptions()
	opt.MaxBatchTokens = max(s.BatchTokens, r.MaxLen)
	sc := scorer.New(m, r.scorerInputs(), opt)
	closeAll := func() {
		sc.Close()
		m.Close()
	}
	return sc, filepath.Clean(s.Model), closeAll, nil
}

func runEval(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
	s := &cfg.Eval
	if s.Out == "" {
		return errors.New("eval needs --out DIR")
	}
	if s.Planner.Seed == 0 {
		s.Planner.Seed = cfg.Seed
	}
	factory, err := evalFactory(ctx, s)
	if err != nil {
		return err
	}
	probe, err := factory()
	if err != nil {
		return fmt.Errorf("eval: make %s env: %w", s.Env, err)
	}
	envName := probe.Name()
	log := cmd.ErrOrStderr()
	tasks, err := evalTasks(s.Tasks, probe, log)
	_, remote := probe.(*httpenv.Env)
	envURL := ""
	if remote {
		// An http env reports the name of what it serves (household): the URL tells it from a
		// local one in results.json, where both are envs.household.
		envURL = s.HTTPURL
	}
	probe.Close()
	if err != nil {
		return err
	}
	// Checked here, before a reward model loads or a folder is made.
	if s.Workers < 0 {
		return fmt.Errorf("eval.workers must be 0 (one per CPU) or more, got %d", s.Workers)
	}
	if _, err := s.Planner.WithDefaults(); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if s.Planner.Target.Price != 0 && envName != "shop" {
		return fmt.Errorf("eval.planner.target.price penalizes a purchase's price, which only shop has (env %s)", envName)
	}
	if s.Policy == "scripted" && remote && envName != "game24" {
		return fmt.Errorf("eval: the scripted %s policy reads the env's own state, which an http env does not share; use --policy llm or random", envName)
	}
	policy, reflector, err := evalPolicy(cfg, envName)
	if err != nil {
		return err
	}
	var methods []string
	for _, m := range s.Methods {
		if m = strings.TrimSpace(m); m != "" && !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	rm, modelName, closeRM, err := evalRM(ctx, cfg, factory, tasks, log)
	if err != nil {
		return err
	}
	defer closeRM()
	if _, err := eval.CheckMethods(methods, rm != nil); err != nil {
		if errors.Is(err, eval.ErrNeedsRM) {
			return fmt.Errorf("%w (give --model DIR, %q or %q)", err, evalModelOracle, evalModelRandom)
		}
		return err
	}
	// A run can take hours: find an output it could not write, earlier results it could not merge
	// with, or training metrics it could not plot, before it starts (after the checks above, and
	// creating nothing: Write makes the folder).
	out := eval.Output{TrainMetrics: s.TrainMetrics}
	if err := eval.CheckOutputs(s.Out, envName, out); err != nil {
		return fmt.Errorf("eval: --out %s: %w", s.Out, err)
	}
	start := time.Now()
	er, per, err := eval.Run(ctx, eval.Spec{Env: envName, Factory: factory, Policy: policy, RM: rm, Reflector: reflector,
		Tasks: tasks, TaskSpec: s.Tasks, EnvSeed: s.EnvSeed, EnvURL: envURL, Methods: methods, Config: s.Config, Model: modelName, PolicyName: policy.Name(),
		Progress: log})
	if err != nil {
		return err
	}
	if sc, ok := rm.(*scorer.Scorer); ok {
		st := sc.Stats()
		fmt.Fprintf(log, "eval: scorer %d sequences in %d batches (%.1f per batch), %d truncated\n", st.Sequences, st.Batches,
			float64(st.Sequences)/float64(max(st.Batches, 1)), st.Truncated)
	}
	if err := eval.Write(s.Out, envName, er, per, out); err != nil {
		return fmt.Errorf("eval: write %s: %w", s.Out, err)
	}
	var md bytes.Buffer
	eval.WriteMarkdown(&md, &eval.Results{Envs: map[string]*eval.EnvResult{envName: er}})
	fmt.Fprint(cmd.OutOrStdout(), md.String())
	fmt.Fprintf(log, "eval: %s, %d tasks, %d methods in %s; results in %s\n", envName, len(tasks), len(methods),
		time.Since(start).Round(time.Millisecond), s.Out)
	return nil
}

// evalTasks reads --tasks. An http env's "test" is the test_tasks its server names in /info;
// tasks of an env's training split are allowed, with a warning.
func evalTasks(spec string, e env.Env, log io.Writer) ([]int, error) {
	if he, ok := e.(*httpenv.Env); ok && strings.TrimSpace(spec) == "test" {
		var tasks []int
		for _, r := range he.Info().TestTasks {
			for t := r[0]; t <= r[1]; t++ {
				tasks = append(tasks, t)
			}
		}
		if len(tasks) == 0 {
			return nil, fmt.Errorf("eval: the %s server names no test_tasks in /info; give task numbers like 0-99", e.Name())
		}
		return tasks, nil
	}
	tasks, err := eval.ParseTasks(spec, e)
	if err != nil {
		return nil, err
	}
	if in, ok := env.CountInSplit(e, "train", tasks); ok && in > 0 {
		fmt.Fprintf(log, "eval: warning: %d of the %d tasks are in the %s training split, which synthesis draws from\n", in, len(tasks), e.Name())
	}
	return tasks, nil
}
