// Package scorer scores trajectories with a reward model: whole JSONL files in input order
// (Stream), and single trajectories from many goroutines through a token-budget dynamic batcher
// (Scorer).
package scorer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/packer"
	"github.com/armap/armap/internal/streamio"
	"github.com/armap/armap/pipeline/dataset"
)

// Encoder tokenizes an (instruction, trajectory) within the length limit (render.Encoder).
type Encoder interface {
	Encode(instruction string, steps []dataset.Step) ([]int32, bool)
}

// Inputs turns score requests into token ids with the model's limits.
type Inputs struct {
	Enc    Encoder // nil: only input_ids requests are accepted
	Vocab  int
	MaxLen int
}

// Tokens returns the ids of one request and whether text was truncated to fit. Errors name the
// field at fault; the caller adds file and line.
func (in *Inputs) Tokens(r *dataset.ScoreRequest) ([]int32, bool, error) {
	if err := r.Validate(); err != nil {
		return nil, false, err
	}
	if len(r.InputIDs) > 0 {
		if err := dataset.CheckIDs("input_ids", r.InputIDs, in.Vocab, in.MaxLen); err != nil {
			return nil, false, err
		}
		return r.InputIDs, false, nil
	}
	if in.Enc == nil {
		return nil, false, &dataset.LineError{Field: "instruction", Err: fmt.Errorf("text requests need the model's tokenizer.json (or send input_ids)")}
	}
	ids, tr := in.Enc.Encode(r.Instruction, r.Steps)
	return ids, tr, nil
}

// StreamStats counts what Stream did.
type StreamStats struct {
	Lines      int     `json:"lines"`
	Tokens     int64   `json:"tokens"`
	Truncated  int     `json:"truncated"`
	Batches    int     `json:"batches"`
	Seconds    float64 `json:"seconds"`
	SeqsPerS   float64 `json:"seqs_per_s"`
	TokensPerS float64 `json:"tokens_per_s"`
}

// idleGrace is how long Stream waits for more input before it answers what it has: long enough
// that a fast producer's requests still fill batches, short for one that waits for each answer.
const idleGrace = 20 * time.Millisecond

// Stream reads score requests (JSONL) from r and writes one {"id","score"} line per request to
// w, in input order. Requests are scored in chunks of about budget tokens, so the input can be
// larger than memory, and whenever the input stalls, so that a producer waiting for its answers
// gets them. What reaches w always ends at a line end; on an error, the answers already computed
// are written and the error returned. name is used in error messages.
func Stream(ctx context.Context, m *cgo.Model, in *Inputs, r io.Reader, name string, w io.Writer, budget int) (StreamStats, error) {
	// Ends the input's reader goroutine when Stream returns, early stops included.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var st StreamStats
	t0 := time.Now()
	bw := streamio.NewLineWriter(w)
	var ids []string
	var seqs [][]int32
	pending := 0
	flush := func() error {
		if len(seqs) == 0 {
			return nil
		}
		batches, idx := packer.Sequences(seqs, budget)
		scores := make([]float32, len(seqs))
		for bi, b := range batches {
			s, err := m.Score(b)
			if err != nil {
				return err
			}
			for j, k := range idx[bi] {
				scores[k] = s[j]
			}
		}
		st.Batches += len(batches)
		enc := json.NewEncoder(bw)
		for i, id := range ids {
			if err := enc.Encode(dataset.ScoreResult{ID: id, Score: float64(scores[i])}); err != nil {
				return err
			}
		}
		ids, seqs, pending = ids[:0], seqs[:0], 0
		return nil
	}
	// A read blocked on a pipe ends at a cancellation, so an interrupted stream ends in an error.
	r = streamio.NewReader(ctx, r, idleGrace, func() error {
		if err := flush(); err != nil {
			return err
		}
		return bw.Flush()
	})
	err := dataset.ScanJSONLStrict(r, name, func(line int, req *dataset.ScoreRequest) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		toks, tr, err := in.Tokens(req)
		if err != nil {
			return err
		}
		if tr {
			st.Truncated++
		}
		st.Lines++
		st.Tokens += int64(len(toks))
		ids = append(ids, req.ID)
		seqs = append(seqs, toks)
		pending += len(toks)
		if pending >= 4*budget {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = flush()
	}
	// The answers already written to bw are whole lines of right scores: they go out either way.
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	st.Seconds = time.Since(t0).Seconds()
	if st.Seconds > 0 {
		st.SeqsPerS, st.TokensPerS = float64(st.Lines)/st.Seconds, float64(st.Tokens)/st.Seconds
	}
	return st, err
}
