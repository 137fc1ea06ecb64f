package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A user-set llm.max_tokens must reach every request whatever budget the call asks for; left at 0
// each call's own budget applies.
func TestMaxTokensPrecedence(t *testing.T) {
	for _, tc := range []struct {
		cfg, opt, want int
	}{
		{0, 0, 0},
		{0, 77, 77},
		{1000, 77, 1000},
		{1000, 0, 1000},
		{40, 256, 40},
	} {
		t.Run(fmt.Sprintf("cfg%d_opt%d", tc.cfg, tc.opt), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatRequest, _ int) { writeChoices(w, "a", 1) })
			cfg := testConfig(f.URL)
			cfg.MaxTokens = tc.cfg
			c := newClient(t, cfg)
			_, u, err := c.Chat(context.Background(), msgs, Options{MaxTokens: tc.opt})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.reqs()[0].MaxTokens; got != tc.want || u.MaxTokens != tc.want {
				t.Fatalf("request max_tokens %d, Usage.MaxTokens %d; want %d", got, u.MaxTokens, tc.want)
			}
		})
	}
	if d := DefaultConfig().MaxTokens; d != 0 {
		t.Fatalf("default max_tokens %d: a non-zero default cannot be told from a user's value", d)
	}
}

// A reasoning model that spends its budget thinking answers content null with the thinking apart;
// the client must say so instead of returning a bare "".
func TestFinishReasonAndReasoning(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		texts      []string
		want       []ChoiceInfo
	}{
		{"cut while thinking", `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"Let me think"},"finish_reason":"length"}]}`,
			[]string{""}, []ChoiceInfo{{FinishReason: "length", ReasoningChars: 12}}},
		{"reasoning field", `{"choices":[{"index":0,"message":{"content":"go","reasoning":"abc"},"finish_reason":"stop"}]}`,
			[]string{"go"}, []ChoiceInfo{{FinishReason: "stop", ReasoningChars: 3}}},
		{"no finish reason", `{"choices":[{"index":1,"message":{"content":"b"}},{"index":0,"message":{"content":"a"},"finish_reason":"length"}]}`,
			[]string{"a", "b"}, []ChoiceInfo{{FinishReason: "length"}, {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, _ int) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.body))
			})
			c := newClient(t, testConfig(f.URL))
			out, u, err := c.Chat(context.Background(), msgs, Options{N: len(tc.texts)})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out, tc.texts) || !reflect.DeepEqual(u.Choices, tc.want) {
				t.Fatalf("texts %q choices %+v; want %q %+v", out, u.Choices, tc.texts, tc.want)
			}
			if u.Choices[0].Truncated() != (tc.want[0].FinishReason == "length") {
				t.Fatalf("Truncated() = %v for %q", u.Choices[0].Truncated(), tc.want[0].FinishReason)
			}
		})
	}
}

// Choices stay in step with the texts across follow-up requests to a server that ignores n.
func TestChoiceInfoAcrossFollowUps(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, i int) {
		w.Header().Set("Content-Type", "application/json")
		fin := []string{"stop", "length", "stop"}[i%3]
		fmt.Fprintf(w, `{"choices":[{"index":0,"message":{"content":"t%d"},"finish_reason":%q}]}`, i, fin)
	})
	c := newClient(t, testConfig(f.URL))
	out, u, err := c.Chat(context.Background(), msgs, Options{N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || len(u.Choices) != 3 {
		t.Fatalf("%d texts, %d choice infos", len(out), len(u.Choices))
	}
	// Follow-ups run concurrently, so which text got which reason is known only through the text.
	for i, s := range out {
		var k int
		if _, err := fmt.Sscanf(s, "t%d", &k); err != nil {
			t.Fatal(err)
		}
		if want := []string{"stop", "length", "stop"}[k%3]; u.Choices[i].FinishReason != want {
			t.Fatalf("text %q has finish reason %q, want %q", s, u.Choices[i].FinishReason, want)
		}
	}
}

func TestAPIKeyTrimmed(t *testing.T) {
	for _, tc := range []struct{ name, key, want string }{
		{"trailing newline", "sk-abc\n", "Bearer sk-abc"},
		{"spaces", "  sk-abc  ", "Bearer sk-abc"},
		{"crlf", "sk-abc\r\n", "Bearer sk-abc"},
		{"blank", " \n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, _ int) { writeChoices(w, "a", 1) })
			cfg := testConfig(f.URL)
			cfg.APIKeyEnv = "ARMAP_TEST_LLM_KEY"
			t.Setenv(cfg.APIKeyEnv, tc.key)
			c := newClient(t, cfg)
			if _, _, err := c.Chat(context.Background(), msgs, Options{}); err != nil {
				t.Fatal(err)
			}
			if got := f.headers[0].Get("Authorization"); got != tc.want {
				t.Fatalf("Authorization %q, want %q", got, tc.want)
			}
		})
	}
}

// A key no header can carry is a local fault: reported at once as fatal, never retried, never sent.
func TestBadAPIKeyIsFatalAndNotRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, _ int) { writeChoices(w, "a", 1) })
	cfg := testConfig(f.URL)
	cfg.APIKeyEnv = "ARMAP_TEST_LLM_KEY"
	cfg.BackoffBase, cfg.BackoffMax = time.Second, 10*time.Second // a retry would show in the time
	t.Setenv(cfg.APIKeyEnv, "sk-abc\nsk-def")
	c := newClient(t, cfg)
	start := time.Now()
	_, u, err := c.Chat(context.Background(), msgs, Options{})
	if err == nil {
		t.Fatal("want an error")
	}
	if !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "$ARMAP_TEST_LLM_KEY") || strings.Contains(err.Error(), "sk-") {
		t.Fatalf("error %q: want fatal, naming the variable and not the key", err)
	}
	if u.Requests != 1 || u.Retries != 0 || f.count.Load() != 0 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("usage %+v, server saw %d, took %v: a build error must not be retried", u, f.count.Load(), time.Since(start))
	}
}

func TestFatalErrors(t *testing.T) {
	for _, tc := range []struct {
		code  int
		fatal bool
		says  string
	}{
		{401, true, "refused the credentials"},
		{403, true, "refused the credentials"},
		{404, true, "no such endpoint or model"},
		{400, false, "rejected the request"},
		{422, false, "rejected the request"},
		{429, false, "429"},
		{500, false, "500"},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, _ int) {
				w.WriteHeader(tc.code)
				fmt.Fprintf(w, `{"error":{"message":"fake %d"}}`, tc.code)
			})
			cfg := testConfig(f.URL)
			cfg.MaxRetries = 1
			c := newClient(t, cfg)
			_, _, err := c.Chat(context.Background(), msgs, Options{})
			if err == nil {
				t.Fatal("want an error")
			}
			var ae *APIError
			if errors.Is(err, ErrFatal) != tc.fatal || !errors.As(err, &ae) || ae.Fatal() != tc.fatal || ae.StatusCode != tc.code {
				t.Fatalf("error %q: errors.Is(ErrFatal) = %v, want %v", err, errors.Is(err, ErrFatal), tc.fatal)
			}
			if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), fmt.Sprintf("fake %d", tc.code)) {
				t.Fatalf("error %q lacks %q or the server's message", err, tc.says)
			}
			if strings.Contains(err.Error(), "server down") {
				t.Fatalf("error %q", err)
			}
		})
	}
}
