// Package httpenv adapts environments served over HTTP to env.Env, so real WebShop, ALFWorld or
// ScienceWorld servers (behind a thin wrapper that speaks this protocol) can be explored,
// synthesized from and planned in like the built-in envs. Server serves any env.Env over the
// same protocol, which is how the adapter is tested and how armap's own envs can be shared by
// workers on several hosts.
//
// # Protocol (version 1)
//
// JSON over HTTP; request bodies are JSON objects sent with POST. One server serves many
// workers: each worker's episode lives in a session, named by an id the server assigns.
//
//	GET  {base}/info
//	     -> {"name": "alfworld", "num_tasks": 134, "protocol": 1, "test_tasks": [[0, 99]]}
//	POST {base}/reset    {"session": "" | "<id>", "task": 7}
//	     -> {"session": "<id>", "task_id": "alfworld/7", "instruction": "...",
//	         "observation": "...", "admissible": ["go to cabinet 1", ...] | null}
//	POST {base}/step     {"session": "<id>", "action": "open cabinet 1", "seq": 3}
//	     -> {"observation": "...", "reward": 0, "done": false, "admissible": [...] | null}
//	POST {base}/snapshot {"session": "<id>"}
//	     -> {"snapshot": <any JSON value, opaque to the client>}
//	POST {base}/restore  {"session": "" | "<id>", "snapshot": <as returned>}
//	     -> {"session": "<id>"}
//	POST {base}/close    {"session": "<id>"}
//	     -> {}
//
// instruction is required (not blank): the reward model judges trajectories against it.
// num_tasks is 0 when the server cannot tell how many tasks it has. The optional test_tasks lists
// the tasks held out for evaluation as inclusive [lo, hi] ranges; synthesis refuses to draw from
// them. Server publishes the "test" split of an env that implements env.Splits.
//
// An empty session in reset or restore asks the server to open a new one; its id comes back in
// the answer and names the session from then on. A snapshot may be restored into any session of
// the same server (planners hand states between workers).
//
// "seq" is the number of steps taken since the reset or restored state, before this one. It makes
// step safe to retry: a server that has already applied step seq answers the retry from its
// record instead of applying the action twice, and a seq that is neither the next step nor a
// retry of the last is an error (code "bad_seq"). Servers that cannot keep the record may ignore
// seq; the client only retries step on errors it cannot tell apart from a lost answer.
//
// Errors are any non-2xx status with a body {"error": "<message>", "code": "<code>"}. Codes:
// "bad_request" (400), "unknown_session" and "unknown_snapshot" (404), "no_task" (404, reset to a
// task out of range), "episode_done" (409, step after the episode ended), "bad_seq" (409),
// "too_many_sessions" (503), "internal" (500). The client retries 429, 5xx and connection
// failures with exponential backoff (honouring Retry-After), and reports other errors at once.
package httpenv

import (
	"encoding/json"
	"fmt"
	"slices"
)

// ProtocolVersion is the protocol version this package speaks.
const ProtocolVersion = 1

// Info is the answer to GET /info.
type Info struct {
	Name     string `json:"name"`
	NumTasks int    `json:"num_tasks"` // 0: the server cannot tell
	Protocol int    `json:"protocol,omitempty"`
	// TestTasks are the tasks held out for evaluation, as inclusive [lo, hi] ranges (none when
	// the server does not say).
	TestTasks [][]int `json:"test_tasks,omitempty"`
	// MaxSteps is the step at which the env ends every unfinished episode (0 or absent: the
	// server does not say, or the env has no such limit).
	MaxSteps int `json:"max_steps,omitempty"`
}

// check reports a malformed answer, naming the field.
func (in Info) check() error {
	if in.MaxSteps < 0 {
		return fmt.Errorf("max_steps: %d is negative", in.MaxSteps)
	}
	for i, r := range in.TestTasks {
		switch {
		case len(r) != 2:
			return fmt.Errorf("test_tasks[%d]: %v is not a range [lo, hi]", i, r)
		case r[0] < 0 || r[1] < r[0]:
			return fmt.Errorf("test_tasks[%d]: [%d, %d] is not a range with 0 <= lo <= hi", i, r[0], r[1])
		case in.NumTasks > 0 && r[1] >= in.NumTasks:
			return fmt.Errorf("test_tasks[%d]: [%d, %d] reaches past num_tasks %d", i, r[0], r[1], in.NumTasks)
		}
	}
	return nil
}

// IsTestTask reports whether task lies in one of the TestTasks ranges.
func (in Info) IsTestTask(task int) bool {
	for _, r := range in.TestTasks {
		if len(r) == 2 && task >= r[0] && task <= r[1] {
			return true
		}
	}
	return false
}

// taskRanges compacts task numbers into sorted inclusive [lo, hi] ranges.
func taskRanges(tasks []int) [][]int {
	ts := slices.Sorted(slices.Values(tasks))
	var out [][]int
	for _, t := range ts {
		if n := len(out); n > 0 && t <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], t)
			continue
		}
		out = append(out, []int{t, t})
	}
	return out
}

type resetRequest struct {
	Session string `json:"session"`
	Task    int    `json:"task"`
}

type resetResponse struct {
	Session     string   `json:"session"`
	TaskID      string   `json:"task_id"`
	Instruction string   `json:"instruction"`
	Observation *string  `json:"observation"`
	Admissible  []string `json:"admissible"`
}

type stepRequest struct {
	Session string `json:"session"`
	Action  string `json:"action"`
	Seq     *int   `json:"seq,omitempty"`
}

type stepResponse struct {
	Observation *string  `json:"observation"`
	Reward      float64  `json:"reward"`
	Done        bool     `json:"done"`
	Admissible  []string `json:"admissible"`
}

type sessionRequest struct {
	Session string `json:"session"`
}

type snapshotResponse struct {
	Snapshot json.RawMessage `json:"snapshot"`
}

type restoreRequest struct {
	Session  string          `json:"session"`
	Snapshot json.RawMessage `json:"snapshot"`
}

type restoreResponse struct {
	Session string `json:"session"`
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// Error codes of the protocol.
const (
	CodeBadRequest      = "bad_request"
	CodeUnknownSession  = "unknown_session"
	CodeUnknownSnapshot = "unknown_snapshot"
	CodeNoTask          = "no_task"
	CodeEpisodeDone     = "episode_done"
	CodeBadSeq          = "bad_seq"
	CodeTooManySessions = "too_many_sessions"
	CodeInternal        = "internal"
)
