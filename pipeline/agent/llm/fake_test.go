package llmpolicy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/armap/armap/pipeline/llm"
)

// fakeLLM is an OpenAI-compatible server with canned completions: reply gets the decoded request
// and its 0-based number and returns the completions (it should honour n). No model runs here.
type fakeLLM struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []fakeReq
}

type fakeReq struct {
	Model       string        `json:"model"`
	Messages    []llm.Message `json:"messages"`
	Temperature *float64      `json:"temperature"`
	N           int           `json:"n"`
	MaxTokens   int           `json:"max_tokens"`
	Seed        *int64        `json:"seed"`
	raw         string        // the body as sent
}

func (r fakeReq) n() int { return max(r.N, 1) }

// user is the last user message, where the task is.
func (r fakeReq) user() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

func newFakeLLM(t *testing.T, reply func(r fakeReq, i int) []string) (*fakeLLM, *llm.Client) {
	t.Helper()
	return newFakeLLMConfig(t, reply, func(*llm.Config) {})
}

// newFakeLLMConfig is newFakeLLM with the client's config adjusted by edit.
func newFakeLLMConfig(t *testing.T, reply func(r fakeReq, i int) []string, edit func(*llm.Config)) (*fakeLLM, *llm.Client) {
	t.Helper()
	f := &fakeLLM{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		var req fakeReq
		if err == nil {
			err = json.Unmarshal(raw, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.raw = string(raw)
		f.mu.Lock()
		i := len(f.reqs)
		f.reqs = append(f.reqs, req)
		f.mu.Unlock()
		type choice struct {
			Index   int         `json:"index"`
			Message llm.Message `json:"message"`
		}
		var resp struct {
			Choices []choice       `json:"choices"`
			Usage   map[string]int `json:"usage"`
		}
		for k, c := range reply(req, i) {
			resp.Choices = append(resp.Choices, choice{Index: k, Message: llm.Assistant(c)})
		}
		resp.Usage = map[string]int{"prompt_tokens": 100, "completion_tokens": 10}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(f.srv.Close)
	cfg := llm.DefaultConfig()
	cfg.BaseURL = f.srv.URL + "/v1"
	cfg.Model = "fake"
	cfg.APIKeyEnv = ""
	cfg.Timeout = 5 * time.Second
	cfg.BackoffBase = time.Millisecond
	cfg.BackoffMax = 10 * time.Millisecond
	edit(&cfg)
	c, err := llm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakeLLM) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

// canned returns the given completions in turn, one per choice, cycling.
func canned(outs ...string) func(fakeReq, int) []string {
	var mu sync.Mutex
	k := 0
	return func(r fakeReq, _ int) []string {
		mu.Lock()
		defer mu.Unlock()
		res := make([]string, r.n())
		for i := range res {
			res[i] = outs[k%len(outs)]
			k++
		}
		return res
	}
}

func decodeJSON(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }
