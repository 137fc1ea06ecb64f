package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer speaks the chat-completions protocol; answer decides each response from the decoded
// request and the 0-based request number.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []chatRequest
	headers  []http.Header
	count    atomic.Int64
}

type answerFunc func(w http.ResponseWriter, r *http.Request, req chatRequest, i int)

func newFake(t testing.TB, answer answerFunc) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.Error(w, "not found: "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		var req chatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.headers = append(f.headers, r.Header.Clone())
		f.mu.Unlock()
		answer(w, r, req, int(f.count.Add(1)-1))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) reqs() []chatRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]chatRequest(nil), f.requests...)
}

// writeChoices answers with k choices whose texts are prefix+index, and a usage block.
func writeChoices(w http.ResponseWriter, prefix string, k int) {
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	type choice struct {
		Index        int    `json:"index"`
		Message      msg    `json:"message"`
		FinishReason string `json:"finish_reason"`
	}
	resp := struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Choices []choice `json:"choices"`
		Usage   any      `json:"usage"`
	}{ID: "chatcmpl-1", Object: "chat.completion", Usage: map[string]int{"prompt_tokens": 10, "completion_tokens": 3 * k, "total_tokens": 10 + 3*k}}
	// Reverse order on the wire: the client must sort by index.
	for i := k - 1; i >= 0; i-- {
		resp.Choices = append(resp.Choices, choice{Index: i, Message: msg{"assistant", fmt.Sprintf("%s%d", prefix, i)}, FinishReason: "stop"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func testConfig(url string) Config {
	c := DefaultConfig()
	c.BaseURL = url + "/v1/"
	c.Model = "test-model"
	c.APIKeyEnv = ""
	c.BackoffBase = time.Millisecond
	c.BackoffMax = 20 * time.Millisecond
	c.Timeout = 5 * time.Second
	return c
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var msgs = []Message{System("be brief"), User("hello")}

func TestChatSuccessN(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatRequest, _ int) {
		writeChoices(w, "c", max(req.N, 1))
	})
	cfg := testConfig(f.URL)
	cfg.Stop = []string{"\nObservation"}
	cfg.Seed = Ptr(int64(42))
	c := newClient(t, cfg)
	out, u, err := c.Chat(context.Background(), msgs, Options{N: 3, MaxTokens: 77})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"c0", "c1", "c2"}; !reflect.DeepEqual(out, want) {
		t.Fatalf("choices %q, want %q", out, want)
	}
	if want := (Usage{PromptTokens: 10, CompletionTokens: 9, Requests: 1, MaxTokens: 77,
		Choices: []ChoiceInfo{{FinishReason: "stop"}, {FinishReason: "stop"}, {FinishReason: "stop"}}}); !reflect.DeepEqual(u, want) {
		t.Fatalf("usage %+v", u)
	}
	rs := f.reqs()
	if len(rs) != 1 {
		t.Fatalf("%d requests, want 1", len(rs))
	}
	r := rs[0]
	if r.Model != "test-model" || r.N != 3 || r.MaxTokens != 77 || *r.Temperature != 0.7 || *r.TopP != 1 ||
		*r.Seed != 42 || !reflect.DeepEqual(r.Stop, cfg.Stop) || !reflect.DeepEqual(r.Messages, msgs) {
		t.Fatalf("request %+v", r)
	}
	st := c.Stats()
	if st != (Stats{Calls: 1, Requests: 1, PromptTokens: 10, CompletionTokens: 9}) {
		t.Fatalf("stats %+v", st)
	}

	// Greedy forces temperature 0 and n == 1 is left out of the body.
	if _, _, err := c.Chat(context.Background(), msgs, Options{Greedy: true, Temperature: Ptr(1.3)}); err != nil {
		t.Fatal(err)
	}
	r = f.reqs()[1]
	if *r.Temperature != 0 || *r.TopP != 1 || r.N != 0 {
		t.Fatalf("greedy request temperature %v top_p %v n %d", *r.Temperature, *r.TopP, r.N)
	}
}

func TestChatServerCapsN(t *testing.T) {
	for _, tc := range []struct {
		name         string
		cap, n       int
		wantRequests int
	}{
		{"ignores n", 1, 4, 4},
		{"caps at 2", 2, 5, 3},
		{"caps at 3, n=3", 3, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seq atomic.Int64
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatRequest, _ int) {
				k := min(max(req.N, 1), tc.cap)
				writeChoices(w, fmt.Sprintf("r%d-", seq.Add(1)), k)
			})
			cfg := testConfig(f.URL)
			cfg.Seed = Ptr(int64(100))
			c := newClient(t, cfg)
			out, u, err := c.Chat(context.Background(), msgs, Options{N: tc.n})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != tc.n || u.Requests != tc.wantRequests {
				t.Fatalf("got %d choices in %d requests (%q), want %d in %d", len(out), u.Requests, out, tc.n, tc.wantRequests)
			}
			seen := map[string]bool{}
			for _, s := range out {
				if seen[s] {
					t.Fatalf("duplicate choice %q: follow-up requests were not distinct", s)
				}
				seen[s] = true
			}
			seeds := map[int64]bool{}
			for _, r := range f.reqs() {
				if seeds[*r.Seed] {
					t.Fatalf("seed %d sent twice; samples would repeat", *r.Seed)
				}
				seeds[*r.Seed] = true
			}
			if !seeds[100] {
				t.Fatalf("first request did not carry the configured seed: %v", seeds)
			}
		})
	}
}

func TestRetryAfter429ThenSuccess(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, i int) {
		if i == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`))
			return
		}
		writeChoices(w, "ok", 1)
	})
	cfg := testConfig(f.URL)
	cfg.BackoffMax = 2 * time.Second // room for the server's 1 s
	c := newClient(t, cfg)
	start := time.Now()
	out, u, err := c.Chat(context.Background(), msgs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 950*time.Millisecond {
		t.Fatalf("retried after %v, server asked for 1 s", el)
	}
	if out[0] != "ok0" || u.Requests != 2 || u.Retries != 1 {
		t.Fatalf("out %q usage %+v", out, u)
	}
	if st := c.Stats(); st.Retries != 1 || st.Failures != 0 || st.Requests != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerErrorsUntilRetriesExhausted(t *testing.T) {
	codes := []int{500, 502, 503}
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, i int) {
		w.WriteHeader(codes[i%len(codes)])
		fmt.Fprintf(w, `{"error":{"message":"engine overloaded #%d","type":"server_error"}}`, i)
	})
	cfg := testConfig(f.URL)
	cfg.MaxRetries = 3
	c := newClient(t, cfg)
	_, u, err := c.Chat(context.Background(), msgs, Options{})
	if err == nil {
		t.Fatal("want an error")
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Message != "engine overloaded #3" {
		t.Fatalf("error %v (%#v), want the last attempt's 500", err, ae)
	}
	if !strings.Contains(err.Error(), "4 attempts") {
		t.Fatalf("error %q does not say how many attempts", err)
	}
	if u.Requests != 4 || u.Retries != 3 || f.count.Load() != 4 {
		t.Fatalf("usage %+v, server saw %d", u, f.count.Load())
	}
	if st := c.Stats(); st.Failures != 1 || st.Calls != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       int
		want       []string
	}{
		{"openai", `{"error":{"message":"This model's maximum context length is 4096 tokens","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			400, []string{"400 Bad Request", "maximum context length is 4096", "invalid_request_error", "context_length_exceeded"}},
		{"vllm-old", `{"object":"error","message":"The model does not exist.","type":"NotFoundError","param":null,"code":404}`,
			404, []string{"404 Not Found", "The model does not exist.", "NotFoundError", "code 404"}},
		{"string error", `{"error":"model \"x\" not found, try pulling it first"}`, 404, []string{"404", `model "x" not found`}},
		{"fastapi detail", `{"detail":[{"loc":["body","messages"],"msg":"field required"}]}`, 422, []string{"422", "field required"}},
		{"plain text", "Unauthorized", 401, []string{"401 Unauthorized", ": Unauthorized"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, _ int) {
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte(tc.body))
			})
			c := newClient(t, testConfig(f.URL))
			_, u, err := c.Chat(context.Background(), msgs, Options{})
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != tc.code || ae.Retryable() {
				t.Errorf("error %#v", ae)
			}
			if u.Requests != 1 || f.count.Load() != 1 {
				t.Errorf("%d requests for a %d, want no retry", f.count.Load(), tc.code)
			}
		})
	}
}

func TestBadResponseBodies(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
		choices          []string
	}{
		{"malformed", `{"choices": [{"index": 0, "message": {"content": "hi"`, "decode response", nil},
		{"not json", `<html>gateway</html>`, "decode response", nil},
		{"no choices", `{"choices": []}`, "empty choices list", nil},
		{"error in 200", `{"error": {"message": "prompt blocked", "type": "policy"}}`, "prompt blocked", nil},
		{"content number", `{"choices": [{"index": 0, "message": {"content": 5}}]}`, "message.content", nil},
		{"null content", `{"choices": [{"index": 0, "message": {"content": null}}]}`, "", []string{""}},
		{"content parts", `{"choices": [{"index": 0, "message": {"content": [{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}`, "", []string{"ab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, _ int) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tc.body))
			})
			c := newClient(t, testConfig(f.URL))
			out, _, err := c.Chat(context.Background(), msgs, Options{})
			if tc.want == "" {
				if err != nil || !reflect.DeepEqual(out, tc.choices) {
					t.Fatalf("got %q, %v; want %q", out, err, tc.choices)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
			if f.count.Load() != 1 {
				t.Fatalf("%d requests: a well-formed but wrong answer must not be retried", f.count.Load())
			}
		})
	}
}

// blockUntilGone answers only when the client goes away (or after a long safety delay).
func blockUntilGone(_ http.ResponseWriter, r *http.Request, _ chatRequest, _ int) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func TestSlowServerTimesOut(t *testing.T) {
	f := newFake(t, blockUntilGone)
	cfg := testConfig(f.URL)
	cfg.Timeout = 60 * time.Millisecond
	cfg.MaxRetries = 2
	c := newClient(t, cfg)
	start := time.Now()
	_, u, err := c.Chat(context.Background(), msgs, Options{})
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %v with a 60 ms per-attempt timeout", el)
	}
	if err == nil || !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("error %v", err)
	}
	if u.Requests != 3 {
		t.Fatalf("usage %+v: timeouts are transient and should be retried", u)
	}
}

func TestContextCancellation(t *testing.T) {
	t.Run("during request", func(t *testing.T) {
		f := newFake(t, blockUntilGone)
		c := newClient(t, testConfig(f.URL))
		ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, u, err := c.Chat(ctx, msgs, Options{})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
		if u.Requests != 1 {
			t.Fatalf("the caller's deadline must not be retried: %+v", u)
		}
	})
	t.Run("during backoff", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, _ int) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		cfg := testConfig(f.URL)
		cfg.BackoffMax = time.Minute
		c := newClient(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, _, err := c.Chat(ctx, msgs, Options{})
		if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
		if !strings.Contains(err.Error(), "503") {
			t.Fatalf("error %q should say what it was waiting to retry", err)
		}
	})
	t.Run("waiting for a slot", func(t *testing.T) {
		f := newFake(t, blockUntilGone)
		cfg := testConfig(f.URL)
		cfg.Concurrency = 1
		c := newClient(t, cfg)
		bg, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _, _, _ = c.Chat(bg, msgs, Options{}); close(done) }()
		for f.count.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, _, err := c.Chat(ctx, msgs, Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if f.count.Load() != 1 {
			t.Fatalf("second call reached the server past the limit")
		}
		stop()
		<-done
	})
}

func TestTransportErrorIsRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, i int) {
		if i == 0 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close() // the connection dies before any answer
			}
			return
		}
		writeChoices(w, "after-reset", 1)
	})
	c := newClient(t, testConfig(f.URL))
	out, u, err := c.Chat(context.Background(), msgs, Options{})
	if err != nil || out[0] != "after-reset0" || u.Retries != 1 {
		t.Fatalf("out %q usage %+v err %v", out, u, err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	const limit = 3
	var inflight, peak atomic.Int64
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, req chatRequest, _ int) {
		cur := inflight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(40 * time.Millisecond)
		inflight.Add(-1)
		writeChoices(w, "x", 1) // ignores n, so calls with n > 1 fan out into follow-ups
	})
	cfg := testConfig(f.URL)
	cfg.Concurrency = limit
	c := newClient(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			out, _, err := c.Chat(context.Background(), msgs, Options{N: 1 + i%3})
			if err == nil && len(out) != 1+i%3 {
				err = fmt.Errorf("call %d: %d choices", i, len(out))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p != limit {
		t.Fatalf("peak concurrent requests %d, want exactly the limit %d", p, limit)
	}
	if st := c.Stats(); st.Requests != 15 || st.Calls != 8 {
		t.Fatalf("stats %+v, want 15 requests (n = 1,2,3,1,2,3,1,2) for 8 calls", st)
	}
}

func TestAuthHeaderFromEnv(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest, _ int) { writeChoices(w, "a", 1) })
	cfg := testConfig(f.URL)
	cfg.APIKeyEnv = "ARMAP_TEST_LLM_KEY"
	c := newClient(t, cfg)

	t.Setenv("ARMAP_TEST_LLM_KEY", "sk-first")
	if _, _, err := c.Chat(context.Background(), msgs, Options{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ARMAP_TEST_LLM_KEY", "sk-rotated")
	if _, _, err := c.Chat(context.Background(), msgs, Options{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ARMAP_TEST_LLM_KEY", "")
	if _, _, err := c.Chat(context.Background(), msgs, Options{}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	got := []string{f.headers[0].Get("Authorization"), f.headers[1].Get("Authorization"), f.headers[2].Get("Authorization")}
	if want := []string{"Bearer sk-first", "Bearer sk-rotated", ""}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Authorization headers %q, want %q", got, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		h    map[string]string
		want time.Duration
	}{
		{map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond},
		{map[string]string{"Retry-After": now.Add(7 * time.Second).Format(http.TimeFormat)}, 7 * time.Second},
		{map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{map[string]string{"Retry-After": "soon"}, 0},
		{map[string]string{"Retry-After": "-4"}, 0},
		{map[string]string{"Retry-After": "3", "Retry-After-Ms": "250"}, 250 * time.Millisecond},
		{map[string]string{}, 0},
	} {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		if got := parseRetryAfter(h, now); got != tc.want {
			t.Errorf("%v: got %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	cfg := testConfig("http://localhost")
	cfg.BackoffBase = 100 * time.Millisecond
	cfg.BackoffMax = time.Second
	c := newClient(t, cfg)
	for attempt, full := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		full *= time.Millisecond
		for range 50 {
			d := c.backoff(attempt, 0)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: wait %v outside [%v, %v]", attempt, d, full/2, full)
			}
		}
	}
	if d := c.backoff(0, 700*time.Millisecond); d != 700*time.Millisecond {
		t.Fatalf("Retry-After 700ms gave %v", d)
	}
	if d := c.backoff(0, time.Hour); d != time.Second {
		t.Fatalf("Retry-After 1h gave %v, want it capped at backoff_max", d)
	}
	// Same jitter seed, same waits.
	a, b := newClient(t, cfg), newClient(t, cfg)
	for i := range 10 {
		if x, y := a.backoff(i%4, 0), b.backoff(i%4, 0); x != y {
			t.Fatalf("jitter differs for the same seed: %v vs %v", x, y)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Model = "m"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config with a model: %v", err)
	}
	if err := DefaultConfig().Validate(); err == nil || !strings.Contains(err.Error(), "model") {
		t.Fatalf("empty model: %v", err)
	}
	for _, tc := range []struct {
		key string
		mut func(*Config)
	}{
		{"base_url", func(c *Config) { c.BaseURL = "localhost:8000" }},
		{"temperature", func(c *Config) { c.Temperature = 3 }},
		{"top_p", func(c *Config) { c.TopP = 0 }},
		{"n", func(c *Config) { c.N = 0 }},
		{"max_tokens", func(c *Config) { c.MaxTokens = -1 }},
		{"timeout", func(c *Config) { c.Timeout = 0 }},
		{"max_retries", func(c *Config) { c.MaxRetries = -1 }},
		{"backoff_base", func(c *Config) { c.BackoffBase = 0 }},
		{"backoff_max", func(c *Config) { c.BackoffMax = time.Millisecond }},
		{"concurrency", func(c *Config) { c.Concurrency = 0 }},
	} {
		c := ok
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "llm config "+tc.key+":") {
			t.Errorf("%s: error %v", tc.key, err)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted an invalid config", tc.key)
		}
	}
	// Every field is reachable from viper.
	rt := reflect.TypeOf(Config{})
	for i := range rt.NumField() {
		if rt.Field(i).Tag.Get("mapstructure") == "" {
			t.Errorf("Config.%s has no mapstructure tag", rt.Field(i).Name)
		}
	}
}

func TestNoMessages(t *testing.T) {
	c := newClient(t, testConfig("http://127.0.0.1:1"))
	if _, _, err := c.Chat(context.Background(), nil, Options{}); err == nil {
		t.Fatal("want an error for an empty conversation")
	}
}
