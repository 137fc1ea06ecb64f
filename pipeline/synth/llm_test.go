package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	llmpolicy "github.com/armap/armap/pipeline/agent/llm"
	"github.com/armap/armap/pipeline/env/game24"
	"github.com/armap/armap/pipeline/llm"
)

// fakeLLM is an in-test OpenAI-compatible server (no model runs on this machine). Its answers are
// a function of the request alone, so runs stay reproducible:
//   - refinement prompts get a fixed instruction;
//   - wrong-answer prompts get one wrong answer of each kind for the puzzle;
//   - action prompts get the puzzle's solution as an answer, or (for some prompts) a wrong one;
//   - requests whose hash falls in failEvery answer 500 every time, retries included.
type fakeLLM struct {
	srv       *httptest.Server
	failEvery uint32 // 0: never; k: requests with hash % k == 0 fail
	allFail   atomic.Bool
	unusable  atomic.Bool // answer every request with reasoning cut at max_tokens, and no action
	requests  atomic.Int64
}

var (
	taskInputRE = regexp.MustCompile(`Now your task\.[\s\S]*?Input:((?: \d+)+)`)
	anyInputRE  = regexp.MustCompile(`Input:((?: \d+)+)`)
)

func newFakeLLM(t *testing.T, failEvery uint32) (*fakeLLM, *llm.Client) {
	t.Helper()
	f := &fakeLLM{failEvery: failEvery}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	cfg := llm.DefaultConfig()
	cfg.BaseURL = f.srv.URL + "/v1"
	cfg.Model = "fake"
	cfg.APIKeyEnv = ""
	cfg.Timeout = 5 * time.Second
	cfg.MaxRetries = 1
	cfg.BackoffBase = time.Millisecond
	cfg.BackoffMax = 2 * time.Millisecond
	c, err := llm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	var req struct {
		Messages []llm.Message `json:"messages"`
		N        int           `json:"n"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var all strings.Builder
	for _, m := range req.Messages {
		all.WriteString(m.Content)
		all.WriteByte(0)
	}
	text := all.String()
	h := fnv.New32a()
	h.Write([]byte(text))
	sum := h.Sum32()
	if f.allFail.Load() || (f.failEvery > 0 && sum%f.failEvery == 0) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error": {"message": "fake overload", "type": "server_error"}}`))
		return
	}
	reply := f.reply(text, sum)
	if f.unusable.Load() {
		reply = "<think>let me think about 1 + 2 = 3 (left: 3 3 4) and then"
	}
	type choice struct {
		Index   int         `json:"index"`
		Message llm.Message `json:"message"`
	}
	var resp struct {
		Choices []choice       `json:"choices"`
		Usage   map[string]int `json:"usage"`
	}
	for k := range max(req.N, 1) {
		resp.Choices = append(resp.Choices, choice{Index: k, Message: llm.Assistant(reply)})
	}
	resp.Usage = map[string]int{"prompt_tokens": 10, "completion_tokens": 5}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func inputs(s string) []int {
	var out []int
	for _, f := range strings.Fields(s) {
		v, _ := strconv.Atoi(f)
		out = append(out, v)
	}
	return out
}

func (f *fakeLLM) reply(text string, h uint32) string {
	switch {
	case strings.Contains(text, "Write the task instruction"):
		return "Instruction: combine the four numbers with + - * / to make exactly 24."
	case strings.Contains(text, "WRONG answers"):
		m := anyInputRE.FindStringSubmatch(text)
		n := inputs(m[1])
		a, b, c, d := n[0], n[1], n[2], n[3]
		return strings.Join([]string{
			"missing_number: Answer: " + strconv.Itoa(a) + " * " + strconv.Itoa(b) + " + " + strconv.Itoa(c) + " = 24",
			"hallucinated_number: Answer: (" + strconv.Itoa(a) + " + " + strconv.Itoa(b) + " + " + strconv.Itoa(c) + ") * 97 = 24",
			"format_error: " + strconv.Itoa(a) + " + " + strconv.Itoa(b) + " + " + strconv.Itoa(c) + " + " + strconv.Itoa(d) + " makes 24",
			"wrong_arithmetic: Answer: " + strconv.Itoa(a) + " * " + strconv.Itoa(b) + " * " + strconv.Itoa(c) + " * " + strconv.Itoa(d) + " + 1 - 1 / 1 = 24",
			"wrong_arithmetic: Answer: (" + strconv.Itoa(a) + " - " + strconv.Itoa(b) + ") * " + strconv.Itoa(c) + " - " + strconv.Itoa(d) + " = 24",
		}, "\n")
	default:
		m := taskInputRE.FindStringSubmatch(text)
		if m == nil {
			return "I am not sure."
		}
		n := inputs(m[1])
		ex, ok := game24.Solve(n)
		if !ok || h%3 == 0 {
			return "Answer: " + strconv.Itoa(n[0]) + " + " + strconv.Itoa(n[1]) + " = 24"
		}
		return "Answer: " + ex.String() + " = 24"
	}
}

func TestLLMPathWithFailuresCounted(t *testing.T) {
	fake, client := newFakeLLM(t, 7)
	var first []byte
	for _, workers := range []int{1, 3} {
		cfg := testConfig("game24", 40, 21)
		cfg.Policy = PolicyLLM
		cfg.Refine = RefineLLM
		cfg.Mix = Mix{Perturb: 1, Weaker: 1, LLM: 2}
		cfg.Workers = workers
		cfg.Out = filepath.Join(t.TempDir(), "llm.jsonl")
		sum, data, ts := synth(t, cfg, Deps{LLM: client})
		checkTriplets(t, sum, ts, cfg.Triplets)
		if sumCounts(sum.LLMFailures) == 0 {
			t.Errorf("no LLM failure counted although the server fails 1 request in 7: %v", sum.LLMFailures)
		}
		if sum.LLMAnswers == 0 || sum.LLMAnswers > fake.requests.Load() {
			t.Errorf("usable LLM answers %d, with %d requests served in all", sum.LLMAnswers, fake.requests.Load())
		}
		for _, use := range []string{UseRefine, UseWrongAnswers} {
			if sum.LLMFailures[use] == 0 {
				t.Errorf("no %s failure counted: %v", use, sum.LLMFailures)
			}
		}
		if sum.BySource[SourceLLM] == 0 || sum.Positives["explore"] == 0 {
			t.Errorf("sources %v, positives %v: want LLM wrong answers and LLM-explored positives", sum.BySource, sum.Positives)
		}
		llmKinds := map[string]bool{}
		for _, tr := range ts {
			if tr.Meta["refined"] != "llm" || !strings.HasPrefix(tr.Instruction, "combine the four numbers") {
				t.Errorf("%s: instruction %q (meta %v) not refined by the LLM", tr.ID, tr.Instruction, tr.Meta)
			}
			if !strings.Contains(tr.Instruction, "\nInput: ") {
				t.Errorf("%s: refined game24 instruction lost its Input line", tr.ID)
			}
			if tr.Meta["source"] == SourceLLM {
				k := tr.Meta["negative"].(string)
				llmKinds[k] = true
				last := tr.Rejected.Steps[len(tr.Rejected.Steps)-1].Action
				in := inputs(anyInputRE.FindStringSubmatch(tr.Instruction)[1])
				ins := make([]int64, len(in))
				for i, v := range in {
					ins[i] = int64(v)
				}
				if got := llmpolicy.ClassifyGame24Answer(ins, last); got != k {
					t.Errorf("%s: rejected answer %q is %s, meta says %s", tr.ID, last, got, k)
				}
			}
		}
		for _, k := range llmpolicy.WrongAnswerKinds {
			if !llmKinds[k] {
				t.Errorf("no LLM wrong answer of kind %s (have %v)", k, llmKinds)
			}
		}
		if first == nil {
			first = data
		} else if !bytes.Equal(first, data) {
			t.Error("LLM path: workers=3 wrote different bytes than workers=1")
		}
	}
	if fake.requests.Load() == 0 {
		t.Fatal("the fake LLM saw no request")
	}
}

func TestDeadLLMEndsTheRunWithAnError(t *testing.T) {
	fake, client := newFakeLLM(t, 0)
	fake.allFail.Store(true)
	cfg := testConfig("game24", 20, 1)
	cfg.Policy = PolicyLLM
	cfg.Mix = Mix{Perturb: 1} // every attempt explores with the LLM
	cfg.MaxConsecutiveFailures = 6
	cfg.Out = filepath.Join(t.TempDir(), "x.jsonl")
	start := time.Now()
	sum, err := Run(context.Background(), cfg, Deps{LLM: client})
	if err == nil || !strings.Contains(err.Error(), "attempts in a row that called it") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("got %v, want a clear dead-server error", err)
	}
	if sum.LLMFailures[UseExplore] != 6 || sum.Triplets != 0 {
		t.Errorf("llm failures %v, triplets %d", sum.LLMFailures, sum.Triplets)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

// A dead LLM ends the run even when attempts that do not call it (scripted weaker runs) succeed
// between the failing ones, and a run too short to reach max_consecutive_failures is refused when
// the LLM gave no usable answer: either way no file holds data the LLM had no part in. An LLM that
// answers every call with nothing usable (all reasoning, cut at max_tokens) is as dead.
func TestDeadLLMBesideScriptedAttempts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		triplets int
		maxFail  int
		want     string
	}{
		{"long run", 40, 6, "attempts in a row that called it"},
		{"short run", 4, 1000, "no usable answer ("},
	} {
		for _, mode := range []string{"500", "unusable"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				fake, client := newFakeLLM(t, 0)
				fake.allFail.Store(mode == "500")
				fake.unusable.Store(mode == "unusable")
				cfg := testConfig("game24", tc.triplets, 3)
				cfg.Policy = PolicyLLM
				cfg.Mix = Mix{Perturb: 1, Weaker: 9} // weaker slots run the scripted weak policy only
				cfg.MaxConsecutiveFailures = tc.maxFail
				cfg.Out = filepath.Join(t.TempDir(), "x.jsonl")
				sum, err := Run(context.Background(), cfg, Deps{LLM: client})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v (summary: %d triplets, llm failures %v), want an error saying %q", err, sum.Triplets, sum.LLMFailures, tc.want)
				}
				if sum.BySource[SourceWeaker] == 0 {
					t.Errorf("no weaker triplet was made before the run ended (%v): the case does not test what it says", sum.BySource)
				}
				if _, serr := os.Stat(cfg.Out); !os.IsNotExist(serr) {
					t.Errorf("%s written (stat: %v)", cfg.Out, serr)
				}
			})
		}
	}
}

func TestLLMCancellation(t *testing.T) {
	// A server that never answers: only the context can end the run.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	lc := llm.DefaultConfig()
	lc.BaseURL, lc.Model, lc.APIKeyEnv = srv.URL+"/v1", "fake", ""
	client, err := llm.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("game24", 10, 1)
	cfg.Policy = PolicyLLM
	cfg.Out = filepath.Join(t.TempDir(), "x.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = Run(ctx, cfg, Deps{LLM: client})
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("got %v, want context canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop", d)
	}
}

// A refusal no retry can fix (401: bad key) ends the run at its first occurrence.
func TestFatalLLMErrorStopsAtOnce(t *testing.T) {
	var requests atomic.Int64
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}`))
	}))
	defer srv.Close()
	lc := llm.DefaultConfig()
	lc.BaseURL, lc.Model, lc.APIKeyEnv = srv.URL+"/v1", "fake", ""
	lc.MaxRetries = 3
	client, err := llm.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("game24", 20, 1)
	cfg.Policy = PolicyLLM
	cfg.Mix = Mix{Perturb: 1, Weaker: 9}
	cfg.Workers = 1
	cfg.Out = filepath.Join(t.TempDir(), "x.jsonl")
	sum, err := Run(context.Background(), cfg, Deps{LLM: client})
	if !errors.Is(err, llm.ErrFatal) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("got %v, want the 401 as a fatal LLM error", err)
	}
	// One request, not retried; the one worker may have started the next attempt before the run
	// was cancelled, which is at most one more.
	if n := requests.Load(); n > 2 {
		t.Errorf("%d requests made, want at most 2", n)
	}
	// A second request is the next attempt's (another prompt), never a retry of the first.
	if len(bodies) == 2 && bodies[0] == bodies[1] {
		t.Error("the refused request was sent again")
	}
	if n := sumCounts(sum.LLMFailures); n != 0 {
		t.Errorf("the refusal was counted as %d ordinary LLM failures", n)
	}
	if _, serr := os.Stat(cfg.Out); !os.IsNotExist(serr) {
		t.Errorf("%s written after a fatal error (%d triplets in the summary; stat: %v)", cfg.Out, sum.Triplets, serr)
	}
}
