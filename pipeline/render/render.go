// Package render turns an (instruction, trajectory) into the text a reward model reads, and
// tokenizes it within a length limit.
//
// The template is plain text, one field per line, so that any tokenizer handles it and a
// HuggingFace user can reproduce it in a line of Python:
//
//	Instruction: <instruction>
//	Action: <action 1>
//	Observation: <observation 1>
//	Action: <action 2>
//	Observation: <observation 2>
//	...
//
// Lines end with "\n"; the text has no trailing newline. When steps were dropped to fit the
// length limit, a line "[<k> earlier steps omitted]" follows the instruction. Special tokens
// (BOS, CLS/SEP) come from the tokenizer's own post-processor.
package render

import (
	"fmt"
	"strings"

	"github.com/armap/armap/pipeline/dataset"
)

// Text renders instruction and steps; omitted is the number of leading steps left out.
func Text(instruction string, steps []dataset.Step, omitted int) string {
	var b strings.Builder
	b.WriteString("Instruction: ")
	b.WriteString(instruction)
	if omitted > 0 {
		fmt.Fprintf(&b, "\n[%d earlier steps omitted]", omitted)
	}
	for _, s := range steps {
		b.WriteString("\nAction: ")
		b.WriteString(s.Action)
		if s.Observation != "" {
			b.WriteString("\nObservation: ")
			b.WriteString(s.Observation)
		}
	}
	return b.String()
}

// Tokenizer is what the encoder needs of a tokenizer (pipeline/tokenizer satisfies it).
type Tokenizer interface {
	EncodeIDs(text string, addSpecial bool) []int32
}

// Encoder tokenizes rendered trajectories within MaxLen tokens.
type Encoder struct {
	Tok    Tokenizer
	MaxLen int // 0: no limit
}

// Encode returns the token ids of the rendered trajectory and whether it had to be truncated.
// Truncation keeps the instruction and the last steps: it drops the fewest leading steps that
// make the text fit, and when even the instruction with the last step is too long, it keeps the
// head of the text (the instruction side) and its tail (the last step) and cuts the middle.
func (e *Encoder) Encode(instruction string, steps []dataset.Step) ([]int32, bool) {
	ids := e.Tok.EncodeIDs(Text(instruction, steps, 0), true)
	if e.MaxLen <= 0 || len(ids) <= e.MaxLen {
		return ids, false
	}
	// The shortest candidate (the last step alone) first: when even it is too long, as with a
	// huge instruction or last step, every probe of the search below would tokenize that text
	// again, and an observation of many megabytes takes seconds and gigabytes each time.
	last := max(len(steps)-1, 0)
	shortest := ids
	if last > 0 {
		shortest = e.Tok.EncodeIDs(Text(instruction, steps[last:], last), true)
	}
	if len(shortest) > e.MaxLen {
		head := e.MaxLen / 2
		tail := e.MaxLen - head
		out := make([]int32, 0, e.MaxLen)
		out = append(out, shortest[:head]...)
		return append(out, shortest[len(shortest)-tail:]...), true
	}
	// Binary search the smallest number of dropped steps that fits; fewer dropped is longer.
	lo, hi := 1, last
	best := shortest
	for lo <= hi {
		k := (lo + hi) / 2
		cand := shortest
		if k != last {
			cand = e.Tok.EncodeIDs(Text(instruction, steps[k:], k), true)
		}
		if len(cand) <= e.MaxLen {
			best, hi = cand, k-1
		} else {
			lo = k + 1
		}
	}
	return best, true
}
