// Package llmpolicy is the LLM-backed agent policy: per-environment prompts with few-shot
// demonstrations (game24, shop, household, and a generic prompt for http envs), robust parsing
// of the completion into an action, snapping onto the admissible actions, and the LLM prompts
// that synthesis and Reflexion need (refined instructions, wrong Game of 24 answers,
// reflections).
//
// It lives in pipeline/agent/llm; the package is named llmpolicy so that it can be used beside
// the client package pipeline/llm without renaming either.
package llmpolicy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/llm"
)

// Chatter is what the policy needs from an LLM client; *llm.Client implements it.
type Chatter interface {
	Chat(ctx context.Context, msgs []llm.Message, opt llm.Options) ([]string, llm.Usage, error)
}

// Config tunes the prompts and parsing. Zero fields take DefaultConfig's values in New.
type Config struct {
	// MaxHistory is how many recent steps the prompt shows (earlier ones are summarised by a count).
	MaxHistory int `mapstructure:"max_history"`
	// MaxObservationChars clips each observation in the prompt.
	MaxObservationChars int `mapstructure:"max_observation_chars"`
	// MaxAdmissible caps the admissible actions listed (all of them are still used for snapping).
	MaxAdmissible int `mapstructure:"max_admissible"`
	// MinSimilarity is Snap's threshold; see Snap.
	MinSimilarity float64 `mapstructure:"min_similarity"`
	// MaxTokens is the budget an action request asks for: room for a short thought before the
	// action. The client's llm.max_tokens, when set, overrides it (see llm.Config.MaxTokens).
	MaxTokens int `mapstructure:"max_tokens"`
	// ParseRetries is how many times completions without a usable action are followed up with a
	// correction ("that is not an action ...") before Act gives up; 0 means the default (1), a
	// negative value none.
	ParseRetries int `mapstructure:"parse_retries"`
	// Temperature for sampled (non-greedy) actions; nil keeps the client's.
	Temperature *float64 `mapstructure:"temperature"`
	// ForceAdmissible shows and snaps to admissible actions for every env, game24 included
	// (see the style notes in prompts.go for why game24 does not by default).
	ForceAdmissible bool `mapstructure:"force_admissible"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxHistory:          30,
		MaxObservationChars: 1500,
		MaxAdmissible:       60,
		MinSimilarity:       DefaultMinSimilarity,
		MaxTokens:           256,
		ParseRetries:        1,
	}
}

// ErrNoAction is returned (wrapped) when no completion contained anything that parses as an action.
var ErrNoAction = errors.New("llm policy: no action in the completions")

// Policy implements agent.Policy with an LLM. It is safe for concurrent use when its client is.
type Policy struct {
	client Chatter
	cfg    Config
}

// New makes a policy; zero fields of cfg take the defaults.
func New(client Chatter, cfg Config) *Policy {
	d := DefaultConfig()
	if cfg.MaxHistory == 0 {
		cfg.MaxHistory = d.MaxHistory
	}
	if cfg.MaxObservationChars == 0 {
		cfg.MaxObservationChars = d.MaxObservationChars
	}
	if cfg.MaxAdmissible == 0 {
		cfg.MaxAdmissible = d.MaxAdmissible
	}
	if cfg.MinSimilarity == 0 {
		cfg.MinSimilarity = d.MinSimilarity
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = d.MaxTokens
	}
	switch {
	case cfg.ParseRetries == 0:
		cfg.ParseRetries = d.ParseRetries
	case cfg.ParseRetries < 0:
		cfg.ParseRetries = 0
	}
	return &Policy{client: client, cfg: cfg}
}

// Name implements agent.Policy.
func (p *Policy) Name() string { return "llm" }

// Messages returns the prompt Act sends for st (for logging and inspection).
func (p *Policy) Messages(st *agent.State) []llm.Message { return p.buildMessages(p.view(st)) }

// view hides the admissible list from the prompt for envs that do not use it.
func (p *Policy) view(st *agent.State) *agent.State {
	if p.useAdmissible(st.EnvName) || st.Admissible == nil {
		return st
	}
	c := *st
	c.Admissible = nil
	return &c
}

func (p *Policy) useAdmissible(env string) bool {
	return p.cfg.ForceAdmissible || styleFor(env).useAdmissible
}

// Parse turns one completion into an action for st: ParseAction, then Snap onto st.Admissible
// where the env uses it. The error says why the completion holds no action.
func (p *Policy) Parse(st *agent.State, completion string) (string, error) {
	a, err := ParseAction(st.EnvName, completion)
	if err != nil {
		return "", err
	}
	if p.useAdmissible(st.EnvName) && len(st.Admissible) > 0 {
		a, _ = Snap(a, st.Admissible, p.cfg.MinSimilarity)
	}
	return a, nil
}

// Act implements agent.Policy: opt.N completions (one when opt.Greedy, at temperature 0), each
// parsed into an action. Completions without an action are asked for again, with a correction
// appended to the conversation, up to ParseRetries times; Act returns fewer than N actions only
// when some stayed unusable, and ErrNoAction when none was usable. When opt.Rand is set it draws
// the request seed, so that a seeded run against a server that honours seeds (vLLM) repeats.
func (p *Policy) Act(ctx context.Context, st *agent.State, opt agent.ActOptions) ([]string, error) {
	n := opt.N
	if opt.Greedy || n < 1 {
		n = 1
	}
	msgs := p.Messages(st)
	var acts []string
	var bad unusable
	for round := 0; round <= p.cfg.ParseRetries && len(acts) < n; round++ {
		o := llm.Options{N: n - len(acts), Greedy: opt.Greedy, MaxTokens: p.cfg.MaxTokens, Temperature: p.cfg.Temperature}
		if opt.Rand != nil && !opt.Greedy {
			o.Seed = llm.Ptr(opt.Rand.Int64N(1 << 31))
		}
		conv := msgs
		if round > 0 {
			conv = append(append([]llm.Message(nil), msgs...), llm.Assistant(bad.text), llm.User(correction(st.EnvName)))
		}
		outs, u, err := p.client.Chat(ctx, conv, o)
		if err != nil {
			return nil, fmt.Errorf("llm policy (%s, step %d): %w", st.EnvName, len(st.Steps), err)
		}
		for i, out := range outs {
			a, err := p.Parse(st, out)
			if err == nil {
				acts = append(acts, a)
				continue
			}
			bad = unusable{text: out, err: err, maxTokens: u.MaxTokens}
			if len(u.Choices) == len(outs) {
				bad.info = u.Choices[i]
			}
		}
	}
	if len(acts) == 0 {
		return nil, fmt.Errorf("%w (%s, step %d): %s", ErrNoAction, st.EnvName, len(st.Steps), bad.reason())
	}
	return acts, nil
}

// unusable is a completion that held no action, with what the server said about it.
type unusable struct {
	text      string
	err       error // from Parse
	info      llm.ChoiceInfo
	maxTokens int
}

// reason words the failure for what it is: a completion cut at the token limit (most often a
// reasoning model that used the whole budget thinking), an empty one, or text with no action in it.
func (b unusable) reason() string {
	var extra string
	if b.info.ReasoningChars > 0 {
		extra = fmt.Sprintf(", %d bytes of reasoning_content", b.info.ReasoningChars)
	}
	if b.info.Truncated() {
		limit := "the server's default token limit"
		if b.maxTokens > 0 {
			limit = fmt.Sprintf("max_tokens %d", b.maxTokens)
		}
		return fmt.Sprintf("the completion was cut at %s (finish_reason length; %d bytes of content%s): %v; raise llm.max_tokens",
			limit, len(b.text), extra, b.err)
	}
	if strings.TrimSpace(b.text) == "" {
		fin := ""
		if b.info.FinishReason != "" {
			fin = fmt.Sprintf(" (finish_reason %s%s)", b.info.FinishReason, extra)
		} else if extra != "" {
			fin = " (" + extra[2:] + ")"
		}
		return "the model returned an empty completion" + fin
	}
	return fmt.Sprintf("the model wrote no usable action: %v; last completion %q", b.err, clipText(b.text, 200))
}

func correction(env string) string {
	switch env {
	case "game24":
		return "That is not a step. Reply with one line only: `a op b = c (left: ...)`, or `Answer: <expression> = 24` when only 24 is left."
	case "shop":
		return "That is not an action. Reply with one action only: search[query] or click[button]."
	case "household":
		return "That is not a command. Reply with one command only, such as `go to cabinet 1` or `take apple 1 from countertop 2`."
	}
	return "That is not an action. Reply with the next action only, on one line."
}

// compile-time check
var _ agent.Policy = (*Policy)(nil)

// firstParagraph returns the cleaned first non-empty block of a completion (synthesis replies).
func firstParagraph(s string) string {
	var keep []string
	for _, ln := range strings.Split(s, "\n") {
		t := strings.TrimSpace(ln)
		if strings.HasPrefix(t, "```") {
			continue
		}
		if t == "" {
			if len(keep) > 0 {
				break
			}
			continue
		}
		keep = append(keep, t)
	}
	return strings.Join(keep, " ")
}
