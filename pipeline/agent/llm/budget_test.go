package llmpolicy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/llm"
)

// rawLLM answers every request with body and counts the requests' max_tokens.
func rawLLM(t *testing.T, body string, maxTokens int) (*llm.Client, *[]int) {
	t.Helper()
	var seen []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req fakeReq
		_ = decodeJSON(r, &req)
		seen = append(seen, req.MaxTokens)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	cfg := llm.DefaultConfig()
	cfg.BaseURL, cfg.Model, cfg.APIKeyEnv, cfg.MaxTokens = srv.URL+"/v1", "fake", "", maxTokens
	cfg.BackoffBase, cfg.BackoffMax, cfg.Timeout = time.Millisecond, 10*time.Millisecond, 5*time.Second
	c, err := llm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, &seen
}

// A completion without an action fails with a reason that says what happened, so that the user
// knows whether to raise the budget, fix the prompt or the server.
func TestActNoActionSaysWhy(t *testing.T) {
	choice := func(content, extra, finish string) string {
		return fmt.Sprintf(`{"choices":[{"index":0,"message":{"role":"assistant","content":%s%s},"finish_reason":%q}]}`, content, extra, finish)
	}
	for _, tc := range []struct {
		name      string
		body      string
		maxTokens int // llm.max_tokens
		want      []string
		not       []string
	}{
		{"reasoning model out of budget", choice("null", `,"reasoning_content":"Let me think about 4 9 10 13"`, "length"), 0,
			[]string{"cut at max_tokens 256", "finish_reason length", "0 bytes of content", "28 bytes of reasoning_content", "raise llm.max_tokens"}, nil},
		{"user budget", choice("null", `,"reasoning_content":"hm"`, "length"), 1024,
			[]string{"cut at max_tokens 1024", "raise llm.max_tokens"}, nil},
		{"think block cut", choice(`"<think>\nFirst 13 - 9 = 4 (left: 4 4 10) then"`, "", "length"), 0,
			[]string{"cut at max_tokens 256", "never closed", "raise llm.max_tokens"}, nil},
		{"empty", choice(`""`, "", "stop"), 0,
			[]string{"empty completion (finish_reason stop)"}, []string{"raise", "server down"}},
		{"prose", choice(`"I cannot help with that."`, "", "stop"), 0,
			[]string{"no usable action", "no line looks like a Game of 24 step", "I cannot help with that."}, []string{"raise", "empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, seen := rawLLM(t, tc.body, tc.maxTokens)
			_, err := New(c, Config{ParseRetries: -1}).Act(context.Background(), game24State(), agent.ActOptions{N: 1})
			if !errors.Is(err, ErrNoAction) {
				t.Fatalf("error %v, want ErrNoAction", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q says %q", err, w)
				}
			}
			if want := max(tc.maxTokens, 256); len(*seen) != 1 || (*seen)[0] != want {
				t.Errorf("requests' max_tokens %v, want [%d]", *seen, want)
			}
		})
	}
}

// llm.max_tokens, once set, is what every kind of request carries; unset, each call's own budget.
func TestMaxTokensReachesEveryCall(t *testing.T) {
	for _, tc := range []struct {
		cfg  int
		want map[string]int
	}{
		{0, map[string]int{"act": 256, "refine": 160, "wrong": 160, "reflect": 200}},
		{999, map[string]int{"act": 999, "refine": 999, "wrong": 999, "reflect": 999}},
		{64, map[string]int{"act": 64, "refine": 64, "wrong": 64, "reflect": 64}},
	} {
		t.Run(fmt.Sprint(tc.cfg), func(t *testing.T) {
			f, c := newFakeLLMConfig(t, func(r fakeReq, _ int) []string {
				switch u := r.user(); {
				case strings.Contains(u, "WRONG answers"):
					return []string{"wrong_arithmetic: Answer: 4 * 10 - 13 - 9 = 24"}
				case strings.Contains(u, "Write the task instruction"):
					return []string{"buy a green scarf"}
				case strings.Contains(u, "did not complete the task"):
					return []string{"Clean the mug first."}
				}
				return []string{"10 - 4 = 6 (left: 4 6)"}
			}, func(cfg *llm.Config) { cfg.MaxTokens = tc.cfg })
			ctx := context.Background()
			got := map[string]int{}
			step := func(name string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				rs := f.requests()
				got[name] = rs[len(rs)-1].MaxTokens
			}
			_, err := New(c, Config{}).Act(ctx, game24State(), agent.ActOptions{N: 1})
			step("act", err)
			_, err = RefineInstruction(ctx, c, "shop", shopTraj)
			step("refine", err)
			_, err = Game24WrongAnswers(ctx, c, "4 9 10 13", []string{KindArithmetic}, 1)
			step("wrong", err)
			_, err = Reflect(ctx, c, nil, shopTraj, -1)
			step("reflect", err)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("max_tokens per call %v, want %v", got, tc.want)
			}
		})
	}
}
