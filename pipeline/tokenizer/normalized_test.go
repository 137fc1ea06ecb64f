package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// replacePerMatch is HF's way of replacing: one transformRange per match, each rebuilding the
// whole string. replace does it in one pass and must give the same text and alignments.
func replacePerMatch(n *normString, p pattern, content string, expand func(m matchSpan) string) {
	offset := 0
	for _, m := range p.findMatches(n.norm) {
		if !m.isMatch {
			continue
		}
		s, e := m.start+offset, m.end+offset
		c := content
		if expand != nil {
			c = expand(m)
		}
		dest := make([]change, 0, len(c))
		for _, r := range c {
			dest = append(dest, change{r, 1})
		}
		n.transformRange(s, e, dest, utf8.RuneCountInString(n.norm[s:e]))
		offset += len(c) - (m.end - m.start)
	}
}

func TestReplaceMatchesPerMatchTransform(t *testing.T) {
	regex := func(src string) pattern {
		re, err := compileRegex(src)
		if err != nil {
			t.Fatal(err)
		}
		return runeRegexPattern{re}
	}
	pats := []struct {
		name string
		p    pattern
	}{
		{"space", runePredicate(func(r rune) bool { return r == ' ' })},
		{"literal", searchPattern{literalSearcher{"ab"}}},
		{"regex", regex(`\s+`)},
		{"empty matches", regex(`x*`)},
		{"multibyte", regex(`é+|▁`)},
	}
	alphabet := []string{"a", "b", " ", "  ", "x", "é", "▁", "日", "ab"}
	rng := rand.New(rand.NewPCG(7, 9))
	for _, pc := range pats {
		for _, content := range []string{"▁", "", "XYZ", "é"} {
			for i := range 200 {
				var sb strings.Builder
				for range rng.IntN(12) {
					sb.WriteString(alphabet[rng.IntN(len(alphabet))])
				}
				text := sb.String()
				base := rng.IntN(5)
				want, got := newNormString(text, base), newNormString(text, base)
				if i%2 == 1 {
					// A piece that an earlier step already changed: alignments no longer 1:1.
					want.prepend("▁")
					got.prepend("▁")
				}
				var expand func(matchSpan) string
				if i%3 == 2 {
					// As Replace's $N expansion does: the content depends on the match.
					expand = func(m matchSpan) string { return strings.Repeat("é", m.end-m.start) }
				}
				replacePerMatch(&want, pc.p, content, expand)
				got.replace(pc.p, content, expand)
				if got.norm != want.norm || !slices.Equal(got.align, want.align) {
					t.Fatalf("%s -> %q in %q (base %d):\n got %q %v\nwant %q %v",
						pc.name, content, text, base, got.norm, got.align, want.norm, want.align)
				}
			}
		}
	}
}

// A long text with a match every few bytes used to take seconds (quadratic).
func BenchmarkReplaceLongText(b *testing.B) {
	text := strings.Repeat("blue cotton shirt, size M ", 8000) // 208 KB, 32k spaces
	sp := runePredicate(func(r rune) bool { return r == ' ' })
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		n := newNormString(text, 0)
		n.replace(sp, "▁", nil)
	}
}

// HF's BERT clean_text drops controls, format and private-use characters, but keeps unassigned
// code points (HF: "a \u0378 b" -> [CLS] a [UNK] b [SEP]).
func TestBertCleanTextKeepsUnassigned(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a \u0378 b", "a \u0378 b"},
		{"x\uFFFFy\U0010FFFFz", "x\uFFFFy\U0010FFFFz"},
		{"a\u200bb\u0007c\ue000d", "abcd"}, // Cf, Cc, Co
		{"tab\there", "tab here"},
	} {
		n := newNormString(tc.in, 0)
		bertNormalizer{cleanText: true}.normalize(&n)
		if n.norm != tc.want {
			t.Errorf("%q: normalized to %q, want %q", tc.in, n.norm, tc.want)
		}
	}
}
