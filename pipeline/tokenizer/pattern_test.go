package tokenizer

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func randomMixedText(rng *rand.Rand) string {
	pools := []string{"abcXYZ", "0123456789", "   ", "\t\n\r\n", ".,!?'\"()-_/", "'s'S'T'RE'll'd'M'V", "éÀßü", "e\u0301\u0308",
		"中文日本", "한국", "😀👍🏽\u200d", "\u00a0\u3000\u2028\u0085", "①Ⅻ²½", "\x01\x7f\ufffd"}
	var sb strings.Builder
	for n := rng.IntN(30); n >= 0; n-- {
		p := []rune(pools[rng.IntN(len(pools))])
		for k := 1 + rng.IntN(3); k > 0; k-- {
			sb.WriteRune(p[rng.IntN(len(p))])
		}
	}
	return sb.String()
}

// The hand-written splitters must agree with the general regex engine on the patterns they
// replace (both are also checked against HF in TestHFCases). The one known difference is
// Unicode case folding under (?i): Oniguruma lets U+017F (long s) match 's', regexp2 does not;
// the hand splitter follows Oniguruma (TestLongSContraction).
func TestHandSplitterMatchesRegex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, src := range []string{gpt2Pattern, llama3Pattern, qwen2Pattern} {
		h, ok := handSplitterFor(src)
		if !ok {
			t.Fatalf("no hand splitter for %q", src)
		}
		re, err := compileRegex(src)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3000; i++ {
			s := randomMixedText(rng)
			got, want := h.findMatches(s), (runeRegexPattern{re}).findMatches(s)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pattern %q on %q:\nhand  %v\nregex %v", src, s, got, want)
			}
		}
	}
}

func TestSplitBehaviors(t *testing.T) {
	s := "the-final--countdown"
	dash := runePredicate(func(r rune) bool { return r == '-' })
	cases := []struct {
		b      splitBehavior
		invert bool
		want   []string
	}{
		{behaviorRemoved, false, []string{"the", "final", "countdown"}},
		{behaviorIsolated, false, []string{"the", "-", "final", "-", "-", "countdown"}},
		{behaviorMergedWithPrevious, false, []string{"the-", "final-", "-", "countdown"}},
		{behaviorMergedWithNext, false, []string{"the", "-final", "-", "-countdown"}},
		{behaviorContiguous, false, []string{"the", "-", "final", "--", "countdown"}},
		{behaviorRemoved, true, []string{"-", "-", "-"}},
	}
	for _, c := range cases {
		ns := newNormString(s, 0)
		var got []string
		for _, p := range ns.splitBy(nil, dash, c.b, c.invert) {
			got = append(got, p.ns.norm)
			if o0, o1 := p.ns.origOffsets(); s[o0:o1] != p.ns.norm {
				t.Errorf("behavior %d: piece %q has original offsets %d..%d", c.b, p.ns.norm, o0, o1)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("behavior %d invert %v: got %q, want %q", c.b, c.invert, got, c.want)
		}
	}
}

// HF (Oniguruma) splits "x'ſR" as "x", "'ſ", "R": (?i:'s) matches the long s.
func TestLongSContraction(t *testing.T) {
	h, _ := handSplitterFor(llama3Pattern)
	s := "x'ſR a'Ss"
	var got []string
	for _, m := range h.findMatches(s) {
		got = append(got, s[m.start:m.end])
	}
	want := []string{"x", "'ſ", "R", " a", "'S", "s"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
