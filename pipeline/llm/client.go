package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxResponseBytes bounds one response body. A chat completion of a few thousand tokens is tens
// of kilobytes; anything this large is a misbehaving server, not an answer.
const maxResponseBytes = 16 << 20

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// System, User and Assistant build messages.
func System(s string) Message    { return Message{Role: "system", Content: s} }
func User(s string) Message      { return Message{Role: "user", Content: s} }
func Assistant(s string) Message { return Message{Role: "assistant", Content: s} }

// Options override the Config for one Chat call. Zero values mean "use the config".
type Options struct {
	N           int      // choices wanted; 0: Config.N
	Greedy      bool     // temperature 0 (and top_p 1), whatever Temperature says
	Temperature *float64 // nil: Config.Temperature
	TopP        *float64 // nil: Config.TopP
	// MaxTokens is the call's own completion budget. It applies only while Config.MaxTokens is 0:
	// a budget the user set in the config wins over every call's (see Config.MaxTokens).
	MaxTokens int
	Stop      []string // nil: Config.Stop
	Seed      *int64   // nil: Config.Seed
}

// Ptr returns a pointer to v, for the optional fields of Options and Config.
func Ptr[T any](v T) *T { return &v }

// Usage is what one Chat call cost, and what the server said about the texts it returned.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	Requests         int // HTTP attempts, retries included
	Retries          int
	// MaxTokens is the max_tokens the requests carried; 0 when they carried none (the server's
	// default applied).
	MaxTokens int
	// Choices describes the returned texts, one entry per text in the same order.
	Choices []ChoiceInfo
}

// ChoiceInfo is what the server said about one returned text besides the text itself.
type ChoiceInfo struct {
	// FinishReason is why generation stopped: "stop", "length" (cut at max_tokens),
	// "content_filter", "tool_calls", ...; "" when the server did not say.
	FinishReason string
	// ReasoningChars is the length in bytes of the reasoning the server returned apart from the
	// content (vLLM's and DeepSeek's reasoning_content, or reasoning). Reasoning models served with
	// a reasoning parser put their thinking there, and a budget spent on it leaves content empty.
	ReasoningChars int
}

// Truncated reports whether the text was cut at the token limit.
func (c ChoiceInfo) Truncated() bool { return c.FinishReason == "length" }

func (u *Usage) add(o Usage) {
	u.PromptTokens += o.PromptTokens
	u.CompletionTokens += o.CompletionTokens
	u.Requests += o.Requests
	u.Retries += o.Retries
	u.MaxTokens = max(u.MaxTokens, o.MaxTokens)
	u.Choices = append(u.Choices, o.Choices...)
}

// Stats are a client's totals since it was made.
type Stats struct {
	Calls            int64 // Chat calls
	Failures         int64 // Chat calls that returned an error
	Requests         int64 // HTTP attempts
	Retries          int64 // attempts that were retries of a failed one
	PromptTokens     int64
	CompletionTokens int64
}

// APIError is a non-2xx answer (or a 2xx answer carrying an error object).
type APIError struct {
	StatusCode int
	Status     string // e.g. "400 Bad Request"
	Message    string // the server's message, or the start of its body when it sent no JSON error
	Type       string
	Code       string
	RetryAfter time.Duration // from Retry-After / retry-after-ms; 0 when absent
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "llm: HTTP %s", e.Status)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	var extra []string
	if e.Type != "" {
		extra = append(extra, "type "+e.Type)
	}
	if e.Code != "" {
		extra = append(extra, "code "+e.Code)
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(extra, ", "))
	}
	return b.String()
}

// Retryable reports whether the same request may succeed later: rate limits, request timeouts
// and server-side failures. Other 4xx are the request's fault and would fail again.
func (e *APIError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
}

// Fatal reports whether no request of the run can succeed until the configuration changes: the
// server refused the credentials (401, 403) or has no such endpoint or model (404). A 400 is not
// fatal: it usually concerns one request (a prompt over the context length).
func (e *APIError) Fatal() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusNotFound
}

// Is makes errors.Is(err, ErrFatal) true for fatal API errors.
func (e *APIError) Is(target error) bool { return target == ErrFatal && e.Fatal() }

// ErrFatal marks a failure that neither a retry nor any other request of the run can get past:
// the server refused the credentials (HTTP 401, 403), has no such endpoint or model (404), or
// the request could not be built (an API key with control characters in it). A caller that makes
// many calls should stop at the first one: errors.Is(err, llm.ErrFatal). The HTTP details are in
// the *APIError that errors.As finds in the same chain.
var ErrFatal = errors.New("llm: fatal (fix the llm configuration)")

// buildError is a request that could not be built: a local fault that no retry would fix.
type buildError struct{ err error }

func (e *buildError) Error() string        { return "llm: build request: " + e.err.Error() }
func (e *buildError) Unwrap() error        { return e.err }
func (e *buildError) Is(target error) bool { return target == ErrFatal }

// transportError is a failure to get a complete answer (connection refused or reset, a body cut
// short, the per-attempt timeout). Always worth a retry.
type transportError struct{ err error }

func (e *transportError) Error() string { return "llm: transport: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// Client is safe for concurrent use; all its calls share one concurrency limit.
type Client struct {
	cfg      Config
	endpoint string
	http     *http.Client
	sem      chan struct{}

	jitterMu sync.Mutex
	jitter   *rand.Rand

	calls, failures, requests, retries, promptTok, complTok atomic.Int64
}

// Option adjusts a Client at construction.
type Option func(*Client)

// WithHTTPClient replaces the HTTP client (its Timeout should be zero: Config.Timeout applies per
// attempt through the request context).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New validates cfg and makes a client.
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps 2 idle connections per host; with a concurrency limit of 16 that would
	// open and close connections all the time against a single vLLM server.
	tr.MaxIdleConnsPerHost = cfg.Concurrency
	c := &Client{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions",
		http:     &http.Client{Transport: tr},
		sem:      make(chan struct{}, cfg.Concurrency),
		jitter:   rand.New(rand.NewPCG(cfg.JitterSeed, 0x9e3779b97f4a7c15)),
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Config returns the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// Stats returns the running totals.
func (c *Client) Stats() Stats {
	return Stats{
		Calls:            c.calls.Load(),
		Failures:         c.failures.Load(),
		Requests:         c.requests.Load(),
		Retries:          c.retries.Load(),
		PromptTokens:     c.promptTok.Load(),
		CompletionTokens: c.complTok.Load(),
	}
}

type chatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature *float64  `json:"temperature,omitempty"`
	TopP        *float64  `json:"top_p,omitempty"`
	N           int       `json:"n,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Stop        []string  `json:"stop,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
}

// Chat asks for n completions of msgs and returns their texts in choice order, with what the call
// cost. Transient failures are retried (see Config); the error of a failed call names the HTTP
// status and the server's message.
//
// Servers that ignore `n` (Ollama does) or cap it answer with fewer choices than asked. Chat then
// sends further requests, as many as the observed per-request count requires, concurrently within
// the client's limit. When a seed is set, each further request's seed is offset by the index of
// its first choice: the same seed would otherwise make every "sample" the same text.
func (c *Client) Chat(ctx context.Context, msgs []Message, opt Options) ([]string, Usage, error) {
	c.calls.Add(1)
	out, u, err := c.chat(ctx, msgs, opt)
	if err != nil {
		c.failures.Add(1)
	}
	return out, u, err
}

func (c *Client) chat(ctx context.Context, msgs []Message, opt Options) ([]string, Usage, error) {
	var u Usage
	if len(msgs) == 0 {
		return nil, u, errors.New("llm: chat with no messages")
	}
	n := opt.N
	if n <= 0 {
		n = c.cfg.N
	}
	base := c.request(msgs, opt)
	first, fu, err := c.withRetries(ctx, base, n, 0)
	u.add(fu)
	if err != nil {
		return nil, u, err
	}
	out := first
	if len(out) >= n {
		return out[:n], u.firstChoices(n), nil
	}
	// Each request returns at least one choice (withRetries guarantees it), so this terminates;
	// per is the server's observed cap and only shrinks if a later answer is shorter still.
	per := len(first)
	for len(out) < n {
		missing := n - len(out)
		k := (missing + per - 1) / per
		type result struct {
			texts []string
			u     Usage
			err   error
		}
		res := make([]result, k)
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range k {
			want := min(per, missing-i*per)
			start := len(out) + i*per
			wg.Go(func() {
				t, ru, err := c.withRetries(rctx, base, want, start)
				if err != nil {
					cancel()
				}
				res[i] = result{t, ru, err}
			})
		}
		wg.Wait()
		cancel()
		var firstErr error
		for _, r := range res {
			u.add(r.u)
			if r.err != nil && (firstErr == nil || errors.Is(firstErr, context.Canceled)) {
				firstErr = r.err
			}
			if len(r.texts) < per {
				per = max(1, len(r.texts))
			}
			out = append(out, r.texts...)
		}
		if firstErr != nil {
			return nil, u, fmt.Errorf("llm: follow-up request for choices %d..%d of %d (server returned fewer than n): %w", len(out), n-1, n, firstErr)
		}
	}
	return out[:n], u.firstChoices(n), nil
}

// firstChoices keeps Choices in step with the texts when a server sent more than asked for.
func (u Usage) firstChoices(n int) Usage {
	if len(u.Choices) > n {
		u.Choices = u.Choices[:n]
	}
	return u
}

func (c *Client) request(msgs []Message, opt Options) chatRequest {
	r := chatRequest{Model: c.cfg.Model, Messages: msgs, MaxTokens: c.cfg.MaxTokens, Stop: c.cfg.Stop, Seed: c.cfg.Seed}
	temp, topP := c.cfg.Temperature, c.cfg.TopP
	if opt.Temperature != nil {
		temp = *opt.Temperature
	}
	if opt.TopP != nil {
		topP = *opt.TopP
	}
	if opt.Greedy {
		temp, topP = 0, 1
	}
	r.Temperature, r.TopP = &temp, &topP
	if r.MaxTokens == 0 && opt.MaxTokens > 0 {
		r.MaxTokens = opt.MaxTokens
	}
	if opt.Stop != nil {
		r.Stop = opt.Stop
	}
	if opt.Seed != nil {
		r.Seed = opt.Seed
	}
	return r
}

// withRetries sends req asking for n choices, retrying transient failures. seedOffset shifts the
// seed of follow-up requests (see Chat).
func (c *Client) withRetries(ctx context.Context, req chatRequest, n int, seedOffset int) ([]string, Usage, error) {
	u := Usage{MaxTokens: req.MaxTokens}
	if n > 1 {
		req.N = n
	} // n == 1 is left out: it is the protocol default and some models reject the field
	if req.Seed != nil && seedOffset != 0 {
		req.Seed = Ptr(*req.Seed + int64(seedOffset))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, u, fmt.Errorf("llm: encode request: %w", err)
	}
	for attempt := 0; ; attempt++ {
		u.Requests++
		c.requests.Add(1)
		texts, usage, err := c.once(ctx, body)
		u.PromptTokens += usage.PromptTokens
		u.CompletionTokens += usage.CompletionTokens
		c.promptTok.Add(int64(usage.PromptTokens))
		c.complTok.Add(int64(usage.CompletionTokens))
		if err == nil {
			u.Choices = usage.Choices
			return texts, u, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, u, fmt.Errorf("llm: %s: %w", c.endpoint, cerr)
		}
		var apiErr *APIError
		retryAfter := time.Duration(0)
		retryable := false
		var te *transportError
		switch {
		case errors.As(err, &apiErr):
			retryable = apiErr.Retryable()
			retryAfter = apiErr.RetryAfter
		case errors.As(err, &te):
			retryable = true
		}
		if !retryable {
			return nil, u, c.explain(err)
		}
		if attempt >= c.cfg.MaxRetries {
			return nil, u, fmt.Errorf("llm: giving up after %d attempts: %w", attempt+1, err)
		}
		wait := c.backoff(attempt, retryAfter)
		u.Retries++
		c.retries.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, u, fmt.Errorf("llm: waiting %v to retry after %v: %w", wait, err, ctx.Err())
		case <-t.C:
		}
	}
}

// explain prefixes a final error with what it means for this client's configuration, so that a
// refused key or a wrong URL reads as such and not as a generic failure.
func (c *Client) explain(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		key := "no API key sent: llm.api_key_env is empty"
		if c.cfg.APIKeyEnv != "" {
			if os.Getenv(c.cfg.APIKeyEnv) == "" {
				key = "no API key sent: $" + c.cfg.APIKeyEnv + " is unset or empty"
			} else {
				key = "API key from $" + c.cfg.APIKeyEnv
			}
		}
		return fmt.Errorf("llm: %s refused the credentials (%s): %w", c.endpoint, key, err)
	case http.StatusNotFound:
		return fmt.Errorf("llm: %s: no such endpoint or model (check llm.base_url, which includes /v1, and llm.model %q): %w", c.endpoint, c.cfg.Model, err)
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return fmt.Errorf("llm: %s rejected the request: %w", c.endpoint, err)
	}
	return err
}

// backoff is the wait before retry number attempt+1: exponential from BackoffBase, capped at
// BackoffMax, with "equal jitter" (half fixed, half random) so that many workers that failed
// together do not retry together. A server's Retry-After wins when it asks for longer, up to
// BackoffMax, so a misconfigured server cannot stall a run for hours; raise BackoffMax to wait
// longer.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := c.cfg.BackoffBase
	for i := 0; i < attempt && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.BackoffMax)
	c.jitterMu.Lock()
	j := time.Duration(c.jitter.Int64N(int64(d/2) + 1))
	c.jitterMu.Unlock()
	d = d/2 + j
	if retryAfter > d {
		d = min(retryAfter, c.cfg.BackoffMax)
	}
	return d
}

// once is one HTTP attempt. It holds a concurrency slot from sending the request until the body
// is read, and not while waiting to retry.
func (c *Client) once(ctx context.Context, body []byte) ([]string, Usage, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, Usage{}, ctx.Err()
	}
	defer func() { <-c.sem }()

	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, Usage{}, &buildError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.cfg.APIKeyEnv != "" {
		// A key from a secret store or a pasted one often keeps a trailing newline or spaces; sent
		// as is, the newline makes the header invalid and a space makes the token wrong.
		if key := strings.TrimSpace(os.Getenv(c.cfg.APIKeyEnv)); key != "" {
			if i := strings.IndexFunc(key, func(r rune) bool { return r < ' ' || r == 0x7f }); i >= 0 {
				return nil, Usage{}, &buildError{fmt.Errorf("$%s holds a control character at byte %d of the key; fix the variable", c.cfg.APIKeyEnv, i)}
			}
			req.Header.Set("Authorization", "Bearer "+key)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, Usage{}, c.attemptError(ctx, actx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, Usage{}, c.attemptError(ctx, actx, fmt.Errorf("read response: %w", err))
	}
	if len(raw) > maxResponseBytes {
		return nil, Usage{}, fmt.Errorf("llm: %s: response body over %d bytes", c.endpoint, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, Usage{}, newAPIError(resp, raw)
	}
	return decodeResponse(resp, raw)
}

// attemptError tells a per-attempt timeout (retryable) from the caller's cancellation (not).
func (c *Client) attemptError(parent, attempt context.Context, err error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	if errors.Is(attempt.Err(), context.DeadlineExceeded) {
		return &transportError{fmt.Errorf("%s: no complete answer within the %v timeout: %w", c.endpoint, c.cfg.Timeout, err)}
	}
	return &transportError{fmt.Errorf("%s: %w", c.endpoint, err)}
}

type chatResponse struct {
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent *string         `json:"reasoning_content"`
			Reasoning        *string         `json:"reasoning"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func decodeResponse(resp *http.Response, raw []byte) ([]string, Usage, error) {
	var cr chatResponse
	if err := json.Unmarshal(raw, &cr); err != nil {
		return nil, Usage{}, fmt.Errorf("llm: decode response (HTTP %s, body starts %q): %w", resp.Status, snippet(raw), err)
	}
	var u Usage
	if cr.Usage != nil {
		u.PromptTokens, u.CompletionTokens = cr.Usage.PromptTokens, cr.Usage.CompletionTokens
	}
	if len(cr.Error) > 0 && string(cr.Error) != "null" {
		e := &APIError{StatusCode: resp.StatusCode, Status: resp.Status}
		fillError(e, raw)
		return nil, u, e
	}
	if len(cr.Choices) == 0 {
		return nil, u, fmt.Errorf("llm: the server answered HTTP %s with an empty choices list, no completion (body starts %q)", resp.Status, snippet(raw))
	}
	sort.SliceStable(cr.Choices, func(i, j int) bool { return cr.Choices[i].Index < cr.Choices[j].Index })
	out := make([]string, len(cr.Choices))
	u.Choices = make([]ChoiceInfo, len(cr.Choices))
	for i, ch := range cr.Choices {
		s, err := contentText(ch.Message.Content)
		if err != nil {
			return nil, u, fmt.Errorf("llm: choice %d: message.content: %w", ch.Index, err)
		}
		out[i] = s
		if ch.FinishReason != nil {
			u.Choices[i].FinishReason = *ch.FinishReason
		}
		for _, r := range []*string{ch.Message.ReasoningContent, ch.Message.Reasoning} {
			if r != nil {
				u.Choices[i].ReasoningChars = max(u.Choices[i].ReasoningChars, len(*r))
			}
		}
	}
	return out, u, nil
}

// contentText accepts the string form of message.content, null (a refusal or tool call: no
// text), and the list-of-parts form some servers use.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("neither a string nor a list of parts: %s", snippet(raw))
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func newAPIError(resp *http.Response, raw []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, Status: resp.Status, RetryAfter: parseRetryAfter(resp.Header, time.Now())}
	if e.Status == "" {
		e.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	fillError(e, raw)
	return e
}

// fillError reads the error shapes in use: OpenAI and Ollama {"error": {"message", "type",
// "code"}}, older vLLM {"object": "error", "message", "type", "code"}, {"error": "text"}, and
// FastAPI's {"detail": ...}. Anything else is quoted as the start of the body.
func fillError(e *APIError, raw []byte) {
	var body struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(raw, &body) != nil {
		e.Message = snippet(raw)
		return
	}
	var obj struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	var str string
	switch {
	case len(body.Error) > 0 && json.Unmarshal(body.Error, &obj) == nil && obj.Message != "":
		e.Message, e.Type, e.Code = obj.Message, obj.Type, rawCode(obj.Code)
	case len(body.Error) > 0 && json.Unmarshal(body.Error, &str) == nil:
		e.Message = str
	case body.Message != "":
		e.Message, e.Type, e.Code = body.Message, body.Type, rawCode(body.Code)
	case len(body.Detail) > 0:
		if json.Unmarshal(body.Detail, &str) == nil {
			e.Message = str
		} else {
			e.Message = snippet(body.Detail)
		}
	default:
		e.Message = snippet(raw)
	}
}

func rawCode(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
