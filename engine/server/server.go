package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/armap/armap/engine/scorer"
	"github.com/armap/armap/pipeline/dataset"
)

// Info describes the served model for GET /info. The server adds its limits.
type Info struct {
	ModelID      string `json:"model_id"` // the directory (or preset) served
	Architecture string `json:"architecture"`
	ModelType    string `json:"model_type"`
	Parameters   int64  `json:"parameters"`
	MaxLength    int    `json:"max_length"` // positions of the model
	VocabSize    int    `json:"vocab_size"`
	Tokenizer    string `json:"tokenizer,omitempty"` // tokenizer.json path; "" = input_ids only
	Backend      string `json:"backend"`             // e.g. cpu, cuda
	TorchVersion string `json:"torch_version,omitempty"`
	Device       string `json:"device"`
	Threads      int    `json:"threads,omitempty"`
	Version      string `json:"version"` // armap's; filled from the build info when empty
}

// Limits are the request and batching limits in GET /info.
type Limits struct {
	MaxInputTokens int     `json:"max_input_tokens"`
	Truncate       bool    `json:"truncate"`
	MaxItems       int     `json:"max_items"`
	MaxBodyBytes   int64   `json:"max_body_bytes"`
	MaxBatchTokens int     `json:"max_batch_tokens"`
	MaxWaitMS      float64 `json:"max_wait_ms"`
	QueueLimit     int     `json:"queue_limit"`
	Auth           bool    `json:"auth"`
}

// InfoResponse is the body of GET /info.
type InfoResponse struct {
	Info
	Limits Limits `json:"limits"`
}

// Server answers the endpoints of the package comment over one Scorer.
type Server struct {
	cfg      Config
	sc       *scorer.Scorer
	in       *scorer.Inputs
	info     InfoResponse
	limit    int // longest sequence accepted
	key      []byte
	met      *metrics
	handler  http.Handler
	hs       *http.Server
	draining atomic.Bool
	// truncated counts the items this server truncated: it tokenizes them itself, before the
	// scorer, whose own count never sees them.
	truncated atomic.Int64
}

// New builds a server over sc, whose Inputs give the vocabulary, the length limit and the text
// encoder (nil Enc: input_ids only). It installs the metrics observer as sc.OnBatch (chaining
// one already there), so call it before sc is shared with other goroutines. The scorer and its
// model stay the caller's: close them after Shutdown.
func New(sc *scorer.Scorer, info Info, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, sc: sc, in: sc.Inputs()}
	if s.in == nil || s.in.Vocab <= 0 || s.in.MaxLen <= 0 {
		return nil, errors.New("server: the scorer has no vocabulary or length limit")
	}
	s.limit = s.in.MaxLen
	if cfg.MaxInputTokens > 0 && cfg.MaxInputTokens < s.limit {
		s.limit = cfg.MaxInputTokens
	}
	if cfg.APIKeyEnv != "" {
		// A key from a secret store often keeps a trailing newline (a Kubernetes secret made from a
		// file); the token sent is trimmed too.
		k := strings.TrimSpace(os.Getenv(cfg.APIKeyEnv))
		if k == "" {
			// Failing closed: a typo in the variable name must not serve without authentication.
			return nil, fmt.Errorf("serve.api_key_env names %s, which is empty or unset", cfg.APIKeyEnv)
		}
		s.key = []byte(k)
	}
	if info.Version == "" {
		info.Version = buildVersion()
	}
	if info.VocabSize == 0 {
		info.VocabSize = s.in.Vocab
	}
	if info.MaxLength == 0 {
		info.MaxLength = s.in.MaxLen
	}
	opt := cfg.ScorerOptions().WithDefaults()
	s.info = InfoResponse{Info: info, Limits: Limits{MaxInputTokens: s.limit, Truncate: cfg.Truncate, MaxItems: cfg.MaxItems,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxBatchTokens: opt.MaxBatchTokens, MaxWaitMS: float64(opt.MaxWait) / 1e6,
		QueueLimit: opt.QueueLimit, Auth: s.key != nil}}
	s.met = newMetrics(sc, opt.MaxBatchTokens, cfg.WriteTimeout)
	prev := sc.OnBatch
	sc.OnBatch = func(bi scorer.BatchInfo) {
		s.met.observeBatch(bi)
		if prev != nil {
			prev(bi)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/score", s.route("score", http.MethodPost, true, s.score))
	mux.Handle("/health", s.route("health", http.MethodGet, false, s.health))
	mux.Handle("/info", s.route("info", http.MethodGet, true, s.infoHandler))
	mux.Handle("/metrics", s.route("metrics", http.MethodGet, true,
		promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP))
	mux.Handle("/", s.route("other", "", false, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, typeNotFound, "no endpoint %s (POST /v1/score, GET /health, /info, /metrics)", r.URL.Path))
	}))
	s.handler = mux
	s.hs = &http.Server{Addr: cfg.Addr, Handler: mux, ReadTimeout: cfg.ReadTimeout, ReadHeaderTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: 2 * time.Minute}
	return s, nil
}

// Handler is the server's routing, for tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry holds the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.met.reg }

// Serve answers on l until Shutdown; it returns nil after a Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if err := s.hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ListenAndServe listens on cfg.Addr and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(l)
}

// Shutdown stops accepting connections (a request that still arrives on an open one gets 503,
// /health too), and waits for in-flight requests to be answered (at most shutdown_timeout, when
// set; then connections are closed).
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.cfg.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
		defer cancel()
	}
	if err := s.hs.Shutdown(ctx); err != nil {
		s.hs.Close()
		return fmt.Errorf("serve: drain: %w", err)
	}
	return nil
}

// Stats are the scorer's counters, with the truncations the server did before it.
func (s *Server) Stats() scorer.Stats {
	st := s.sc.Stats()
	st.Truncated += s.truncated.Load()
	return st
}

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// statusWriter remembers the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// clientGone marks a request whose client disconnected; it is counted as 499, as nginx does.
const clientGone = 499

// writeGrace is the time an answer has to be written after its scoring deadline.
const writeGrace = 5 * time.Second

// abandon ends a request whose client went away, writing nothing: 499 is a code for the logs
// (route counts it), not one to send, and the connection is closed.
func abandon() { panic(http.ErrAbortHandler) }

// bodyReader remembers the error reading the request body failed with, to tell a client that
// stopped sending from a body that is not valid JSON.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// route wraps a handler with panic recovery, the method check, authentication and counting.
func (s *Server) route(endpoint, method string, auth bool, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw}
		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler && w.code == 0 {
				writeError(w, errorf(http.StatusInternalServerError, typeInternal, "internal error: %v", p))
			}
			if p == http.ErrAbortHandler {
				// Counted first, then net/http closes the connection without an answer.
				defer panic(p)
			}
			code := w.code
			switch {
			case p == http.ErrAbortHandler, r.Context().Err() != nil && (code == 0 || code == clientGone):
				code = clientGone
			case code == 0:
				code = http.StatusOK // what net/http sends for a handler that wrote nothing
			}
			s.met.requests.WithLabelValues(endpoint, fmt.Sprint(code)).Inc()
		}()
		if method != "" && r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			s.reject(w, errorf(http.StatusMethodNotAllowed, typeMethod, "%s %s: use %s", r.Method, r.URL.Path, method))
			return
		}
		if auth && s.key != nil && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="armap"`)
			s.reject(w, errorf(http.StatusUnauthorized, typeAuth, "missing or wrong API key (send Authorization: Bearer <key>)"))
			return
		}
		h(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	// The scheme is case-insensitive (RFC 9110 11.1).
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), s.key) == 1
}

func (s *Server) score(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.met.inFlight.Inc()
	defer s.met.inFlight.Dec()
	if s.draining.Load() {
		s.reject(w, errorf(http.StatusServiceUnavailable, typeUnhealthy, "the server is shutting down"))
		return
	}
	// http.Server's WriteTimeout runs from the end of the request's headers, and the scoring
	// deadline below from here: give the connection the scoring budget plus time to write the
	// answer (a 503 included), or the answer to a request that used its budget is never sent.
	if s.cfg.WriteTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(start.Add(s.cfg.WriteTimeout + writeGrace))
	}
	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)}
	items, aerr := decodeItems(body, s.cfg.MaxItems)
	if aerr != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case body.err == nil || errors.As(body.err, &mbe):
		case errors.As(body.err, &ne) && ne.Timeout():
			aerr = errorf(http.StatusRequestTimeout, typeInvalid, "request body not received within read_timeout %v", s.cfg.ReadTimeout)
		default:
			// The client went away while sending (a reset, or a body shorter than it said).
			abandon()
		}
		s.reject(w, aerr)
		return
	}
	seqs := make([][]int32, len(items))
	truncated := 0
	for i := range items {
		ids, tr, aerr := s.tokens(i, &items[i])
		if aerr != nil {
			s.reject(w, aerr)
			return
		}
		seqs[i] = ids
		if tr {
			truncated++
		}
	}
	s.met.truncated.Add(float64(truncated))
	s.truncated.Add(int64(truncated))
	// The request context ends when the client disconnects: its queued sequences are then
	// dropped by the batcher instead of costing a forward pass. write_timeout bounds the work too,
	// since the answer could not be written after it.
	ctx := r.Context()
	if s.cfg.WriteTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, start.Add(s.cfg.WriteTimeout))
		defer cancel()
	}
	scores, err := s.sc.ScoreBatch(ctx, seqs)
	if err != nil {
		switch {
		case r.Context().Err() != nil:
			abandon()
		case errors.Is(err, context.DeadlineExceeded):
			s.reject(w, errorf(http.StatusServiceUnavailable, typeUnhealthy, "not scored within write_timeout %v", s.cfg.WriteTimeout))
		case errors.Is(err, scorer.ErrQueueFull):
			s.reject(w, errorf(http.StatusTooManyRequests, typeOverloaded, "the scoring queue is full (queue_limit %d sequences); retry later", s.info.Limits.QueueLimit))
		case errors.Is(err, scorer.ErrClosed):
			s.reject(w, errorf(http.StatusServiceUnavailable, typeUnhealthy, "the scorer is closed"))
		default:
			s.reject(w, errorf(http.StatusInternalServerError, typeBackend, "model: %v", err))
		}
		return
	}
	out := ScoreResponse{Scores: make([]dataset.ScoreResult, len(items))}
	ntok := 0
	for i := range items {
		out.Scores[i] = dataset.ScoreResult{ID: items[i].ID, Score: scores[i]}
		ntok += len(seqs[i])
	}
	writeJSON(w, http.StatusOK, out)
	s.met.items.Add(float64(len(items)))
	s.met.tokens.Add(float64(ntok))
	s.met.latency.Observe(time.Since(start).Seconds())
}

func (s *Server) reject(w http.ResponseWriter, e *apiError) {
	s.met.failures.WithLabelValues(e.Type).Inc()
	writeError(w, e)
}

// tokens validates item i and returns its token ids, and whether they were truncated.
func (s *Server) tokens(i int, it *dataset.ScoreRequest) ([]int32, bool, *apiError) {
	// The rule score files follow; the item index stands for the file and line.
	if err := it.Validate(); err != nil {
		var le *dataset.LineError
		if errors.As(err, &le) {
			err = le.Err
		}
		return nil, false, errorf(http.StatusUnprocessableEntity, typeValidation, "items[%d]: %v", i, err)
	}
	if len(it.InputIDs) > 0 {
		for j, id := range it.InputIDs {
			if id < 0 || int(id) >= s.in.Vocab {
				return nil, false, errorf(http.StatusUnprocessableEntity, typeValidation, "items[%d].input_ids[%d]: token id %d is outside the vocabulary [0, %d)", i, j, id, s.in.Vocab)
			}
		}
		if len(it.InputIDs) <= s.limit {
			return it.InputIDs, false, nil
		}
		if !s.cfg.Truncate {
			return nil, false, errorf(http.StatusUnprocessableEntity, typeValidation, "items[%d].input_ids: %d tokens, more than the limit of %d (max_input_tokens); shorten it or start the server with truncate", i, len(it.InputIDs), s.limit)
		}
		return cut(it.InputIDs, s.limit), true, nil
	}
	if s.in.Enc == nil {
		return nil, false, errorf(http.StatusUnprocessableEntity, typeValidation, "items[%d]: text items need the model's tokenizer.json, which this server has not got; send input_ids", i)
	}
	ids, tr := s.in.Enc.Encode(it.Instruction, it.Steps)
	if len(ids) == 0 {
		return nil, false, errorf(http.StatusUnprocessableEntity, typeValidation, "items[%d]: the tokenizer produced no tokens", i)
	}
	if len(ids) > s.limit {
		tr, ids = true, cut(ids, s.limit)
	}
	if tr && !s.cfg.Truncate {
		return nil, false, errorf(http.StatusUnprocessableEntity, typeValidation, "items[%d]: the rendered trajectory is longer than the limit of %d tokens (max_input_tokens); send fewer steps or start the server with truncate", i, s.limit)
	}
	return ids, tr, nil
}

// cut keeps the head and the tail of an over-long sequence, as render.Encoder does when even
// the last step does not fit: the head holds the instruction (and an encoder's [CLS]), the tail
// the end of the trajectory (and a decoder's scoring position).
func cut(ids []int32, n int) []int32 {
	head := n / 2
	out := make([]int32, 0, n)
	out = append(out, ids[:head]...)
	return append(out, ids[len(ids)-(n-head):]...)
}

// healthTimeout bounds the probe: a model that does not answer a one-token pass by then is
// reported unhealthy rather than holding the load balancer's check.
const healthTimeout = 10 * time.Second

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	// Through the queue, not beside it: a healthy model behind a stuck batcher is not healthy.
	if _, err := s.sc.ScoreIDs(ctx, []int32{0}); err != nil {
		if r.Context().Err() != nil {
			abandon()
		}
		if errors.Is(err, scorer.ErrQueueFull) {
			// Busy, not broken: a balancer that pulled it would push its load onto the others.
			writeJSON(w, http.StatusOK, map[string]string{"status": "busy"})
			return
		}
		s.met.healthFail.Inc()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) infoHandler(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.info)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code, data = http.StatusInternalServerError, fmt.Appendf(nil, `{"error":%q,"type":%q}`, err.Error(), typeInternal)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, ErrorResponse{Error: e.Msg, Type: e.Type})
}

// buildVersion is the module version and VCS revision the binary was built from.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, st := range bi.Settings {
		if st.Key == "vcs.revision" && len(st.Value) >= 12 {
			v += "+" + st.Value[:12]
		}
	}
	return v
}
