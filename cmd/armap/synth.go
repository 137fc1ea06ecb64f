package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/armap/armap/engine/atomicfile"
	"github.com/armap/armap/pipeline/llm"
	"github.com/armap/armap/pipeline/synth"
)

// SynthSection is `synth:`: the synthesis config plus where the summary goes.
type SynthSection struct {
	synth.Config `mapstructure:",squash"`
	// Summary, when set, receives the run's summary as JSON (written atomically).
	Summary string `mapstructure:"summary"`
}

func newSynthCmd() *cobra.Command {
	a := newApp()
	d := defaultConfig().Synth
	c := &cobra.Command{
		Use:   "synth --env game24|shop|household|http --triplets N --out FILE",
		Short: "Synthesize preference triplets from an environment, without human labels",
		Long: `Explore an environment with a policy, write the instruction each trajectory fulfils
(refinement), make negatives by changing the positive's actions and re-running them
(--mix-perturb), from a weaker policy's lower-reward runs of the same task (--mix-weaker), or for
game24 from LLM-written wrong answers (--mix-llm), keep a pair only when the env rates the positive
strictly above the negative, deduplicate, and write JSONL triplets atomically:
  {"id","env","instruction","chosen":{"steps","env_reward"},"rejected":{"steps","env_reward"},
   "meta":{"negative","source","task_id","positive",...}}
The same --seed gives the same bytes for any --workers. Tasks come from the train split; the test
split is refused. LLM calls (--policy llm, --refine llm, --mix-llm) use the llm: section; failed
calls are retried by the client, then counted in the summary and skipped.

Negative kinds (--kinds): game24 ` + strings.Join(synth.AllKinds("game24", true), ", ") + `;
shop ` + strings.Join(synth.AllKinds("shop", false), ", ") + `;
household ` + strings.Join(synth.AllKinds("household", false), ", ") + `.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	for _, s := range []struct{ flag, key, def, usage string }{
		{"env", "synth.env", d.Env, "environment: game24, shop, household or http"},
		{"out", "synth.out", "", "output JSONL file (written atomically)"},
		{"summary", "synth.summary", "", "also write the summary as JSON to this file"},
		{"policy", "synth.policy", d.Policy, "exploring policy: scripted, llm or random"},
		{"weak-policy", "synth.weak_policy", d.WeakPolicy, "weaker policy for negatives: scripted, random or llm (default: scripted where the env has one)"},
		{"capped-negatives", "synth.capped_negatives", d.CappedNegatives, "a weaker run that used up the step limit: cut (to the positive's length) or keep"},
		{"split", "synth.split", d.Split, "task split to draw from (never test)"},
		{"tasks", "synth.tasks", d.Tasks, "narrow the tasks to a range lo-hi (inclusive)"},
		{"refine", "synth.refine", d.Refine, "instruction refinement: off, offline (from the reached state) or llm"},
		{"http-url", "synth.http.base_url", "", "env=http: base URL of a server speaking the armap env protocol"},
		{"http-name", "synth.http.name", "", "env=http: the remote env's kind (default: the server's /info name)"},
		{"llm-base-url", "llm.base_url", "", "OpenAI-compatible endpoint for the llm policy/refinement (default: the llm: section's)"},
		{"llm-model", "llm.model", "", "model name served at --llm-base-url"},
	} {
		f.String(s.flag, s.def, s.usage)
		a.l.bind(s.flag, s.key)
	}
	for _, s := range []struct {
		flag, key, usage string
		def              int
	}{
		{"triplets", "synth.triplets", "triplets to write", d.Triplets},
		{"workers", "synth.workers", "concurrent attempts (the output does not depend on it)", d.Workers},
		{"explore-samples", "synth.explore_samples", "explorer runs tried per task before the expert stands in", d.ExploreSamples},
		{"weak-samples", "synth.weak_samples", "weaker-policy runs per task", d.WeakSamples},
		{"max-steps", "synth.max_steps", "cap on the steps of every rollout", d.MaxSteps},
		{"max-attempts", "synth.max_attempts", "cap on the attempts (0: 10 x triplets + 100)", d.MaxAttempts},
		{"max-consecutive-failures", "synth.max_consecutive_failures", "LLM/env failures in a row that end the run", d.MaxConsecutiveFailures},
		{"llm-max-tokens", "llm.max_tokens", "max_tokens of every LLM request, overriding each call's own budget; raise it for reasoning models (0: each call's budget)", defaultConfig().LLM.MaxTokens},
	} {
		f.Int(s.flag, s.def, s.usage)
		a.l.bind(s.flag, s.key)
	}
	for _, s := range []struct {
		flag, key, usage string
		def              float64
	}{
		{"skill", "synth.skill", "scripted explorer's skill in [0, 1]", d.Skill},
		{"weak-skill", "synth.weak_skill", "scripted weaker policy's skill (match the policy the planners will drive)", d.WeakSkill},
		{"mix-perturb", "synth.mix.perturb", "weight of negatives made by changing the positive's actions", d.Mix.Perturb},
		{"mix-weaker", "synth.mix.weaker", "weight of the weaker policy's lower-reward runs", d.Mix.Weaker},
		{"mix-llm", "synth.mix.llm", "weight of LLM-written wrong answers (game24, needs the llm: section)", d.Mix.LLM},
	} {
		f.Float64(s.flag, s.def, s.usage)
		a.l.bind(s.flag, s.key)
	}
	f.Uint64("seed", 42, "seed of every random choice")
	a.l.bind("seed", "seed")
	f.Uint64("env-seed", 0, "seed of the generated worlds (shop catalog, household scenes); 0: the env's default")
	a.l.bind("env-seed", "synth.env_seed")
	f.StringSlice("kinds", nil, "negative kinds to make (default: all of the env's)")
	a.l.bind("kinds", "synth.kinds")
	return a.command(c, runSynth)
}

// synthNeedsLLM reports whether the run makes LLM calls.
func synthNeedsLLM(s synth.Config) bool {
	return s.Policy == synth.PolicyLLM || s.WeakPolicy == synth.PolicyLLM || s.Refine == synth.RefineLLM || s.Mix.LLM > 0
}

func runSynth(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
	s := cfg.Synth.Config
	s.Seed = cfg.Seed
	// A run can take hours of LLM calls: find an unwritable output before, not after.
	for _, p := range []string{s.Out, cfg.Synth.Summary} {
		if p != "" {
			if err := atomicfile.CheckTarget(p); err != nil {
				return fmt.Errorf("synth: %w", err)
			}
		}
	}
	deps := synth.Deps{Progress: cmd.ErrOrStderr(), Log: cmd.ErrOrStderr()}
	if synthNeedsLLM(s) {
		client, err := llm.New(cfg.LLM)
		if err != nil {
			return fmt.Errorf("synth: the run calls an LLM: %w", err)
		}
		deps.LLM = client
	}
	sum, err := synth.Run(ctx, s, deps)
	if err != nil {
		return err
	}
	if path := cfg.Synth.Summary; path != "" {
		data, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("synth summary: %w", err)
		}
	}
	return nil
}
