package agent

import (
	"math/rand/v2"
	"testing"

	"github.com/armap/armap/pipeline/dataset"
)

func TestStateSeedRand(t *testing.T) {
	base := State{Instruction: "make 24", Steps: []dataset.Step{{Action: "a", Observation: "o"}}, Observation: "now"}
	draw := func(s StateSeed, st State) uint64 { return s.Rand(&st).Uint64() }
	withObs := StateSeed{Salt: "x\x00", Observation: true, Stream: 7}
	noObs := StateSeed{Salt: "x\x00", Stream: 7}

	otherObs := base
	otherObs.Observation = "later"
	otherStep := base
	otherStep.Steps = []dataset.Step{{Action: "b", Observation: "o"}}

	cases := []struct {
		name     string
		a, b     uint64
		wantSame bool
	}{
		{"same state, same draw", draw(withObs, base), draw(withObs, base), true},
		{"observation hashed when asked", draw(withObs, base), draw(withObs, otherObs), false},
		{"observation ignored otherwise", draw(noObs, base), draw(noObs, otherObs), true},
		{"history hashed", draw(noObs, base), draw(noObs, otherStep), false},
		{"salt hashed", draw(withObs, base), draw(StateSeed{Salt: "y\x00", Observation: true, Stream: 7}, base), false},
		{"stream used", draw(withObs, base), draw(StateSeed{Salt: "x\x00", Observation: true, Stream: 8}, base), false},
	}
	for _, c := range cases {
		if (c.a == c.b) != c.wantSame {
			t.Errorf("%s: draws %d and %d, want same=%v", c.name, c.a, c.b, c.wantSame)
		}
	}
}

func TestActOptionsDraws(t *testing.T) {
	given := rand.New(rand.NewPCG(1, 2))
	state := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name      string
		opt       ActOptions
		wantN     int
		wantState bool
	}{
		{"sampling uses Rand", ActOptions{N: 5, Rand: given}, 5, false},
		{"greedy takes one from the state", ActOptions{N: 5, Greedy: true, Rand: given}, 1, true},
		{"no Rand falls back to the state", ActOptions{N: 3}, 3, true},
		{"N below one means one", ActOptions{N: 0, Rand: given}, 1, false},
	}
	for _, c := range cases {
		called := false
		n, rng := c.opt.Draws(func() *rand.Rand { called = true; return state })
		if n != c.wantN {
			t.Errorf("%s: n = %d, want %d", c.name, n, c.wantN)
		}
		if called != c.wantState || (rng == state) != c.wantState {
			t.Errorf("%s: state generator called=%v used=%v, want %v", c.name, called, rng == state, c.wantState)
		}
	}
}
