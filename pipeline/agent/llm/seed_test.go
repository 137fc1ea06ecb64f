package llmpolicy

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/dataset"
)

// Refinement and wrong-answer requests are sampled, so they carry seeds: the same item gives the
// same request bytes, run after run, and never a seed from the clock.
func TestSynthesisCallsAreSeeded(t *testing.T) {
	reply := func(r fakeReq, _ int) []string {
		if strings.Contains(r.user(), "WRONG answers") {
			return []string{"this line is not an answer"} // no usable answer: every round is sent
		}
		return []string{"buy a green scarf"}
	}
	run := func(opts ...CallOption) []fakeReq {
		f, c := newFakeLLM(t, reply)
		ctx := context.Background()
		if _, err := RefineInstruction(ctx, c, "shop", shopTraj, opts...); err != nil {
			t.Fatal(err)
		}
		_, _ = Game24WrongAnswers(ctx, c, "4 9 10 13", nil, 2, opts...)
		return f.requests()
	}
	a, b := run(), run()
	if len(a) != 1+wrongAnswerRounds || len(b) != len(a) {
		t.Fatalf("%d and %d requests, want %d", len(a), len(b), 1+wrongAnswerRounds)
	}
	seeds := map[int64]bool{}
	for i := range a {
		if a[i].Seed == nil || *a[i].Temperature == 0 {
			t.Fatalf("request %d unseeded or greedy: %s", i, a[i].raw)
		}
		if a[i].raw != b[i].raw {
			t.Fatalf("request %d differs between identical runs:\n%s\n%s", i, a[i].raw, b[i].raw)
		}
		seeds[*a[i].Seed] = true
	}
	if len(seeds) != len(a) {
		t.Fatalf("seeds repeat across calls and rounds: %v", seeds)
	}

	// An explicit seed, drawn from the item's random source, is what the requests carry.
	rng := rand.New(rand.NewPCG(3, 4))
	seed := rng.Int64N(1 << 31)
	c := run(WithSeed(seed))
	if *c[0].Seed != seed || *c[1].Seed != seed || *c[2].Seed != seed+1 {
		t.Fatalf("seeds %d %d %d, want %d %d %d", *c[0].Seed, *c[1].Seed, *c[2].Seed, seed, seed, seed+1)
	}

	// A different trajectory, a different seed.
	f, cl := newFakeLLM(t, reply)
	other := shopTraj
	other.Steps = append([]dataset.Step(nil), shopTraj.Steps...)
	other.Steps[2].Action = "click[grey]"
	if _, err := RefineInstruction(context.Background(), cl, "shop", other); err != nil {
		t.Fatal(err)
	}
	if *f.requests()[0].Seed == *a[0].Seed {
		t.Fatalf("two different prompts got the same seed %d", *a[0].Seed)
	}
}
