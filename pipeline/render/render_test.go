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

// hashWords gives each word an id of its own (BOS 0) and counts the texts it tokenizes by size.
type hashWords struct{ calls, big *int }

func (h hashWords) EncodeIDs(text string, addSpecial bool) []int32 {
	*h.calls++
	if len(text) > 100_000 {
		*h.big++
	}
	ids := []int32{0}
	for _, w := range strings.Fields(text) {
		var x int32 = 7
		for _, c := range w {
			x = x*31 + c
		}
		ids = append(ids, x&0xffff+1)
	}
	return ids
}

// encodeSearchAll is the truncation as first written: a binary search over every number of
// dropped steps, then the hard cut of the last step alone. Encode must give the same ids.
func encodeSearchAll(tok Tokenizer, maxLen int, instruction string, steps []dataset.Step) []int32 {
	ids := tok.EncodeIDs(Text(instruction, steps, 0), true)
	if maxLen <= 0 || len(ids) <= maxLen {
		return ids
	}
	lo, hi := 1, len(steps)-1
	var best []int32
	for lo <= hi {
		k := (lo + hi) / 2
		if cand := tok.EncodeIDs(Text(instruction, steps[k:], k), true); len(cand) <= maxLen {
			best, hi = cand, k-1
		} else {
			lo = k + 1
		}
	}
	if best != nil {
		return best
	}
	k := max(len(steps)-1, 0)
	ids = tok.EncodeIDs(Text(instruction, steps[k:], k), true)
	return append(append([]int32{}, ids[:maxLen/2]...), ids[len(ids)-(maxLen-maxLen/2):]...)
}

func TestEncodeMatchesFullSearch(t *testing.T) {
	var calls, big int
	tok := hashWords{&calls, &big}
	for n := range 12 {
		for maxLen := 1; maxLen < 90; maxLen++ {
			st := steps(n)
			if n > 2 {
				st[n/2].Observation = strings.Repeat("long observation ", n) // uneven steps
			}
			want := encodeSearchAll(tok, maxLen, "do the thing", st)
			got, _ := (&Encoder{Tok: tok, MaxLen: maxLen}).Encode("do the thing", st)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%d steps, max %d:\n got %v\nwant %v", n, maxLen, got, want)
			}
		}
	}
}

// A huge last step or instruction is in every candidate of the search: it is tokenized twice
// (the whole text, then the last step alone), not once per probe.
func TestEncodeTokenizesAHugeTextTwice(t *testing.T) {
	huge := strings.Repeat("word ", 30_000)
	for _, c := range []struct {
		name        string
		instruction string
		lastObs     string
	}{
		{"last step", "do the thing", huge},
		{"instruction", huge, "obs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls, big int
			tok := hashWords{&calls, &big}
			st := steps(40)
			st[len(st)-1].Observation = c.lastObs
			got, tr := (&Encoder{Tok: tok, MaxLen: 64}).Encode(c.instruction, st)
			if !tr || len(got) != 64 {
				t.Fatalf("%d ids, truncated %v; want the hard cut to 64", len(got), tr)
			}
			if big != 2 {
				t.Errorf("the huge text was tokenized %d times, want 2", big)
			}
			if want := encodeSearchAll(tok, 64, c.instruction, st); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ids differ from the full search's")
			}
		})
	}
}
