package scripted

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
)

func TestAvoid(t *testing.T) {
	cs := []cand{{"a", 1}, {"b", 2}, {" c ", 1}}
	mark := func(actions ...string) *agent.State {
		st := &agent.State{Steps: []dataset.Step{{Action: "x"}}}
		for _, a := range actions {
			st.Reflections = append(st.Reflections, agent.Reflection{Step: 1, Action: a})
		}
		// A mark at another step must not count.
		st.Reflections = append(st.Reflections, agent.Reflection{Step: 0, Action: "b"})
		return st
	}
	fallbacks := func() [][]string { return [][]string{{"a"}, {"b", "d"}} }
	cases := []struct {
		name string
		st   *agent.State
		norm func(string) string
		want []string
	}{
		{"no marks keeps all", mark(), same, []string{"a", "b", " c "}},
		{"marked dropped", mark("a"), same, []string{"b", " c "}},
		{"raw text misses a padded action", mark("a", "b", "c"), same, []string{" c "}},
		{"norm matches it", mark("a", "b", " c"), strings.TrimSpace, []string{"d"}},
		{"first unmarked fallback", mark("a", "b", " c "), same, []string{"d"}},
		{"everything marked keeps the distribution", mark("a", "b", " c ", "d"), same, []string{"a", "b", " c "}},
	}
	for _, c := range cases {
		var got []string
		for _, x := range avoid(cs, c.st, c.norm, fallbacks) {
			got = append(got, x.action)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDrawFollowsWeights(t *testing.T) {
	cs := addCand(addCand(addCand(nil, "a", 1), "b", 3), "a", 0) // zero weight adds nothing
	if len(cs) != 2 || cs[0].w != 1 {
		t.Fatalf("addCand: %v", cs)
	}
	cs = addCand(cs, "a", 1) // now a:2, b:3
	got := draw(cs, agent.ActOptions{N: 20000, Rand: rand.New(rand.NewPCG(5, 6))}, nil)
	n := 0
	for _, a := range got {
		if a == "a" {
			n++
		}
	}
	if share := float64(n) / float64(len(got)); share < 0.38 || share > 0.42 {
		t.Errorf("share of a = %.3f, want about 2/5", share)
	}
	greedy := draw(cs, agent.ActOptions{N: 7, Greedy: true}, func() *rand.Rand { return rand.New(rand.NewPCG(1, 1)) })
	if len(greedy) != 1 {
		t.Errorf("greedy draw gave %d actions, want 1", len(greedy))
	}
}
