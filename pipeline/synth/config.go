package synth

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Policy names for Config.Policy and Config.WeakPolicy.
const (
	PolicyScripted = "scripted"
	PolicyLLM      = "llm"
	PolicyRandom   = "random"
)

// Refinement modes for Config.Refine.
const (
	// RefineOff keeps the env's instruction; only trajectories that fulfil it become positives.
	RefineOff = "off"
	// RefineOffline writes the instruction a trajectory fulfils from the state it reached, where
	// the env can still rate trajectories against it (shop: the bought item's type, attributes,
	// options and a price ceiling above its price). Elsewhere the env's instruction is kept.
	RefineOffline = "offline"
	// RefineLLM has the LLM write every triplet's instruction from the positive trajectory
	// (llmpolicy.RefineInstruction); ratings still come from the env (for shop, from the reached
	// state's goal as in RefineOffline).
	RefineLLM = "llm"
)

// Negative sources, recorded in meta.source.
const (
	SourcePerturb = "perturb" // the positive's actions changed and re-run in the env
	SourceWeaker  = "weaker"  // a weaker policy's lower-reward run of the same task
	SourceLLM     = "llm"     // LLM-written wrong Game of 24 answers of a known kind, re-run in the env
)

// Treatments of weaker runs that used up the step limit, for Config.CappedNegatives.
const (
	// CappedCut cuts such a run to the positive's step count (meta.cut_from keeps its length).
	CappedCut = "cut"
	// CappedKeep writes it whole.
	CappedKeep = "keep"
)

// KindWeaker is meta.negative of negatives from the weaker policy.
const KindWeaker = "weaker_policy"

// Config is the `synth:` section. Zero numeric fields take DefaultConfig's values in Run.
type Config struct {
	// Env is the environment kind: game24, shop, household or http.
	Env string `mapstructure:"env"`
	// Triplets is how many triplets to write.
	Triplets int `mapstructure:"triplets"`
	// Seed drives every random choice; the output is a function of (Config, Seed) alone. The CLI
	// takes it from the top-level `seed` key.
	Seed uint64 `mapstructure:"-"`
	// Out is the JSONL file written (atomically) at the end.
	Out string `mapstructure:"out"`
	// Workers is how many attempts run at once; it never changes the output.
	Workers int `mapstructure:"workers"`

	// Policy explores: scripted (a stand-in for an LLM of the given Skill), llm or random.
	Policy string `mapstructure:"policy"`
	// Skill of the scripted explorer in [0, 1].
	Skill float64 `mapstructure:"skill"`
	// ExploreSamples is how many explorer runs are tried for a positive before the env's expert
	// (where there is one) stands in.
	ExploreSamples int `mapstructure:"explore_samples"`
	// WeakPolicy makes the weaker policy's negatives: scripted, random or llm; empty picks
	// scripted where the env has a scripted policy in process, else random.
	WeakPolicy string `mapstructure:"weak_policy"`
	// WeakSkill is the scripted weaker policy's skill. Set it to the skill of the policy the
	// planners will drive, so the reward model sees that policy's own failures.
	WeakSkill float64 `mapstructure:"weak_skill"`
	// WeakSamples is how many weaker-policy runs are made per task; a success among them is the
	// preferred positive (same policy, same style), a lower-reward one the negative.
	WeakSamples int `mapstructure:"weak_samples"`
	// CappedNegatives is what becomes of a weaker run that failed by using up the step limit:
	// cut (the default) keeps its first as many steps as the positive has, keep writes it whole.
	// Where the env ends every unfinished episode at a fixed step (household, ALFWorld), all such
	// negatives are exactly that long and most positives much shorter, so a model could tell
	// the pair apart by length alone. The cut run is still unfinished and rated 0.
	CappedNegatives string `mapstructure:"capped_negatives"`

	// MaxSteps caps every rollout (the env's own step limit applies too).
	MaxSteps int `mapstructure:"max_steps"`
	// Split names the tasks drawn from (train by default). Splits that overlap the env's test
	// split are refused: the test tasks are held out for evaluation.
	Split string `mapstructure:"split"`
	// Tasks optionally narrows the tasks to a range "lo-hi" (inclusive), e.g. for http envs,
	// which have no named splits (their /info test_tasks are refused all the same); for an env
	// that does not say how many tasks it has (num_tasks 0) the range is taken as given.
	Tasks string `mapstructure:"tasks"`
	// EnvSeed is the seed of the generated worlds (shop catalog, household scenes); 0 keeps the
	// env's default. Planners must use the same value to see the same worlds.
	EnvSeed uint64 `mapstructure:"env_seed"`

	// Refine is off, offline or llm.
	Refine string `mapstructure:"refine"`
	// Kinds restricts the negative kinds (meta.negative) made; empty means all of the env's.
	Kinds []string `mapstructure:"kinds"`
	// Mix weighs the negative sources. Attempts are assigned (source, kind) slots by smooth
	// weighted round robin, so every kind comes up in proportion even in short runs.
	Mix Mix `mapstructure:"mix"`

	// MaxAttempts caps the attempts (each one explores a task and tries to make one triplet);
	// 0 means 10 * Triplets + 100.
	MaxAttempts int `mapstructure:"max_attempts"`
	// MaxConsecutiveFailures ends the run with an error after this many attempts in a row fail
	// on LLM or env errors (a dead server), instead of spinning until MaxAttempts.
	MaxConsecutiveFailures int `mapstructure:"max_consecutive_failures"`

	// HTTP configures the http env.
	HTTP HTTPConfig `mapstructure:"http"`
}

// Mix weighs the negative sources. A weight of 0 turns a source off.
type Mix struct {
	// Perturb: the positive's actions are changed the way weaker agents go wrong and re-run in
	// the env (scripted negative makers).
	Perturb float64 `mapstructure:"perturb"`
	// Weaker: a weaker policy's lower-reward run for the same instruction.
	Weaker float64 `mapstructure:"weaker"`
	// LLM: for game24, wrong answers of known kinds written by the LLM (needs an LLM client).
	LLM float64 `mapstructure:"llm"`
}

// HTTPConfig is `synth.http:`.
type HTTPConfig struct {
	// BaseURL of a server speaking the armap env protocol (pipeline/env/http).
	BaseURL string `mapstructure:"base_url"`
	// Name is the remote env's kind (game24, shop, household, alfworld, ...); empty takes the
	// server's GET /info name. Negative makers are picked by it.
	Name string `mapstructure:"name"`
	// Timeout bounds each HTTP attempt.
	Timeout time.Duration `mapstructure:"timeout"`
}

// DefaultConfig returns the defaults. Skill 0.6 explores with a middling agent (diverse
// positives, with the detours real agents take); WeakSkill 0.35 matches the weak policy the
// planners are evaluated with.
func DefaultConfig() Config {
	return Config{
		Env:                    "game24",
		Triplets:               1000,
		Workers:                2,
		Policy:                 PolicyScripted,
		Skill:                  0.6,
		ExploreSamples:         2,
		WeakSkill:              0.35,
		WeakSamples:            4,
		CappedNegatives:        CappedCut,
		MaxSteps:               50,
		Split:                  "train",
		Refine:                 RefineOffline,
		Mix:                    Mix{Perturb: 1, Weaker: 1},
		MaxConsecutiveFailures: 25,
		HTTP:                   HTTPConfig{Timeout: 30 * time.Second},
	}
}

// withDefaults fills zero fields that have no meaningful zero value.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Workers <= 0 {
		c.Workers = d.Workers
	}
	if c.Policy == "" {
		c.Policy = d.Policy
	}
	if c.ExploreSamples <= 0 {
		c.ExploreSamples = d.ExploreSamples
	}
	if c.WeakSamples <= 0 {
		c.WeakSamples = d.WeakSamples
	}
	if c.MaxSteps <= 0 {
		c.MaxSteps = d.MaxSteps
	}
	if c.CappedNegatives == "" {
		c.CappedNegatives = d.CappedNegatives
	}
	if c.Split == "" {
		c.Split = d.Split
	}
	if c.Refine == "" {
		c.Refine = d.Refine
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10*c.Triplets + 100
	}
	if c.MaxConsecutiveFailures <= 0 {
		c.MaxConsecutiveFailures = d.MaxConsecutiveFailures
	}
	if c.HTTP.Timeout <= 0 {
		c.HTTP.Timeout = d.HTTP.Timeout
	}
	return c
}

// Validate reports every invalid field at once, named by its config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("synth config %s: %s", key, fmt.Sprintf(format, a...)))
	}
	switch c.Env {
	case "game24", "shop", "household":
	case "http":
		if c.HTTP.BaseURL == "" {
			bad("http.base_url", "is empty (the env=http server's root URL)")
		}
	default:
		bad("env", "%q is not one of game24, shop, household, http", c.Env)
	}
	if c.Triplets <= 0 {
		bad("triplets", "%d must be positive", c.Triplets)
	}
	if c.Out == "" {
		bad("out", "is empty (the JSONL file to write)")
	}
	switch c.Policy {
	case "", PolicyScripted, PolicyLLM, PolicyRandom:
	default:
		bad("policy", "%q is not scripted, llm or random", c.Policy)
	}
	switch c.WeakPolicy {
	case "", PolicyScripted, PolicyLLM, PolicyRandom:
	default:
		bad("weak_policy", "%q is not scripted, llm or random", c.WeakPolicy)
	}
	for key, v := range map[string]float64{"skill": c.Skill, "weak_skill": c.WeakSkill} {
		if math.IsNaN(v) || v < 0 || v > 1 {
			bad(key, "%v is not in [0, 1]", v)
		}
	}
	switch c.CappedNegatives {
	case "", CappedCut, CappedKeep:
	default:
		bad("capped_negatives", "%q is not cut or keep", c.CappedNegatives)
	}
	switch c.Refine {
	case "", RefineOff, RefineOffline, RefineLLM:
	default:
		bad("refine", "%q is not off, offline or llm", c.Refine)
	}
	for key, w := range map[string]float64{"mix.perturb": c.Mix.Perturb, "mix.weaker": c.Mix.Weaker, "mix.llm": c.Mix.LLM} {
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			bad(key, "%v must be a finite weight >= 0", w)
		}
	}
	if c.Mix.Perturb+c.Mix.Weaker+c.Mix.LLM <= 0 {
		bad("mix", "all weights are 0: no negative source is on")
	}
	if c.Split == "test" {
		bad("split", "the test split is held out for evaluation; synthesize from train")
	}
	if c.Tasks != "" {
		if _, _, err := parseRange(c.Tasks); err != nil {
			bad("tasks", "%v", err)
		}
	}
	if c.Workers < 0 || c.MaxSteps < 0 || c.ExploreSamples < 0 || c.WeakSamples < 0 || c.MaxAttempts < 0 {
		bad("workers/max_steps/explore_samples/weak_samples/max_attempts", "must not be negative")
	}
	return errors.Join(errs...)
}

// parseRange reads "lo-hi" (inclusive) or a single task number.
func parseRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("%q is not a task range lo-hi with 0 <= lo <= hi", s)
	}
	return lo, hi, nil
}
