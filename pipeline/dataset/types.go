// Package dataset holds the data contracts of DESIGN.md (trajectories, preference triplets,
// score requests) and their JSONL readers and writers.
package dataset

// Step is one agent action and what the environment answered.
type Step struct {
	Action      string `json:"action"`
	Observation string `json:"observation"`
}

// Trajectory is one complete episode in an environment.
type Trajectory struct {
	ID          string  `json:"id"`
	Env         string  `json:"env"`
	TaskID      string  `json:"task_id"`
	Instruction string  `json:"instruction"`
	Steps       []Step  `json:"steps"`
	EnvReward   float64 `json:"env_reward"`
	Success     bool    `json:"success"`
}

// Side is one half of a preference pair: steps as text, or token ids when pre-tokenized.
type Side struct {
	Steps     []Step   `json:"steps"`
	EnvReward *float64 `json:"env_reward,omitempty"`
}

// Triplet is one preference example: for Instruction, Chosen is better than Rejected.
type Triplet struct {
	ID          string         `json:"id"`
	Env         string         `json:"env,omitempty"`
	Instruction string         `json:"instruction,omitempty"`
	Chosen      Side           `json:"chosen"`
	Rejected    Side           `json:"rejected"`
	Meta        map[string]any `json:"meta,omitempty"`

	// Pre-tokenized form: when both are set the text fields are not needed.
	ChosenIDs   []int32 `json:"chosen_input_ids,omitempty"`
	RejectedIDs []int32 `json:"rejected_input_ids,omitempty"`
	// Margin is an optional per-pair margin for the pairwise loss.
	Margin *float64 `json:"margin,omitempty"`
}

// Tokenized reports whether the triplet carries token ids for both sides.
func (t *Triplet) Tokenized() bool { return len(t.ChosenIDs) > 0 && len(t.RejectedIDs) > 0 }

// ScoreRequest is one line of `armap score` input or one item of POST /v1/score.
type ScoreRequest struct {
	ID          string  `json:"id"`
	Instruction string  `json:"instruction,omitempty"`
	Steps       []Step  `json:"steps,omitempty"`
	InputIDs    []int32 `json:"input_ids,omitempty"`
}

// ScoreResult is the answer to one ScoreRequest.
type ScoreResult struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
}
