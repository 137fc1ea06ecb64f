package llmpolicy

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// DefaultMinSimilarity is the similarity below which Snap keeps the model's action as written.
const DefaultMinSimilarity = 0.5

// templateRE matches admissible entries that stand for free text, such as WebShop's
// "search[<query>]" or "search[...]": the verb is fixed, the argument is the agent's.
var templateRE = regexp.MustCompile(`^(\w+)\[(?:\.\.\.|…|<[^>]*>|\{[^}]*\}|)\]$`)

// Snap maps a parsed action onto the admissible list, and reports whether the result is
// admissible. Matching goes from strict to loose: the exact string; the same string up to case,
// spacing and a final period; a template entry ("search[...]", or a bare "search") whose verb the
// action uses, which keeps the action's own argument; and finally the most similar entry by
// Similarity, if it reaches minSim.
//
// Why snap at all: ALFWorld- and WebShop-style environments do not reject an unknown command,
// they answer "Nothing happens." and count the step. Models routinely write near misses of a valid
// command ("put mug 1 in coffeemachine 1" for "put mug 1 in/on coffeemachine 1", "go to the
// fridge 1", "click[Buy Now]" for "click[buy now]"), and a wasted step for a formatting slip
// measures the prompt, not the policy. The threshold keeps the other case honest: an action that
// resembles nothing admissible stays as written, so the environment's feedback (and the reward
// model) see what the model actually meant. Ties go to the earlier entry, so runs are
// reproducible.
func Snap(action string, admissible []string, minSim float64) (string, bool) {
	if len(admissible) == 0 {
		return action, false
	}
	for _, a := range admissible {
		if a == action {
			return a, true
		}
	}
	na := normalizeForMatch(action)
	for _, a := range admissible {
		if normalizeForMatch(a) == na {
			return a, true
		}
	}
	verb := actionVerb(action)
	for _, a := range admissible {
		if m := templateRE.FindStringSubmatch(a); m != nil && strings.EqualFold(m[1], verb) {
			return action, true
		}
		if strings.EqualFold(a, verb) && strings.Contains(action, "[") { // bare "search"
			return action, true
		}
	}
	// Word overlap first, for every entry; then the quadratic Levenshtein part in order of
	// overlap, stopping once no remaining entry can win (that part adds at most 0.5).
	type cand struct {
		i    int
		norm string
		dice float64
	}
	aw, ar := words(na), []rune(na)
	cands := make([]cand, 0, len(admissible))
	for i, a := range admissible {
		if templateRE.MatchString(a) {
			continue
		}
		nb := normalizeForMatch(a)
		cands = append(cands, cand{i, nb, dice(aw, words(nb))})
	}
	sort.SliceStable(cands, func(x, y int) bool { return cands[x].dice > cands[y].dice })
	best, bestSim := -1, -1.0
	for _, c := range cands {
		if 0.5*c.dice+0.5 < bestSim {
			break
		}
		s := 0.5*c.dice + 0.5*levRatio(ar, []rune(c.norm))
		if s > bestSim || (s == bestSim && c.i < best) {
			best, bestSim = c.i, s
		}
	}
	if best >= 0 && bestSim >= minSim {
		return admissible[best], true
	}
	return action, false
}

// actionVerb is the word before "[" in WebShop actions, or the first word.
func actionVerb(action string) string {
	if i := strings.IndexByte(action, '['); i > 0 {
		return strings.TrimSpace(action[:i])
	}
	if f := strings.Fields(action); len(f) > 0 {
		return f[0]
	}
	return ""
}

func normalizeForMatch(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	return strings.TrimRight(s, ". ")
}

// Similarity of two strings in [0, 1]: the mean of a word-level Dice coefficient (insensitive to
// word order and to a missing or extra article) and a character-level Levenshtein ratio
// (sensitive to object numbers such as "apple 1" vs "apple 2", and to small misspellings).
// Neither alone is enough: words alone cannot tell "cabinet 1" from "cabinet 10" apart from the
// number token, characters alone over-penalise a reordering.
func Similarity(a, b string) float64 {
	if a == b {
		return 1
	}
	return 0.5*dice(words(a), words(b)) + 0.5*levRatio([]rune(a), []rune(b))
}

// words splits on anything that is not a letter or digit, so "in/on" gives "in" and "on".
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func dice(a, b []string) float64 {
	if len(a)+len(b) == 0 {
		return 1
	}
	count := make(map[string]int, len(a))
	for _, w := range a {
		count[w]++
	}
	common := 0
	for _, w := range b {
		if count[w] > 0 {
			count[w]--
			common++
		}
	}
	return 2 * float64(common) / float64(len(a)+len(b))
}

func levRatio(a, b []rune) float64 {
	n := max(len(a), len(b))
	if n == 0 {
		return 1
	}
	return 1 - float64(levenshtein(a, b))/float64(n)
}

func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
