package shop

import (
	"math"
	"sort"
	"strings"
	"unicode"
)

// WebShop matches attributes and options with thefuzz's token_set_ratio (score > 85 counts as a
// match) after a default processing step that lowercases and turns every non-alphanumeric rune
// into a space. This file reimplements that scorer so rewards follow WebShop's rule, quirks
// included (a token subset scores 100: "navy" vs "navy blue").

// fuzzProcess is thefuzz's full_process: lowercase, non-alphanumerics to spaces, trimmed.
func fuzzProcess(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteByte(' ')
		}
	}
	return strings.TrimSpace(b.String())
}

// uniqueSorted returns the distinct whitespace-separated tokens of s, sorted.
func uniqueSorted(s string) []string {
	f := strings.Fields(s)
	sort.Strings(f)
	out := f[:0]
	for i, t := range f {
		if i == 0 || t != f[i-1] {
			out = append(out, t)
		}
	}
	return out
}

// lcsLen is the length of the longest common subsequence of a and b (bytes; the processed
// strings of this package are ASCII in practice, and multi-byte runes only make the score
// slightly stricter).
func lcsLen(a, b string) int {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// indelDistance counts insertions and deletions (no substitutions) turning a into b; the
// normalized similarity 1 - d/(len(a)+len(b)) is what fuzz.ratio reports.
func indelDistance(a, b string) int { return len(a) + len(b) - 2*lcsLen(a, b) }

// TokenSetRatio is thefuzz.fuzz.token_set_ratio: 0..100, rounded half to even as Python's round.
func TokenSetRatio(s1, s2 string) int {
	a := uniqueSorted(fuzzProcess(s1))
	b := uniqueSorted(fuzzProcess(s2))
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	var inter, diffAB, diffBA []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			diffAB = append(diffAB, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			diffBA = append(diffBA, b[j])
			j++
		default:
			inter = append(inter, a[i])
			i++
			j++
		}
	}
	if len(inter) > 0 && (len(diffAB) == 0 || len(diffBA) == 0) {
		return 100
	}
	sect := strings.Join(inter, " ")
	ab := strings.Join(diffAB, " ")
	ba := strings.Join(diffBA, " ")
	sectLen := len(sect)
	sep := 0
	if sectLen > 0 {
		sep = 1
	}
	sectAB := sectLen + sep + len(ab) // len of "sect ab"
	sectBA := sectLen + sep + len(ba)
	// "sect ab" vs "sect ba" share the prefix, so their distance is that of the differences.
	best := 1 - float64(indelDistance(ab, ba))/float64(sectAB+sectBA)
	if sectLen > 0 {
		// "sect" vs "sect ab" differ by the separator plus ab.
		r1 := 1 - float64(sep+len(ab))/float64(sectLen+sectAB)
		r2 := 1 - float64(sep+len(ba))/float64(sectLen+sectBA)
		best = math.Max(best, math.Max(r1, r2))
	}
	return int(math.RoundToEven(best * 100))
}

// fuzzyMatch is WebShop's acceptance test for attributes and non-size options.
func fuzzyMatch(a, b string) bool { return TokenSetRatio(a, b) > 85 }

// colorWords is the colour vocabulary for option normalization, in alphabetical order like
// WebShop's COLOR_SET (whose first colour found as a substring replaces the option value). This
// is our catalog's colour list, not a copy of WebShop's.
var colorWords = [...]string{
	"beige", "black", "blue", "brown", "burgundy", "charcoal", "gold", "green", "grey", "ivory",
	"khaki", "navy", "olive", "orange", "pink", "purple", "red", "silver", "teal", "white", "yellow",
}

// normalizeColor mirrors WebShop's normalize_color: the first colour word contained in s, else s.
func normalizeColor(s string) string {
	for _, c := range colorWords {
		if strings.Contains(s, c) {
			return c
		}
	}
	return s
}
