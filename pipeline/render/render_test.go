package render

import (
	"fmt"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/dataset"
)

// words is a whitespace tokenizer with a BOS id 0: enough to count tokens exactly.
type words struct{}

func (words) EncodeIDs(text string, addSpecial bool) []int32 {
	ids := []int32{0}
	for range strings.Fields(text) {
		ids = append(ids, 1)
	}
	return ids
}

func steps(n int) []dataset.Step {
	var s []dataset.Step
	for i := 0; i < n; i++ {
		s = append(s, dataset.Step{Action: fmt.Sprintf("act %d", i), Observation: fmt.Sprintf("obs %d", i)})
	}
	return s
}

func TestText(t *testing.T) {
	got := Text("buy a lamp", steps(2), 0)
	want := "Instruction: buy a lamp\nAction: act 0\nObservation: obs 0\nAction: act 1\nObservation: obs 1"
	if got != want {
		t.Fatalf("got %q", got)
	}
	if got := Text("x", steps(1), 3); !strings.Contains(got, "[3 earlier steps omitted]") {
		t.Fatalf("omitted marker missing: %q", got)
	}
}

func TestEncodeTruncation(t *testing.T) {
	// Instruction line = 4 tokens + BOS; each step = 6 tokens; marker = 4 tokens.
	cases := []struct {
		name      string
		n, maxLen int
		truncated bool
		wantLen   int
		keepsLast bool
	}{
		{"fits", 3, 100, false, 5 + 18, true},
		{"drops leading steps", 10, 40, true, 5 + 4 + 30, true},
		{"hard cut", 2, 8, true, 8, true},
		{"no limit", 10, 0, false, 5 + 60, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &Encoder{Tok: words{}, MaxLen: c.maxLen}
			ids, tr := e.Encode("do the thing", steps(c.n))
			if tr != c.truncated || len(ids) != c.wantLen {
				t.Fatalf("len %d truncated %v, want %d %v", len(ids), tr, c.wantLen, c.truncated)
			}
			if c.maxLen > 0 && len(ids) > c.maxLen {
				t.Fatalf("over the limit")
			}
		})
	}
}
