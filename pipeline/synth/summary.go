package synth

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/armap/armap/internal/textclip"
	"github.com/armap/armap/pipeline/dataset"
)

// Summary describes a run. Counts are over attempts in attempt order up to the last one used, so
// they are the same for any worker count; only the timings vary.
type Summary struct {
	Env      string `json:"env"`
	Out      string `json:"out"`
	Triplets int    `json:"triplets"` // written
	Attempts int    `json:"attempts"`

	ByKind    map[string]int    `json:"by_kind"`            // meta.negative of the written triplets
	BySource  map[string]int    `json:"by_source"`          // meta.source
	ByEnv     map[string]int    `json:"by_env"`             // triplet env
	Positives map[string]int    `json:"positives"`          // meta.positive: explore, refined, expert, weak_policy, best_sample
	Refined   int               `json:"refined"`            // triplets whose instruction was rewritten
	Discarded map[string]int    `json:"discarded"`          // reason -> attempts
	Examples  map[string]string `json:"examples,omitempty"` // reason -> the first such message

	LLMFailures map[string]int `json:"llm_failures"` // use -> attempts skipped after the client's retries
	LLMAnswers  int64          `json:"llm_answers"`  // usable LLM answers: actions, rewrites, wrong answers
	EnvFailures int            `json:"env_failures"` // attempts skipped on env or policy errors

	ChosenSteps        Percentiles `json:"chosen_steps"`
	RejectedSteps      Percentiles `json:"rejected_steps"`
	ChosenChars        Percentiles `json:"chosen_chars"` // characters of actions and observations
	RejectedChars      Percentiles `json:"rejected_chars"`
	MeanChosenReward   float64     `json:"mean_chosen_reward"`
	MeanRejectedReward float64     `json:"mean_rejected_reward"`

	// EnvSteps counts the steps of every trajectory produced (explorations, weaker runs, expert
	// runs, kept negatives and replays; not the makers' own rejected tries).
	EnvSteps       int64   `json:"env_steps"`
	Seconds        float64 `json:"seconds"`
	TripletsPerMin float64 `json:"triplets_per_min"`
	EnvStepsPerSec float64 `json:"env_steps_per_sec"`

	Notes []string `json:"notes,omitempty"`

	cSteps, rSteps, cChars, rChars []int
	cReward, rReward               float64
}

// Percentiles of a length distribution (nearest rank).
type Percentiles struct {
	P50 int `json:"p50"`
	P90 int `json:"p90"`
	P99 int `json:"p99"`
	Max int `json:"max"`
}

func newSummary(s *setup) Summary {
	return Summary{
		Env: s.name, Out: s.cfg.Out,
		ByKind: map[string]int{}, BySource: map[string]int{}, ByEnv: map[string]int{}, Positives: map[string]int{},
		Discarded: map[string]int{}, Examples: map[string]string{}, LLMFailures: map[string]int{},
		Notes: slices.Clone(s.notes),
	}
}

func (s *Summary) example(reason, msg string) {
	if _, ok := s.Examples[reason]; !ok && msg != "" {
		s.Examples[reason] = textclip.Clip(msg, 300)
	}
}

func stepChars(steps []dataset.Step) int {
	n := 0
	for _, st := range steps {
		n += utf8.RuneCountInString(st.Action) + utf8.RuneCountInString(st.Observation)
	}
	return n
}

func (s *Summary) keep(t *dataset.Triplet) {
	s.Triplets++
	s.ByEnv[t.Env]++
	if k, ok := t.Meta["negative"].(string); ok {
		s.ByKind[k]++
	}
	if k, ok := t.Meta["source"].(string); ok {
		s.BySource[k]++
	}
	if k, ok := t.Meta["positive"].(string); ok {
		s.Positives[k]++
	}
	if _, ok := t.Meta["refined"]; ok {
		s.Refined++
	}
	s.cSteps = append(s.cSteps, len(t.Chosen.Steps))
	s.rSteps = append(s.rSteps, len(t.Rejected.Steps))
	s.cChars = append(s.cChars, stepChars(t.Chosen.Steps))
	s.rChars = append(s.rChars, stepChars(t.Rejected.Steps))
	if t.Chosen.EnvReward != nil {
		s.cReward += *t.Chosen.EnvReward
	}
	if t.Rejected.EnvReward != nil {
		s.rReward += *t.Rejected.EnvReward
	}
}

func percentiles(xs []int) Percentiles {
	if len(xs) == 0 {
		return Percentiles{}
	}
	v := slices.Clone(xs)
	slices.Sort(v)
	at := func(p float64) int {
		// nearest rank: the smallest value with at least p of the data at or below it
		k := int(p*float64(len(v))+0.999999) - 1
		return v[min(max(k, 0), len(v)-1)]
	}
	return Percentiles{P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: v[len(v)-1]}
}

// summary finishes the distributions.
func (c *collector) summary(elapsed time.Duration) Summary {
	s := c.sum
	s.ChosenSteps, s.RejectedSteps = percentiles(s.cSteps), percentiles(s.rSteps)
	s.ChosenChars, s.RejectedChars = percentiles(s.cChars), percentiles(s.rChars)
	if s.Triplets > 0 {
		s.MeanChosenReward = s.cReward / float64(s.Triplets)
		s.MeanRejectedReward = s.rReward / float64(s.Triplets)
	}
	s.Seconds = elapsed.Seconds()
	s.rates()
	return s
}

func (s *Summary) rates() {
	if s.Seconds > 0 {
		s.TripletsPerMin = float64(s.Triplets) / s.Seconds * 60
		s.EnvStepsPerSec = float64(s.EnvSteps) / s.Seconds
	}
}

func sortedCounts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// String is the human-readable summary printed at the end of a run.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "synth %s: %d triplets -> %s (%d attempts, %.1fs)\n", s.Env, s.Triplets, s.Out, s.Attempts, s.Seconds)
	fmt.Fprintf(&b, "  negative kinds: %s\n", sortedCounts(s.ByKind))
	fmt.Fprintf(&b, "  sources:        %s\n", sortedCounts(s.BySource))
	fmt.Fprintf(&b, "  envs:           %s\n", sortedCounts(s.ByEnv))
	fmt.Fprintf(&b, "  positives:      %s (refined instructions: %d)\n", sortedCounts(s.Positives), s.Refined)
	fmt.Fprintf(&b, "  kept %d, discarded: %s\n", s.Triplets, sortedCounts(s.Discarded))
	fmt.Fprintf(&b, "  failures: llm %s, env %d (usable LLM answers: %d)\n", sortedCounts(s.LLMFailures), s.EnvFailures, s.LLMAnswers)
	fmt.Fprintf(&b, "  steps  p50/p90/p99  chosen %d/%d/%d  rejected %d/%d/%d\n",
		s.ChosenSteps.P50, s.ChosenSteps.P90, s.ChosenSteps.P99, s.RejectedSteps.P50, s.RejectedSteps.P90, s.RejectedSteps.P99)
	fmt.Fprintf(&b, "  chars  p50/p90/p99  chosen %d/%d/%d  rejected %d/%d/%d\n",
		s.ChosenChars.P50, s.ChosenChars.P90, s.ChosenChars.P99, s.RejectedChars.P50, s.RejectedChars.P90, s.RejectedChars.P99)
	fmt.Fprintf(&b, "  mean env reward chosen %.3f rejected %.3f\n", s.MeanChosenReward, s.MeanRejectedReward)
	fmt.Fprintf(&b, "  %.0f triplets/min, %.0f env steps/s (%d steps)\n", s.TripletsPerMin, s.EnvStepsPerSec, s.EnvSteps)
	reasons := make([]string, 0, len(s.Examples))
	for k := range s.Examples {
		reasons = append(reasons, k)
	}
	slices.Sort(reasons)
	for _, k := range reasons {
		fmt.Fprintf(&b, "  e.g. %s: %s\n", k, s.Examples[k])
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}
