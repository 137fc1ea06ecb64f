// Package packer groups tokenized preference pairs into optimizer steps and micro-batches by a
// token budget. A pair is never split: its chosen and rejected sequences always land in the same
// micro-batch, because the pairwise loss needs both rewards in one forward pass.
package packer

import (
	"fmt"
	"math/rand/v2"

	"github.com/armap/armap/cgo"
)

// Pair is one tokenized preference example.
type Pair struct {
	Index     int // position in the dataset (for error messages and data-position bookkeeping)
	Chosen    []int32
	Rejected  []int32
	Margin    float32
	HasMargin bool
}

// Tokens is the pair's total length.
func (p *Pair) Tokens() int { return len(p.Chosen) + len(p.Rejected) }

// Budget says how many tokens an optimizer step and a micro-batch may hold.
type Budget struct {
	StepTokens  int // tokens per optimizer step (over all its micro-batches)
	MicroTokens int // tokens per forward/backward; 0 = StepTokens (no accumulation)
}

func (b Budget) micro() int {
	if b.MicroTokens <= 0 || b.MicroTokens > b.StepTokens {
		return b.StepTokens
	}
	return b.MicroTokens
}

// Validate checks the budget against the longest pair: every pair must fit a micro-batch.
func (b Budget) Validate(longestPair int) error {
	if b.StepTokens <= 0 {
		return fmt.Errorf("batch tokens must be > 0, got %d", b.StepTokens)
	}
	if longestPair > b.micro() {
		return fmt.Errorf("the longest pair has %d tokens (chosen + rejected), more than the micro-batch budget of %d tokens: raise --batch-tokens (or micro_batch_tokens) or lower max_length", longestPair, b.micro())
	}
	return nil
}

// Step is one optimizer step: micro-batches whose losses are averaged over all its pairs.
type Step struct {
	Micro []*cgo.Batch
	Pairs []int // dataset indices of the pairs, in order
}

// NumPairs is the number of pairs in the step.
func (s *Step) NumPairs() int { return len(s.Pairs) }

// Order returns the dataset order of one epoch: a permutation drawn from (seed, epoch), so that
// a resumed run sees the same order as an uninterrupted one.
func Order(n int, seed uint64, epoch int, shuffle bool) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if shuffle {
		r := rand.New(rand.NewPCG(seed, uint64(epoch)+0x9e3779b97f4a7c15))
		r.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	return idx
}

// Plan splits an epoch's order into steps of at most StepTokens tokens (a single pair longer
// than that still makes a step of its own; Validate rejects pairs that exceed a micro-batch).
// It returns, for every step, the positions in order that it covers: [start, end).
func Plan(pairs []Pair, order []int, b Budget) [][2]int {
	var out [][2]int
	start, tokens := 0, 0
	for i, k := range order {
		n := pairs[k].Tokens()
		if i > start && tokens+n > b.StepTokens {
			out = append(out, [2]int{start, i})
			start, tokens = i, 0
		}
		tokens += n
	}
	if start < len(order) {
		out = append(out, [2]int{start, len(order)})
	}
	return out
}

// Build packs the pairs order[start:end] into micro-batches of at most MicroTokens tokens and
// sets each micro-batch's loss weight to its share of the step's pairs.
func Build(pairs []Pair, order []int, span [2]int, b Budget) *Step {
	st := &Step{}
	limit := b.micro()
	var cur *cgo.Batch
	curTokens := 0
	total := span[1] - span[0]
	counts := []int{}
	flush := func() {
		if cur != nil {
			st.Micro = append(st.Micro, cur)
		}
		cur, curTokens = nil, 0
	}
	for _, k := range order[span[0]:span[1]] {
		p := &pairs[k]
		if cur != nil && curTokens+p.Tokens() > limit {
			flush()
		}
		if cur == nil {
			cur = &cgo.Batch{CuSeqlens: []int32{0}}
			counts = append(counts, 0)
		}
		c := int32(cur.NumSeqs())
		cur.Tokens = append(cur.Tokens, p.Chosen...)
		cur.CuSeqlens = append(cur.CuSeqlens, int32(len(cur.Tokens)))
		cur.Tokens = append(cur.Tokens, p.Rejected...)
		cur.CuSeqlens = append(cur.CuSeqlens, int32(len(cur.Tokens)))
		cur.Pairs = append(cur.Pairs, c, c+1)
		cur.Margins = append(cur.Margins, p.Margin)
		curTokens += p.Tokens()
		counts[len(counts)-1]++
		st.Pairs = append(st.Pairs, p.Index)
	}
	flush()
	anyMargin := false
	for _, k := range order[span[0]:span[1]] {
		anyMargin = anyMargin || pairs[k].HasMargin
	}
	for i, mb := range st.Micro {
		mb.LossWeight = float32(counts[i]) / float32(total)
		if !anyMargin {
			mb.Margins = nil
		}
	}
	return st
}

// Sequences packs plain sequences (scoring) into batches of at most budget tokens, keeping their
// order. It returns the batches and, for each, the indices of its sequences.
func Sequences(seqs [][]int32, budget int) ([]*cgo.Batch, [][]int) {
	var out []*cgo.Batch
	var idx [][]int
	var cur *cgo.Batch
	for i, s := range seqs {
		if cur != nil && len(cur.Tokens)+len(s) > budget {
			cur = nil
		}
		if cur == nil {
			cur = &cgo.Batch{CuSeqlens: []int32{0}}
			out = append(out, cur)
			idx = append(idx, nil)
		}
		cur.Tokens = append(cur.Tokens, s...)
		cur.CuSeqlens = append(cur.CuSeqlens, int32(len(cur.Tokens)))
		idx[len(idx)-1] = append(idx[len(idx)-1], i)
	}
	return out, idx
}
