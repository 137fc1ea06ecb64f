package httpenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/household"
)

var bg = context.Background()

// faults wraps the real server so tests can break chosen requests.
type faults struct {
	next  http.Handler
	calls sync.Map // path -> *atomic.Int64
	// hook, when set, may answer a request itself (returning true); n is the 1-based count of
	// requests to that path so far.
	hook func(w http.ResponseWriter, r *http.Request, n int64) bool
}

func (f *faults) count(path string) int64 {
	v, _ := f.calls.LoadOrStore(path, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v, _ := f.calls.LoadOrStore(r.URL.Path, new(atomic.Int64))
	n := v.(*atomic.Int64).Add(1)
	if f.hook != nil && f.hook(w, r, n) {
		return
	}
	f.next.ServeHTTP(w, r)
}

func householdFactory(opt household.Options) env.Factory { return household.NewFactory(opt) }

func start(t testing.TB, sopt ServerOptions) (*httptest.Server, *Server, *faults) {
	t.Helper()
	srv, err := NewServer(householdFactory(household.Options{Seed: 1}), sopt)
	if err != nil {
		t.Fatal(err)
	}
	f := &faults{next: srv}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return ts, srv, f
}

func client(t testing.TB, base string, opt Options) *Env {
	t.Helper()
	opt.BaseURL = base
	if opt.Backoff == 0 {
		opt.Backoff = time.Millisecond
	}
	e, err := New(bg, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// episode is what an agent sees of one run, for comparing the two transports.
type episode struct {
	Start env.Observation
	Steps []string
}

// runActions plays acts in e from task and records observations, rewards, done flags and
// admissible lists; after Done it records the error of one more step.
func runActions(t *testing.T, e env.Env, task int, acts []string) episode {
	t.Helper()
	obs, err := e.Reset(bg, task)
	if err != nil {
		t.Fatal(err)
	}
	ep := episode{Start: obs, Steps: []string{strings.Join(e.Admissible(), "|")}}
	for _, a := range acts {
		r, err := e.Step(bg, a)
		if err != nil {
			ep.Steps = append(ep.Steps, "error: "+err.Error())
			break
		}
		ep.Steps = append(ep.Steps, fmt.Sprintf("%s|%v|%v|%s", r.Observation, r.Reward, r.Done, strings.Join(e.Admissible(), "|")))
		if r.Done {
			_, err := e.Step(bg, "look")
			ep.Steps = append(ep.Steps, fmt.Sprintf("after done: %v", errors.Is(err, env.ErrDone)))
			break
		}
	}
	return ep
}

// plan makes an action list in process: expert actions mixed with random admissible ones.
func plan(t *testing.T, h *household.Env, task int, rng *rand.Rand) []string {
	t.Helper()
	if _, err := h.Reset(bg, task); err != nil {
		t.Fatal(err)
	}
	var acts []string
	for !h.Done() {
		a, _ := h.ExpertAction()
		if adm := h.Admissible(); rng.IntN(3) == 0 {
			a = adm[rng.IntN(len(adm))]
		}
		acts = append(acts, a)
		if _, err := h.Step(bg, a); err != nil {
			t.Fatal(err)
		}
	}
	return append(acts, "fly away") // never reached when the plan ends the episode
}

func TestSameEpisodeAsInProcess(t *testing.T) {
	ts, _, _ := start(t, ServerOptions{})
	remote := client(t, ts.URL, Options{Name: "household"})
	if remote.NumTasks() != 3600 || remote.Info().Name != "household" || remote.Name() != "household" {
		t.Fatalf("info %+v name %q", remote.Info(), remote.Name())
	}
	local, _ := household.New(household.Options{Seed: 1})
	rng := rand.New(rand.NewPCG(3, 4))
	for task := range 18 {
		acts := plan(t, local, task, rng)
		want := runActions(t, local, task, acts)
		got := runActions(t, remote, task, acts)
		if got.Start != want.Start {
			t.Fatalf("task %d: start %+v, in process %+v", task, got.Start, want.Start)
		}
		if !slices.Equal(got.Steps, want.Steps) {
			t.Fatalf("task %d: episodes differ:\nhttp  %q\nlocal %q", task, got.Steps, want.Steps)
		}
	}
}

func TestSnapshotRestoreOverHTTP(t *testing.T) {
	ts, srv, _ := start(t, ServerOptions{})
	e := client(t, ts.URL, Options{})
	if _, err := e.Snapshot(); err == nil {
		t.Fatal("Snapshot before Reset succeeded")
	}
	e.Reset(bg, 4)
	for _, a := range []string{"look", "inventory"} {
		e.Step(bg, a)
	}
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	adm := e.Admissible()
	cont := adm[:min(4, len(adm))]
	var first []string
	for _, a := range cont {
		r, err := e.Step(bg, a)
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, r.Observation)
	}
	replay := func(x *Env) []string {
		t.Helper()
		if err := x.Restore(snap); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(x.Admissible(), adm) {
			t.Fatalf("admissible after restore differs")
		}
		var out []string
		for _, a := range cont {
			r, err := x.Step(bg, a)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r.Observation)
		}
		return out
	}
	if again := replay(e); !slices.Equal(again, first) {
		t.Fatalf("replay after restore: %q, want %q", again, first)
	}
	// Another worker (a fresh client, hence a new session) restores the same state.
	other := client(t, ts.URL, Options{})
	if got := replay(other); !slices.Equal(got, first) || other.Session() == e.Session() {
		t.Fatalf("restore into a second session: %q (sessions %q %q)", got, other.Session(), e.Session())
	}
	if srv.Sessions() != 2 {
		t.Fatalf("%d sessions open, want 2", srv.Sessions())
	}
	if err := e.Restore("junk"); err == nil {
		t.Fatal("Restore of a foreign value succeeded")
	}
}

func TestSnapshotEviction(t *testing.T) {
	ts, _, _ := start(t, ServerOptions{MaxSnapshots: 1})
	e := client(t, ts.URL, Options{})
	e.Reset(bg, 0)
	old, _ := e.Snapshot()
	if _, err := e.Snapshot(); err != nil {
		t.Fatal(err)
	}
	err := e.Restore(old)
	if !errors.Is(err, ErrUnknownSnapshot) || !strings.Contains(err.Error(), "/restore") {
		t.Fatalf("restore of an evicted snapshot: %v", err)
	}
}

func TestRetryOn500ThenSuccess(t *testing.T) {
	ts, _, f := start(t, ServerOptions{})
	f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.URL.Path == "/step" && n <= 2 {
			http.Error(w, `{"error":"warming up","code":"internal"}`, http.StatusInternalServerError)
			return true
		}
		return false
	}
	e := client(t, ts.URL, Options{Retries: 3})
	e.Reset(bg, 0)
	if _, err := e.Step(bg, "look"); err != nil {
		t.Fatalf("step with two 500s and 3 retries: %v", err)
	}
	if n := f.count("/step"); n != 3 {
		t.Fatalf("%d /step requests, want 3", n)
	}
	// With fewer retries than failures the error names the endpoint, the status and the count.
	f.calls = sync.Map{}
	e2 := client(t, ts.URL, Options{Retries: 1})
	e2.Reset(bg, 0)
	_, err := e2.Step(bg, "look")
	var he *Error
	if !errors.As(err, &he) || he.Status != 500 || he.Attempts != 2 || !strings.Contains(err.Error(), ts.URL+"/step") || !strings.Contains(err.Error(), "warming up") {
		t.Fatalf("error %v", err)
	}
}

func TestLostAnswerIsNotAppliedTwice(t *testing.T) {
	ts, srv, f := start(t, ServerOptions{})
	f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.URL.Path == "/step" && n == 1 {
			srv.ServeHTTP(httptest.NewRecorder(), r) // the step happens; its answer is lost
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	}
	local, _ := household.New(household.Options{Seed: 1})
	local.Reset(bg, 2)
	acts := []string{local.Admissible()[0], "inventory", "look"}
	want := runActions(t, local, 2, acts)
	got := runActions(t, client(t, ts.URL, Options{}), 2, acts)
	if !slices.Equal(got.Steps, want.Steps) {
		t.Fatalf("after a lost answer:\n%q\nwant\n%q", got.Steps, want.Steps)
	}
	if n := f.count("/step"); n != 4 {
		t.Fatalf("%d /step requests, want 4 (one retry)", n)
	}
}

func TestMalformedAnswer(t *testing.T) {
	ts, _, f := start(t, ServerOptions{})
	f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		switch r.URL.Path {
		case "/step":
			w.Write([]byte(`{"observation": "You arrive`))
			return true
		case "/snapshot":
			w.Write([]byte(`{}`))
			return true
		}
		return false
	}
	e := client(t, ts.URL, Options{})
	e.Reset(bg, 0)
	_, err := e.Step(bg, "look")
	if err == nil || !strings.Contains(err.Error(), "/step") || !strings.Contains(err.Error(), "decode answer") {
		t.Fatalf("malformed JSON: %v", err)
	}
	if n := f.count("/step"); n != 1 {
		t.Fatalf("a malformed answer was retried (%d requests)", n)
	}
	if _, err := e.Snapshot(); err == nil || !strings.Contains(err.Error(), `missing "snapshot"`) {
		t.Fatalf("empty snapshot answer: %v", err)
	}
}

// The server publishes its env's test split and step limit in /info; the client checks the fields.
func TestInfoTestTasks(t *testing.T) {
	ts, _, f := start(t, ServerOptions{})
	e := client(t, ts.URL, Options{})
	local, _ := household.New(household.Options{Seed: 1})
	test, _ := local.Split("test")
	in := e.Info()
	if len(in.TestTasks) != 1 || in.TestTasks[0][0] != test[0] || in.TestTasks[0][1] != test[len(test)-1] {
		t.Fatalf("test_tasks %v, want the household test split %d-%d", in.TestTasks, test[0], test[len(test)-1])
	}
	for _, task := range []int{0, test[0] - 1, test[0], test[len(test)-1], test[len(test)-1] + 1} {
		if got, want := in.IsTestTask(task), slices.Contains(test, task); got != want {
			t.Errorf("IsTestTask(%d) = %v, want %v", task, got, want)
		}
	}
	if in.MaxSteps != local.MaxSteps() || e.MaxSteps() != local.MaxSteps() {
		t.Errorf("max_steps %d (client %d), want the household step limit %d", in.MaxSteps, e.MaxSteps(), local.MaxSteps())
	}
	if got := taskRanges([]int{7, 3, 4, 5, 9, 4}); fmt.Sprint(got) != "[[3 5] [7 7] [9 9]]" {
		t.Errorf("taskRanges: %v", got)
	}

	for _, tc := range []struct{ info, want string }{
		{`{"name": "x", "num_tasks": 10, "test_tasks": [[0, 1, 2]]}`, "test_tasks[0]"},
		{`{"name": "x", "num_tasks": 10, "test_tasks": [[5, 2]]}`, "test_tasks[0]"},
		{`{"name": "x", "num_tasks": 10, "test_tasks": [[0, 1], [8, 10]]}`, "test_tasks[1]"},
		{`{"name": "x", "num_tasks": 10, "test_tasks": [3, 4]}`, "decode answer"},
		{`{"name": "x", "num_tasks": 10, "max_steps": -1}`, "max_steps"},
	} {
		f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
			if r.URL.Path == "/info" {
				w.Write([]byte(tc.info))
				return true
			}
			return false
		}
		_, err := New(bg, Options{BaseURL: ts.URL})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/info") {
			t.Errorf("info %s: got %v, want an error naming /info and %s", tc.info, err, tc.want)
		}
	}
	// num_tasks 0 ("cannot tell") bounds no range.
	f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.URL.Path == "/info" {
			w.Write([]byte(`{"name": "x", "num_tasks": 0, "test_tasks": [[100, 199]]}`))
			return true
		}
		return false
	}
	if e, err := New(bg, Options{BaseURL: ts.URL}); err != nil || !e.Info().IsTestTask(150) {
		t.Errorf("num_tasks 0 with test_tasks: %v", err)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	ts, _, f := start(t, ServerOptions{})
	hang(f, "/step")
	e := client(t, ts.URL, Options{Timeout: 40 * time.Millisecond, Retries: 1})
	e.Reset(bg, 0)
	t0 := time.Now()
	_, err := e.Step(bg, "look")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 2*time.Second {
		t.Fatalf("timeout: %v after %v", err, time.Since(t0))
	}
	var he *Error
	if !errors.As(err, &he) || he.Attempts != 2 {
		t.Fatalf("attempts: %v", err)
	}
	// The caller's context cancels a hanging call at once, without retrying.
	e2 := client(t, ts.URL, Options{Timeout: time.Minute, Retries: 5})
	e2.Reset(bg, 0)
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(30*time.Millisecond, cancel)
	t0 = time.Now()
	_, err = e2.Step(ctx, "look")
	if !errors.Is(err, context.Canceled) || time.Since(t0) > 2*time.Second {
		t.Fatalf("cancel: %v after %v", err, time.Since(t0))
	}
}

func TestUnknownSession(t *testing.T) {
	ts, srv, f := start(t, ServerOptions{})
	e := client(t, ts.URL, Options{})
	e.Reset(bg, 0)
	// The server forgets the session (as after a restart).
	post(t, ts.URL+"/close", `{"session":"`+e.Session()+`"}`)
	before := f.count("/step")
	_, err := e.Step(bg, "look")
	if !errors.Is(err, ErrUnknownSession) || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "/step") {
		t.Fatalf("step in a lost session: %v", err)
	}
	if n := f.count("/step") - before; n != 1 {
		t.Fatalf("a 404 was retried: %d requests", n)
	}
	// Reset recovers with a new session.
	if _, err := e.Reset(bg, 1); err != nil {
		t.Fatalf("reset after losing the session: %v", err)
	}
	if _, err := e.Step(bg, "look"); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil || srv.Sessions() != 0 {
		t.Fatalf("close: %v, %d sessions left", err, srv.Sessions())
	}
}

func TestErrorMapping(t *testing.T) {
	ts, srv, f := start(t, ServerOptions{MaxSessions: 1})
	e := client(t, ts.URL, Options{})
	if _, err := e.Step(bg, "look"); err == nil {
		t.Fatal("Step before Reset succeeded")
	}
	if _, err := e.Reset(bg, 99999); !errors.Is(err, env.ErrNoTask) {
		t.Fatalf("reset out of range: %v", err)
	}
	if srv.Sessions() != 0 {
		t.Fatalf("a failed reset left %d sessions", srv.Sessions())
	}
	if _, err := e.Reset(bg, 0); err != nil {
		t.Fatal(err)
	}
	// MaxSessions 1: a second worker is refused with 503, retried, then reported.
	_, err := New(bg, Options{BaseURL: ts.URL, Retries: 1, Backoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(bg, Options{BaseURL: ts.URL, Retries: 1, Backoff: time.Millisecond, MaxBackoff: time.Millisecond})
	if _, err := other.Reset(bg, 0); err == nil || !strings.Contains(err.Error(), CodeTooManySessions) {
		t.Fatalf("second session: %v", err)
	}
	// Done is known to the client; the step after it needs no request.
	h, _ := household.New(household.Options{Seed: 1})
	h.Reset(bg, 0)
	var acts []string
	for !h.Done() {
		a, _ := h.ExpertAction()
		h.Step(bg, a)
		acts = append(acts, a)
	}
	for _, a := range acts {
		e.Step(bg, a)
	}
	n := f.count("/step")
	if _, err := e.Step(bg, "look"); !errors.Is(err, env.ErrDone) || f.count("/step") != n {
		t.Fatalf("step after done: %v", err)
	}
	if len(e.Admissible()) != 0 {
		t.Fatal("admissible after done")
	}
	for _, bad := range []string{"", "ftp://x", "localhost:80", "http://"} {
		if _, err := New(bg, Options{BaseURL: bad}); err == nil {
			t.Errorf("BaseURL %q accepted", bad)
		}
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	ts, _, f := start(t, ServerOptions{})
	f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.URL.Path == "/reset" {
			http.Error(w, "nope", http.StatusBadRequest)
			return true
		}
		return false
	}
	e := client(t, ts.URL, Options{Retries: 5})
	_, err := e.Reset(bg, 0)
	if err == nil || f.count("/reset") != 1 || !strings.Contains(err.Error(), "400 Bad Request: nope") {
		t.Fatalf("400: %v after %d requests", err, f.count("/reset"))
	}
}

func TestRetryAfter(t *testing.T) {
	ts, _, f := start(t, ServerOptions{})
	f.hook = func(w http.ResponseWriter, r *http.Request, n int64) bool {
		if r.URL.Path == "/info" && n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	}
	// A long Backoff would make the test slow: Retry-After 0 must replace it.
	t0 := time.Now()
	if _, err := New(bg, Options{BaseURL: ts.URL, Backoff: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("Retry-After ignored: %v", d)
	}
	if f.count("/info") != 2 {
		t.Fatalf("%d /info requests", f.count("/info"))
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	_, err = New(bg, Options{BaseURL: addr, Retries: 2, Backoff: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), addr+"/info") {
		t.Fatalf("refused: %v", err)
	}
}

func post(t *testing.T, url, body string) (int, errorBody) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb errorBody
	json.Unmarshal(data, &eb)
	return resp.StatusCode, eb
}

func TestServerRejectsBadRequests(t *testing.T) {
	ts, _, _ := start(t, ServerOptions{MaxBodyBytes: 256})
	cases := []struct {
		path, body string
		status     int
		code       string
	}{
		{"/reset", `{"task": `, 400, CodeBadRequest},
		{"/reset", `{"task": "three"}`, 400, CodeBadRequest},
		{"/reset", `{"session": "s999", "task": 1}`, 404, CodeUnknownSession},
		{"/step", `{"action": "look"}`, 400, CodeBadRequest},
		{"/step", `{"session": "nope", "action": "look"}`, 404, CodeUnknownSession},
		{"/snapshot", `{}`, 400, CodeBadRequest},
		{"/restore", `{"snapshot": {"x": 1}}`, 400, CodeBadRequest},
		{"/restore", `{"snapshot": "p12345"}`, 404, CodeUnknownSnapshot},
		{"/close", `{"session": "zzz"}`, 404, CodeUnknownSession},
		{"/reset", `{"task": 1, "pad": "` + strings.Repeat("x", 400) + `"}`, 400, CodeBadRequest},
	}
	for _, c := range cases {
		status, eb := post(t, ts.URL+c.path, c.body)
		if status != c.status || eb.Code != c.code || eb.Error == "" {
			t.Errorf("POST %s %.40s: %d %+v, want %d %s", c.path, c.body, status, eb, c.status, c.code)
		}
	}
	// seq guards against steps out of order.
	resp, _ := http.Post(ts.URL+"/reset", "application/json", strings.NewReader(`{"task": 0}`))
	var rr resetResponse
	json.NewDecoder(resp.Body).Decode(&rr)
	resp.Body.Close()
	if status, eb := post(t, ts.URL+"/step", `{"session":"`+rr.Session+`","action":"look","seq":5}`); status != 409 || eb.Code != CodeBadSeq {
		t.Errorf("bad seq: %d %+v", status, eb)
	}
	if r, _ := http.Get(ts.URL + "/step"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /step: %d", r.StatusCode)
	}
}

func TestConcurrentWorkers(t *testing.T) {
	ts, srv, _ := start(t, ServerOptions{})
	local, _ := household.New(household.Options{Seed: 1})
	const workers = 6
	plans := make([][]string, workers)
	wants := make([]episode, workers)
	rng := rand.New(rand.NewPCG(5, 5))
	for w := range workers {
		plans[w] = plan(t, local, 100+w, rng)
		wants[w] = runActions(t, local, 100+w, plans[w])
	}
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Go(func() {
			e, err := New(bg, Options{BaseURL: ts.URL})
			if err != nil {
				errs <- err.Error()
				return
			}
			defer e.Close()
			for range 3 { // interleave several episodes per worker
				got := runActionsNoT(e, 100+w, plans[w])
				if !slices.Equal(got.Steps, wants[w].Steps) {
					errs <- fmt.Sprintf("worker %d: episode differs", w)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if srv.Sessions() != 0 {
		t.Errorf("%d sessions left open", srv.Sessions())
	}
}

// runActionsNoT is runActions for goroutines (no t.Fatal off the test goroutine).
func runActionsNoT(e env.Env, task int, acts []string) episode {
	obs, err := e.Reset(bg, task)
	if err != nil {
		return episode{Steps: []string{err.Error()}}
	}
	ep := episode{Start: obs, Steps: []string{strings.Join(e.Admissible(), "|")}}
	for _, a := range acts {
		r, err := e.Step(bg, a)
		if err != nil {
			ep.Steps = append(ep.Steps, "error: "+err.Error())
			break
		}
		ep.Steps = append(ep.Steps, fmt.Sprintf("%s|%v|%v|%s", r.Observation, r.Reward, r.Done, strings.Join(e.Admissible(), "|")))
		if r.Done {
			_, err := e.Step(bg, "look")
			ep.Steps = append(ep.Steps, fmt.Sprintf("after done: %v", errors.Is(err, env.ErrDone)))
			break
		}
	}
	return ep
}

func TestFactory(t *testing.T) {
	ts, _, _ := start(t, ServerOptions{})
	mk := NewFactory(Options{BaseURL: ts.URL, Name: "alfworld"})
	e, err := mk()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Name() != "alfworld" || e.NumTasks() != 3600 {
		t.Fatalf("factory env %s %d", e.Name(), e.NumTasks())
	}
	if _, err := NewFactory(Options{BaseURL: "nope"})(); err == nil {
		t.Fatal("bad BaseURL accepted by the factory")
	}
}

// BenchmarkHTTPStep measures steps/s through the loopback HTTP adapter (client, server and
// household env in one process), for comparison with household's in-process BenchmarkStepRandom.
func BenchmarkHTTPStep(b *testing.B) {
	ts, _, _ := start(b, ServerOptions{})
	e := client(b, ts.URL, Options{})
	rng := rand.New(rand.NewPCG(1, 1))
	task, steps := 0, 0
	e.Reset(bg, 0)
	b.ReportAllocs()
	for b.Loop() {
		adm := e.Admissible()
		if len(adm) == 0 {
			task = (task + 1) % 600
			e.Reset(bg, task)
			adm = e.Admissible()
		}
		if _, err := e.Step(bg, adm[rng.IntN(len(adm))]); err != nil {
			b.Fatal(err)
		}
		steps++
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}
