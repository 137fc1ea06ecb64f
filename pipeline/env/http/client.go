package httpenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/armap/armap/internal/textclip"
	"github.com/armap/armap/pipeline/env"
)

// Options configure the client.
type Options struct {
	// BaseURL is the server's root, e.g. "http://localhost:3000" or "http://host/alfworld".
	BaseURL string
	// Name is what Name() reports (default "http"); set it to the remote env's kind ("alfworld")
	// when trajectories should carry that name.
	Name string
	// Timeout bounds each HTTP attempt (default 30 s). The caller's context bounds the whole call.
	Timeout time.Duration
	// CloseTimeout bounds Close (default: Timeout, at most 2 s). Close makes one attempt, with no
	// retries: it runs at shutdown, often after Ctrl-C, where a hung server must not hold the
	// process for Timeout times the retries per worker. A session it fails to end stays open on
	// the server until the server drops it.
	CloseTimeout time.Duration
	// Retries is how many times a transient failure is retried (default 3; -1 for none).
	Retries int
	// Backoff is the first wait before a retry (default 200 ms); it doubles up to MaxBackoff
	// (default 5 s). A Retry-After header on 429/503 replaces it, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Header is added to every request (an Authorization header, for example).
	Header http.Header
	// Client is the HTTP client (default: a new client with no overall timeout, as Timeout and
	// the context do that job per attempt).
	Client *http.Client
}

func (o Options) withDefaults() (Options, error) {
	if o.BaseURL == "" {
		return o, errors.New("httpenv: BaseURL is empty")
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("httpenv: BaseURL %q is not an http(s) URL", o.BaseURL)
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.Name == "" {
		o.Name = "http"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = min(o.Timeout, 2*time.Second)
	}
	if o.Retries == 0 {
		o.Retries = 3
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Backoff == 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	return o, nil
}

// Sentinel errors for protocol codes (besides env.ErrNoTask and env.ErrDone); test with errors.Is.
var (
	ErrUnknownSession  = errors.New("httpenv: unknown session")
	ErrUnknownSnapshot = errors.New("httpenv: unknown snapshot")
)

// Error is a failed request: the endpoint, the HTTP status (0 when no answer came) and the
// server's message and code.
type Error struct {
	Method, URL string
	Status      int
	Code        string
	Message     string // the server's message, clipped to its first 200 bytes
	Attempts    int
	Err         error // the transport or decoding error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "httpenv: %s %s", e.Method, e.URL)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap lets errors.Is match env.ErrNoTask, env.ErrDone, ErrUnknownSession, ErrUnknownSnapshot
// and context errors.
func (e *Error) Unwrap() []error {
	var out []error
	switch e.Code {
	case CodeNoTask:
		out = append(out, env.ErrNoTask)
	case CodeEpisodeDone:
		out = append(out, env.ErrDone)
	case CodeUnknownSession:
		out = append(out, ErrUnknownSession)
	case CodeUnknownSnapshot:
		out = append(out, ErrUnknownSnapshot)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Env is the client side: an env.Env whose episodes run on the server. Not safe for concurrent
// use; make one per worker (they may share one server).
type Env struct {
	opt     Options
	info    Info
	session string

	// The client keeps what it needs between calls so Admissible costs no request.
	started    bool
	done       bool
	seq        int
	admissible []string
}

var _ env.Env = (*Env)(nil)

// New connects to the server (GET /info) and returns an Env with no session yet; the first Reset
// or Restore opens one.
func New(ctx context.Context, opt Options) (*Env, error) {
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Env{opt: o}
	if err := e.call(ctx, http.MethodGet, "/info", nil, &e.info); err != nil {
		return nil, err
	}
	if e.info.Protocol > ProtocolVersion {
		return nil, fmt.Errorf("httpenv: %s speaks protocol %d, this client %d", o.BaseURL, e.info.Protocol, ProtocolVersion)
	}
	if err := e.info.check(); err != nil {
		return nil, fmt.Errorf("httpenv: GET %s/info: %w", o.BaseURL, err)
	}
	return e, nil
}

// NewFactory gives an env.Factory; each instance checks the server with GET /info within
// Options.Timeout.
func NewFactory(opt Options) env.Factory {
	return func() (env.Env, error) {
		o, err := opt.withDefaults()
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.Timeout*time.Duration(o.Retries+1)+o.MaxBackoff*time.Duration(o.Retries))
		defer cancel()
		return New(ctx, opt)
	}
}

// Info is the server's GET /info answer.
func (e *Env) Info() Info { return e.info }

// Session is the server's id of this client's session ("" before the first Reset or Restore).
func (e *Env) Session() string { return e.session }

// Name implements env.Env.
func (e *Env) Name() string { return e.opt.Name }

// NumTasks implements env.Env.
func (e *Env) NumTasks() int { return e.info.NumTasks }

// MaxSteps implements env.StepLimit with the server's /info max_steps (0 when it does not say).
func (e *Env) MaxSteps() int { return e.info.MaxSteps }

// Reset implements env.Env.
func (e *Env) Reset(ctx context.Context, task int) (env.Observation, error) {
	var resp resetResponse
	err := e.call(ctx, http.MethodPost, "/reset", resetRequest{Session: e.session, Task: task}, &resp)
	if errors.Is(err, ErrUnknownSession) {
		// The server lost the session (restart, expiry). A reset starts over anyway, so open a
		// new one rather than fail.
		e.session = ""
		err = e.call(ctx, http.MethodPost, "/reset", resetRequest{Task: task}, &resp)
	}
	if err != nil {
		return env.Observation{}, err
	}
	if resp.Session != "" {
		// Even when the rest of the answer is refused, the server opened this session: Close
		// must end it.
		e.session = resp.Session
	}
	e.started = false
	switch {
	case resp.Session == "":
		return env.Observation{}, e.badAnswer("/reset", `missing "session"`)
	case resp.Observation == nil:
		return env.Observation{}, e.badAnswer("/reset", `missing "observation"`)
	case strings.TrimSpace(resp.Instruction) == "":
		// Triplets and the reward model judge a trajectory against its instruction: an episode
		// without one would give training data with nothing to judge against.
		return env.Observation{}, e.badAnswer("/reset", `missing or empty "instruction"`)
	}
	e.started, e.done, e.seq = true, false, 0
	e.admissible = resp.Admissible
	taskID := resp.TaskID
	if taskID == "" {
		taskID = e.info.Name + "/" + strconv.Itoa(task)
	}
	return env.Observation{TaskID: taskID, Instruction: resp.Instruction, Text: *resp.Observation}, nil
}

// Step implements env.Env. Retries are safe because the request carries seq.
func (e *Env) Step(ctx context.Context, action string) (env.StepResult, error) {
	if !e.started {
		return env.StepResult{}, errors.New("httpenv: Step before Reset")
	}
	if e.done {
		return env.StepResult{}, env.ErrDone
	}
	seq := e.seq
	var resp stepResponse
	if err := e.call(ctx, http.MethodPost, "/step", stepRequest{Session: e.session, Action: action, Seq: &seq}, &resp); err != nil {
		return env.StepResult{}, err
	}
	if resp.Observation == nil {
		return env.StepResult{}, e.badAnswer("/step", `missing "observation"`)
	}
	e.seq++
	e.done = resp.Done
	e.admissible = resp.Admissible
	if e.done {
		e.admissible = nil
	}
	return env.StepResult{Observation: *resp.Observation, Reward: resp.Reward, Done: resp.Done}, nil
}

// Admissible implements env.Env from the last answer, without a request.
func (e *Env) Admissible() []string { return slices.Clone(e.admissible) }

// snapshot pairs the server's token with the client's own view of the state.
type snapshot struct {
	token      json.RawMessage
	done       bool
	seq        int
	admissible []string
}

// Snapshot implements env.Env (POST /snapshot). env.Env gives it no context, so it runs under
// Options.Timeout and the retry policy alone.
func (e *Env) Snapshot() (env.Snapshot, error) {
	if !e.started {
		return nil, errors.New("httpenv: Snapshot before Reset")
	}
	var resp snapshotResponse
	if err := e.call(context.Background(), http.MethodPost, "/snapshot", sessionRequest{Session: e.session}, &resp); err != nil {
		return nil, err
	}
	if len(resp.Snapshot) == 0 || string(resp.Snapshot) == "null" {
		return nil, e.badAnswer("/snapshot", `missing "snapshot"`)
	}
	return &snapshot{token: resp.Snapshot, done: e.done, seq: e.seq, admissible: slices.Clone(e.admissible)}, nil
}

// Restore implements env.Env (POST /restore); a fresh Env gets a new session.
func (e *Env) Restore(s env.Snapshot) error {
	sn, ok := s.(*snapshot)
	if !ok || sn == nil {
		return fmt.Errorf("httpenv: Restore: not an httpenv snapshot (%T)", s)
	}
	var resp restoreResponse
	if err := e.call(context.Background(), http.MethodPost, "/restore", restoreRequest{Session: e.session, Snapshot: sn.token}, &resp); err != nil {
		return err
	}
	if resp.Session != "" {
		e.session = resp.Session
	} else if e.session == "" {
		return e.badAnswer("/restore", `missing "session" for a new session`)
	}
	e.started, e.done, e.seq = true, sn.done, sn.seq
	e.admissible = slices.Clone(sn.admissible)
	return nil
}

// Close implements env.Env: it ends the server session (POST /close) with one attempt bounded by
// Options.CloseTimeout.
func (e *Env) Close() error { return e.CloseContext(context.Background()) }

// CloseContext is Close that ctx can also cut short (a second Ctrl-C, a shutdown deadline). The
// client forgets the session either way.
func (e *Env) CloseContext(ctx context.Context) error {
	if e.session == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.opt.CloseTimeout)
	defer cancel()
	err := e.callRetries(ctx, 0, http.MethodPost, "/close", sessionRequest{Session: e.session}, nil)
	if errors.Is(err, ErrUnknownSession) {
		err = nil // already gone (server restart, expiry): nothing left to close
	}
	e.session, e.started = "", false
	return err
}

func (e *Env) badAnswer(path, msg string) error {
	return &Error{Method: http.MethodPost, URL: e.opt.BaseURL + path, Message: "malformed answer: " + msg}
}

// call sends one request with retries and decodes the JSON answer into out (when non-nil).
func (e *Env) call(ctx context.Context, method, path string, in, out any) error {
	return e.callRetries(ctx, e.opt.Retries, method, path, in, out)
}

// callRetries is call with its own number of retries (0: one attempt only).
func (e *Env) callRetries(ctx context.Context, retries int, method, path string, in, out any) error {
	endpoint := e.opt.BaseURL + path
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return &Error{Method: method, URL: endpoint, Err: fmt.Errorf("encode request: %w", err)}
		}
	}
	wait := e.opt.Backoff
	for attempt := 1; ; attempt++ {
		status, hdr, data, err := e.attempt(ctx, method, endpoint, body)
		fail := &Error{Method: method, URL: endpoint, Status: status, Attempts: attempt, Err: err}
		if err == nil && status/100 == 2 {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				fail.Err = fmt.Errorf("decode answer: %w (body %q)", err, clip(string(data)))
				return fail
			}
			return nil
		}
		if err == nil {
			var eb errorBody
			if json.Unmarshal(data, &eb) == nil && (eb.Error != "" || eb.Code != "") {
				fail.Message, fail.Code = clip(eb.Error), eb.Code
			} else {
				fail.Message = clip(string(data))
			}
		}
		if ctx.Err() != nil {
			fail.Err = errors.Join(fail.Err, ctx.Err())
			return fail
		}
		if attempt > retries || !transient(status, err) {
			return fail
		}
		d := wait
		if ra := retryAfter(hdr); ra >= 0 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
			d = ra
		}
		d = min(d, e.opt.MaxBackoff)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			fail.Err = errors.Join(fail.Err, ctx.Err())
			return fail
		case <-t.C:
		}
		wait = min(2*wait, e.opt.MaxBackoff)
	}
}

// attempt is one HTTP exchange under the per-attempt timeout.
func (e *Env) attempt(ctx context.Context, method, endpoint string, body []byte) (int, http.Header, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, e.opt.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, endpoint, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, vs := range e.opt.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := e.opt.Client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, resp.Header, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, resp.Header, data, nil
}

// transient reports whether a failure may go away on retry: no answer at all (connection
// refused or reset, attempt timeout), 429 or a 5xx other than 501.
func transient(status int, err error) bool {
	if err != nil {
		return true
	}
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented
}

// retryAfter parses a Retry-After header in seconds or as an HTTP date; -1 when absent or bad.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return -1
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return -1
}

// clip shortens text quoted in an error message to its first 200 bytes and its length.
func clip(s string) string { return textclip.Clip(strings.TrimSpace(s), 200) }
