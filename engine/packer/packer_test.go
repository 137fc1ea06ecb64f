package packer

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randomPairs(n int, seed uint64) []Pair {
	r := rand.New(rand.NewPCG(seed, 1))
	ps := make([]Pair, n)
	for i := range ps {
		ps[i] = Pair{Index: i, Chosen: make([]int32, 1+r.IntN(60)), Rejected: make([]int32, 1+r.IntN(60))}
		ps[i].Chosen[0] = int32(i) // identifies the pair inside a batch
		ps[i].Rejected[0] = int32(-i)
	}
	return ps
}

func TestPlanAndBuild(t *testing.T) {
	pairs := randomPairs(200, 1)
	for _, b := range []Budget{{StepTokens: 256}, {StepTokens: 512, MicroTokens: 130}, {StepTokens: 121}} {
		if err := b.Validate(120); err != nil {
			t.Fatal(err)
		}
		order := Order(len(pairs), 7, 0, true)
		seen := map[int]bool{}
		for _, span := range Plan(pairs, order, b) {
			st := Build(pairs, order, span, b)
			stepTokens, weight := 0, 0.0
			for _, mb := range st.Micro {
				if len(mb.Tokens) > b.micro() {
					t.Fatalf("micro-batch of %d tokens over budget %d", len(mb.Tokens), b.micro())
				}
				stepTokens += len(mb.Tokens)
				weight += float64(mb.LossWeight)
				// every pair (chosen, rejected) is adjacent in the same micro-batch
				for p := 0; p < len(mb.Pairs); p += 2 {
					c, r := mb.Pairs[p], mb.Pairs[p+1]
					chosenFirst := mb.Tokens[mb.CuSeqlens[c]]
					rejFirst := mb.Tokens[mb.CuSeqlens[r]]
					if chosenFirst != -rejFirst {
						t.Fatalf("pair split: chosen of %d with rejected of %d", chosenFirst, -rejFirst)
					}
					seen[int(chosenFirst)] = true
				}
				if mb.Margins != nil {
					t.Fatal("margins set although no pair has one")
				}
			}
			if stepTokens > b.StepTokens && len(st.Pairs) > 1 {
				t.Fatalf("step of %d tokens over budget %d", stepTokens, b.StepTokens)
			}
			if math.Abs(weight-1) > 1e-5 {
				t.Fatalf("loss weights sum to %v", weight)
			}
		}
		if len(seen) != len(pairs) {
			t.Fatalf("epoch covered %d of %d pairs", len(seen), len(pairs))
		}
	}
}

func TestOrderDeterministic(t *testing.T) {
	a, b, c := Order(50, 3, 1, true), Order(50, 3, 1, true), Order(50, 3, 2, true)
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Fatalf("order not a function of (seed, epoch)")
	}
	s := slices.Clone(a)
	slices.Sort(s)
	for i := range s {
		if s[i] != i {
			t.Fatal("not a permutation")
		}
	}
	if !slices.Equal(Order(5, 1, 0, false), []int{0, 1, 2, 3, 4}) {
		t.Fatal("unshuffled order")
	}
}

func TestValidateRejectsOversizedPair(t *testing.T) {
	if err := (Budget{StepTokens: 100, MicroTokens: 50}).Validate(51); err == nil {
		t.Fatal("a 51-token pair must not fit a 50-token micro-batch")
	}
	if err := (Budget{}).Validate(1); err == nil {
		t.Fatal("zero budget accepted")
	}
}

func TestSequencesKeepsOrder(t *testing.T) {
	seqs := [][]int32{{1, 2}, {3}, {4, 5, 6}, {7}, {8, 9, 10, 11}}
	bs, idx := Sequences(seqs, 4)
	var flat []int
	for i, b := range bs {
		if len(b.Tokens) > 4 && len(idx[i]) > 1 {
			t.Fatalf("batch over budget: %v", b.Tokens)
		}
		flat = append(flat, idx[i]...)
	}
	if !slices.Equal(flat, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("order lost: %v", flat)
	}
}
