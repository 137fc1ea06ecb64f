package scorer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/pipeline/dataset"
)

// Options configure the dynamic batcher.
type Options struct {
	MaxBatchTokens int           // token budget of one forward pass
	MaxWait        time.Duration // how long a batch's first request waits for company
	QueueLimit     int           // sequences waiting at most, beside the batch being formed; beyond that Submit fails with ErrQueueFull
}

// DefaultOptions suit interactive planning on a CPU.
func DefaultOptions() Options {
	return Options{MaxBatchTokens: 16384, MaxWait: 2 * time.Millisecond, QueueLimit: 4096}
}

// WithDefaults fills the unset (zero or negative) settings as New does.
func (o Options) WithDefaults() Options {
	d := DefaultOptions()
	if o.MaxBatchTokens <= 0 {
		o.MaxBatchTokens = d.MaxBatchTokens
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = d.QueueLimit
	}
	if o.MaxWait < 0 {
		o.MaxWait = 0
	}
	return o
}

// Errors a caller can tell apart.
var (
	ErrQueueFull = errors.New("scorer: queue full")
	ErrClosed    = errors.New("scorer: closed")
)

// BatchInfo describes one forward pass, for metrics.
type BatchInfo struct {
	Seqs      int
	Tokens    int
	Compute   time.Duration
	QueueWait []time.Duration // per request: from submission to the start of its batch
}

// Scorer scores single trajectories submitted from many goroutines: a token-budget queue in
// front of the model packs concurrent requests into one forward pass (as TEI's router does).
type Scorer struct {
	m       *cgo.Model
	in      *Inputs
	opt     Options
	queue   chan *request
	done    chan struct{}
	closing sync.Once
	// gate orders submissions against Close: a request is either queued before the batcher is
	// told to stop (and then drained and answered) or refused with ErrClosed, never queued
	// after the batcher has gone.
	gate   sync.RWMutex
	closed bool
	wg     sync.WaitGroup

	OnBatch func(BatchInfo) // optional observer, called from the batching goroutine

	sequences atomic.Int64
	batches   atomic.Int64
	tokens    atomic.Int64
	dropped   atomic.Int64
	truncated atomic.Int64
	depth     atomic.Int64
}

type request struct {
	ctx   context.Context
	ids   []int32
	at    time.Time
	score float32
	err   error
	ready chan struct{}
}

// New starts a scorer over m. in turns requests into token ids (its Enc may be nil when only ids
// are scored). Close stops it; the model stays the caller's.
func New(m *cgo.Model, in *Inputs, opt Options) *Scorer {
	opt = opt.WithDefaults()
	s := &Scorer{m: m, in: in, opt: opt, queue: make(chan *request, opt.QueueLimit), done: make(chan struct{})}
	s.wg.Add(1)
	go s.loop()
	return s
}

// Inputs exposes the tokenization limits (vocabulary, max length).
func (s *Scorer) Inputs() *Inputs { return s.in }

// Stats are cumulative counters.
type Stats struct {
	Sequences  int64 `json:"sequences"` // submitted (an HTTP request's items count one each)
	Batches    int64 `json:"batches"`
	Tokens     int64 `json:"tokens"`
	Dropped    int64 `json:"dropped"` // cancelled before their batch ran
	Truncated  int64 `json:"truncated"`
	QueueDepth int64 `json:"queue_depth"`
}

// Stats returns the counters so far.
func (s *Scorer) Stats() Stats {
	return Stats{Sequences: s.sequences.Load(), Batches: s.batches.Load(), Tokens: s.tokens.Load(), Dropped: s.dropped.Load(),
		Truncated: s.truncated.Load(), QueueDepth: s.depth.Load()}
}

// Close stops accepting requests, finishes the queued ones and stops the batcher.
func (s *Scorer) Close() {
	s.closing.Do(func() {
		s.gate.Lock()
		s.closed = true
		close(s.done)
		s.gate.Unlock()
	})
	s.wg.Wait()
}

// Score scores one trajectory given as text (tokenized in the caller's goroutine).
func (s *Scorer) Score(ctx context.Context, instruction string, steps []dataset.Step) (float64, error) {
	ids, err := s.encode(&dataset.ScoreRequest{Instruction: instruction, Steps: steps})
	if err != nil {
		return 0, err
	}
	return s.ScoreIDs(ctx, ids)
}

// encode is Inputs.Tokens, counting a truncated sequence in Stats.
func (s *Scorer) encode(r *dataset.ScoreRequest) ([]int32, error) {
	ids, tr, err := s.in.Tokens(r)
	if err != nil {
		return nil, err
	}
	if tr {
		s.truncated.Add(1)
	}
	return ids, nil
}

// ScoreIDs scores one token sequence.
func (s *Scorer) ScoreIDs(ctx context.Context, ids []int32) (float64, error) {
	if err := s.check(ids); err != nil {
		return 0, err
	}
	rs, err := s.enqueue(ctx, [][]int32{ids})
	if err != nil {
		return 0, err
	}
	return s.wait(ctx, rs[0])
}

// ScoreRequests scores many requests (one HTTP call's items) and returns scores in order. All
// are tokenized before any is queued; then they go through ScoreBatch, so they batch with
// everyone else's, and they are queued all together or not at all.
func (s *Scorer) ScoreRequests(ctx context.Context, reqs []dataset.ScoreRequest) ([]float64, error) {
	seqs := make([][]int32, len(reqs))
	for i := range reqs {
		ids, err := s.encode(&reqs[i])
		if err != nil {
			return nil, fmt.Errorf("item %d (id %q): %w", i, reqs[i].ID, err)
		}
		seqs[i] = ids
	}
	return s.ScoreBatch(ctx, seqs)
}

// ScoreBatch scores many token sequences (one HTTP request's items) and returns their scores in
// order. All of them join the shared queue before the first is awaited, so they batch with each
// other and with everyone else's. They are queued all together or not at all: a request refused
// with ErrQueueFull (or ErrClosed, or for a bad sequence) leaves nothing in the queue to take
// the room of the next one.
func (s *Scorer) ScoreBatch(ctx context.Context, seqs [][]int32) ([]float64, error) {
	for i, ids := range seqs {
		if err := s.check(ids); err != nil {
			return nil, fmt.Errorf("sequence %d: %w", i, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // on return every request has an answer or is no longer wanted
	rs, err := s.enqueue(ctx, seqs)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(seqs))
	for i, r := range rs {
		v, err := s.wait(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// check refuses a sequence the backend would fail on. It runs before queueing, not only in the
// backend: one bad sequence would fail its whole batch, other callers' requests included.
func (s *Scorer) check(ids []int32) error {
	if len(ids) == 0 {
		return errors.New("scorer: empty sequence")
	}
	if len(ids) > s.in.MaxLen {
		return fmt.Errorf("scorer: %d tokens, more than max_length %d (the model's positions unless set lower)", len(ids), s.in.MaxLen)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= s.in.Vocab {
			return fmt.Errorf("scorer: token id %d at position %d is outside the vocabulary [0, %d)", id, i, s.in.Vocab)
		}
	}
	return nil
}

// enqueue queues every sequence or none. The room is reserved in depth before anything is sent:
// depth counts what the channel holds plus what the batcher has taken but not yet counted off,
// so while depth stays within QueueLimit (the channel's capacity) the sends cannot block.
func (s *Scorer) enqueue(ctx context.Context, seqs [][]int32) ([]*request, error) {
	n := int64(len(seqs))
	if n > int64(s.opt.QueueLimit) {
		return nil, fmt.Errorf("scorer: %d sequences in one call, more than queue_limit %d: they could never be queued together", n, s.opt.QueueLimit)
	}
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	for {
		d := s.depth.Load()
		if d+n > int64(s.opt.QueueLimit) {
			return nil, ErrQueueFull
		}
		if s.depth.CompareAndSwap(d, d+n) {
			break
		}
	}
	now := time.Now()
	rs := make([]*request, len(seqs))
	for i, ids := range seqs {
		rs[i] = &request{ctx: ctx, ids: ids, at: now, ready: make(chan struct{})}
		s.queue <- rs[i]
	}
	s.sequences.Add(n)
	return rs, nil
}

func (s *Scorer) wait(ctx context.Context, r *request) (float64, error) {
	select {
	case <-r.ready:
		return float64(r.score), r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// loop is the batcher: take the first waiting request, gather more until the token budget is
// full or MaxWait has passed since the first arrived, run one forward pass, answer everyone.
func (s *Scorer) loop() {
	defer s.wg.Done()
	var carry *request // a request that did not fit the previous batch
	for {
		var first *request
		if carry != nil {
			first, carry = carry, nil
		} else {
			select {
			case first = <-s.queue:
				s.depth.Add(-1)
			case <-s.done:
				s.drain()
				return
			}
		}
		batch := []*request{first}
		tokens := len(first.ids)
		deadline := time.NewTimer(max(s.opt.MaxWait-time.Since(first.at), 0))
		// add takes r into the batch, or keeps it for the next one when it would overflow the budget.
		add := func(r *request) bool {
			s.depth.Add(-1)
			if tokens+len(r.ids) > s.opt.MaxBatchTokens {
				carry = r
				return false
			}
			batch = append(batch, r)
			tokens += len(r.ids)
			return true
		}
	gather:
		for tokens < s.opt.MaxBatchTokens {
			// What is already queued goes in regardless of the clock. Under load the first
			// request's wait is over before the batch starts, and a select over a ready queue
			// and a fired timer picks at random: batches would stay at about two sequences
			// while dozens wait.
			select {
			case r := <-s.queue:
				if !add(r) {
					break gather
				}
				continue
			default:
			}
			select {
			case r := <-s.queue:
				if !add(r) {
					break gather
				}
			case <-deadline.C:
				break gather
			case <-s.done:
				break gather
			}
		}
		deadline.Stop()
		s.run(batch)
	}
}

// drain answers what is still queued when Close is called.
func (s *Scorer) drain() {
	for {
		var batch []*request
		tokens := 0
		for tokens < s.opt.MaxBatchTokens {
			select {
			case r := <-s.queue:
				s.depth.Add(-1)
				batch = append(batch, r)
				tokens += len(r.ids)
				continue
			default:
			}
			break
		}
		if len(batch) == 0 {
			return
		}
		s.run(batch)
	}
}

func (s *Scorer) run(batch []*request) {
	// A disconnected client's work is dropped before it costs a forward pass.
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.ready)
			s.dropped.Add(1)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	start := time.Now()
	b := &cgo.Batch{CuSeqlens: make([]int32, 1, len(live)+1)}
	waits := make([]time.Duration, len(live))
	for i, r := range live {
		b.Tokens = append(b.Tokens, r.ids...)
		b.CuSeqlens = append(b.CuSeqlens, int32(len(b.Tokens)))
		waits[i] = start.Sub(r.at)
	}
	scores, err := s.m.Score(b)
	// Counted and observed before the callers are answered, so that a caller that has its score
	// also sees its batch in Stats and in what OnBatch recorded.
	s.batches.Add(1)
	s.tokens.Add(int64(len(b.Tokens)))
	if s.OnBatch != nil {
		s.OnBatch(BatchInfo{Seqs: len(live), Tokens: len(b.Tokens), Compute: time.Since(start), QueueWait: waits})
	}
	for i, r := range live {
		if err != nil {
			r.err = err
		} else {
			r.score = scores[i]
		}
		close(r.ready)
	}
}
