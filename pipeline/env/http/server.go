package httpenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/armap/armap/pipeline/env"
)

// ServerOptions bound the server's memory.
type ServerOptions struct {
	// MaxSessions is how many sessions may be open at once (default 1024); beyond it reset and
	// restore answer 503 too_many_sessions until a session closes.
	MaxSessions int
	// MaxSnapshots is how many snapshots are kept (default 100000); the oldest is dropped first
	// and restoring it answers 404 unknown_snapshot.
	MaxSnapshots int
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
}

// Server serves env instances made by a factory over the protocol of this package, one instance
// per session. It is safe for concurrent use; requests of one session are serialized.
type Server struct {
	factory env.Factory
	opt     ServerOptions
	info    Info
	mux     *http.ServeMux

	mu        sync.Mutex
	sessions  map[string]*session
	snaps     map[string]storedSnapshot
	snapOrder []string // insertion order, for eviction
	nextID    uint64
}

type session struct {
	mu     sync.Mutex
	env    env.Env
	seq    int           // steps taken since the reset or restored state
	last   *stepResponse // the answer to step seq-1, for retries
	closed bool
}

type storedSnapshot struct {
	snap env.Snapshot
	seq  int
	last *stepResponse
}

// NewServer makes a server; it builds one instance up front to learn the env's name and task
// count for /info.
func NewServer(factory env.Factory, opt ServerOptions) (*Server, error) {
	if opt.MaxSessions == 0 {
		opt.MaxSessions = 1024
	}
	if opt.MaxSnapshots == 0 {
		opt.MaxSnapshots = 100000
	}
	if opt.MaxBodyBytes == 0 {
		opt.MaxBodyBytes = 1 << 20
	}
	probe, err := factory()
	if err != nil {
		return nil, fmt.Errorf("httpenv server: make env: %w", err)
	}
	info := Info{Name: probe.Name(), NumTasks: probe.NumTasks(), Protocol: ProtocolVersion}
	if sp, ok := probe.(env.Splits); ok {
		// Publish the held-out split, so that clients synthesizing from this server can keep
		// out of it; an env without a "test" split publishes none.
		if test, err := sp.Split("test"); err == nil {
			info.TestTasks = taskRanges(test)
		}
	}
	if l, ok := probe.(env.StepLimit); ok {
		info.MaxSteps = l.MaxSteps()
	}
	if err := probe.Close(); err != nil {
		return nil, fmt.Errorf("httpenv server: close probe env: %w", err)
	}
	s := &Server{factory: factory, opt: opt, info: info, sessions: map[string]*session{}, snaps: map[string]storedSnapshot{}}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.info) })
	s.mux.HandleFunc("POST /reset", s.reset)
	s.mux.HandleFunc("POST /step", s.step)
	s.mux.HandleFunc("POST /snapshot", s.snapshot)
	s.mux.HandleFunc("POST /restore", s.restore)
	s.mux.HandleFunc("POST /close", s.close)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Sessions is the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, code, format string, a ...any) *httpError {
	return &httpError{status, code, fmt.Sprintf(format, a...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // the client sees a truncated body if this fails; nothing to add
}

func writeErr(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = fail(http.StatusInternalServerError, CodeInternal, "%v", err)
	}
	if he.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, he.status, errorBody{Error: he.msg, Code: he.code})
}

func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes))
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, CodeBadRequest, "%s: invalid JSON body: %v", r.URL.Path, err)
	}
	return nil
}

// lookup finds a session, or opens one when id is empty.
func (s *Server) lookup(id string) (string, *session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" {
		ss, ok := s.sessions[id]
		if !ok {
			return "", nil, fail(http.StatusNotFound, CodeUnknownSession, "unknown session %q", clip(id))
		}
		return id, ss, nil
	}
	if len(s.sessions) >= s.opt.MaxSessions {
		return "", nil, fail(http.StatusServiceUnavailable, CodeTooManySessions, "%d sessions open; close some", len(s.sessions))
	}
	e, err := s.factory()
	if err != nil {
		return "", nil, fmt.Errorf("make env: %w", err)
	}
	s.nextID++
	id = "s" + strconv.FormatUint(s.nextID, 10)
	ss := &session{env: e}
	s.sessions[id] = ss
	return id, ss, nil
}

// lookupLocked is lookup, then lock: the session is returned locked.
func (s *Server) lookupLocked(id string) (string, *session, error) {
	id, ss, err := s.lookup(id)
	if err != nil {
		return "", nil, err
	}
	if err := lock(id, ss); err != nil {
		return "", nil, err
	}
	return id, ss, nil
}

// lock takes a session's lock and checks it was not closed meanwhile.
func lock(id string, ss *session) error {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return fail(http.StatusNotFound, CodeUnknownSession, "unknown session %q", clip(id))
	}
	return nil
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if err := s.decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	id, ss, err := s.lookupLocked(req.Session)
	if err != nil {
		writeErr(w, err)
		return
	}
	obs, err := ss.env.Reset(r.Context(), req.Task)
	if err != nil {
		ss.mu.Unlock()
		if req.Session == "" {
			s.drop(id) // the client never learns this session's id
		}
		if errors.Is(err, env.ErrNoTask) {
			err = fail(http.StatusNotFound, CodeNoTask, "%v", err)
		}
		writeErr(w, err)
		return
	}
	defer ss.mu.Unlock()
	ss.seq, ss.last = 0, nil
	writeJSON(w, http.StatusOK, resetResponse{Session: id, TaskID: obs.TaskID, Instruction: obs.Instruction, Observation: &obs.Text, Admissible: ss.env.Admissible()})
}

func (s *Server) step(w http.ResponseWriter, r *http.Request) {
	var req stepRequest
	if err := s.decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Session == "" {
		writeErr(w, fail(http.StatusBadRequest, CodeBadRequest, "step needs a session (reset first)"))
		return
	}
	_, ss, err := s.lookupLocked(req.Session)
	if err != nil {
		writeErr(w, err)
		return
	}
	defer ss.mu.Unlock()
	if req.Seq != nil {
		switch {
		case *req.Seq == ss.seq-1 && ss.last != nil:
			writeJSON(w, http.StatusOK, ss.last) // a retry of a step whose answer was lost
			return
		case *req.Seq != ss.seq:
			writeErr(w, fail(http.StatusConflict, CodeBadSeq, "seq %d, but the session has taken %d steps", *req.Seq, ss.seq))
			return
		}
	}
	res, err := ss.env.Step(r.Context(), req.Action)
	if err != nil {
		if errors.Is(err, env.ErrDone) {
			err = fail(http.StatusConflict, CodeEpisodeDone, "%v", err)
		}
		writeErr(w, err)
		return
	}
	resp := &stepResponse{Observation: &res.Observation, Reward: res.Reward, Done: res.Done, Admissible: ss.env.Admissible()}
	ss.seq++
	ss.last = resp
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	var req sessionRequest
	if err := s.decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Session == "" {
		writeErr(w, fail(http.StatusBadRequest, CodeBadRequest, "snapshot needs a session"))
		return
	}
	_, ss, err := s.lookupLocked(req.Session)
	if err != nil {
		writeErr(w, err)
		return
	}
	snap, err := ss.env.Snapshot()
	stored := storedSnapshot{snap: snap, seq: ss.seq, last: ss.last}
	ss.mu.Unlock()
	if err != nil {
		writeErr(w, err)
		return
	}
	s.mu.Lock()
	s.nextID++
	token := "p" + strconv.FormatUint(s.nextID, 10)
	s.snaps[token] = stored
	s.snapOrder = append(s.snapOrder, token)
	for len(s.snapOrder) > s.opt.MaxSnapshots {
		delete(s.snaps, s.snapOrder[0])
		s.snapOrder = s.snapOrder[1:]
	}
	s.mu.Unlock()
	raw, _ := json.Marshal(token)
	writeJSON(w, http.StatusOK, snapshotResponse{Snapshot: raw})
}

func (s *Server) restore(w http.ResponseWriter, r *http.Request) {
	var req restoreRequest
	if err := s.decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	var token string
	if err := json.Unmarshal(req.Snapshot, &token); err != nil {
		writeErr(w, fail(http.StatusBadRequest, CodeBadRequest, "snapshot must be a token this server issued: %v", err))
		return
	}
	s.mu.Lock()
	stored, ok := s.snaps[token]
	s.mu.Unlock()
	if !ok {
		writeErr(w, fail(http.StatusNotFound, CodeUnknownSnapshot, "unknown snapshot %q (expired or from another server)", clip(token)))
		return
	}
	id, ss, err := s.lookupLocked(req.Session)
	if err != nil {
		writeErr(w, err)
		return
	}
	err = ss.env.Restore(stored.snap)
	if err == nil {
		ss.seq, ss.last = stored.seq, stored.last
	}
	ss.mu.Unlock()
	if err != nil {
		if req.Session == "" {
			s.drop(id) // the client never learns this session's id
		}
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, restoreResponse{Session: id})
}

// drop removes a session that was opened for a request that then failed.
func (s *Server) drop(id string) {
	s.mu.Lock()
	ss := s.sessions[id]
	delete(s.sessions, id)
	s.mu.Unlock()
	if ss != nil {
		ss.env.Close()
	}
}

func (s *Server) close(w http.ResponseWriter, r *http.Request) {
	var req sessionRequest
	if err := s.decode(w, r, &req); err != nil {
		writeErr(w, err)
		return
	}
	s.mu.Lock()
	ss, ok := s.sessions[req.Session]
	delete(s.sessions, req.Session)
	s.mu.Unlock()
	if !ok {
		writeErr(w, fail(http.StatusNotFound, CodeUnknownSession, "unknown session %q", clip(req.Session)))
		return
	}
	ss.mu.Lock()
	ss.closed = true
	err := ss.env.Close()
	ss.mu.Unlock()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
