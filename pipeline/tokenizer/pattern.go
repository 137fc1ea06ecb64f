package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// matchSpan is one piece of a string cut by a pattern: either a match or the text between two.
type matchSpan struct {
	start, end int
	isMatch    bool
}

// pattern finds the matches of something in a string and returns pieces covering the whole
// string in order (HF's Pattern::find_matches).
type pattern interface {
	findMatches(s string) []matchSpan
}

// spansFrom turns a list of non-overlapping matches into covering pieces.
func spansFrom(s string, ms [][2]int) []matchSpan {
	if s == "" {
		return []matchSpan{{0, 0, false}}
	}
	out := make([]matchSpan, 0, 2*len(ms)+1)
	prev := 0
	for _, m := range ms {
		if prev != m[0] {
			out = append(out, matchSpan{prev, m[0], false})
		}
		out = append(out, matchSpan{m[0], m[1], true})
		prev = m[1]
	}
	if prev != len(s) {
		out = append(out, matchSpan{prev, len(s), false})
	}
	return out
}

// searcher finds the leftmost match starting at or after from; ok is false when none.
type searcher interface {
	search(s string, from int) (start, end int, ok bool)
}

// findAll iterates matches the way the onig crate's find_iter does (the regex engine behind
// HF's SysRegex): an empty match right after the previous match is skipped by one char.
func findAll(sr searcher, s string) [][2]int {
	var out [][2]int
	last, lastMatchEnd := 0, -1
	for last <= len(s) {
		ms, me, ok := sr.search(s, last)
		if !ok {
			break
		}
		if ms == me && lastMatchEnd == me {
			if last < len(s) {
				_, sz := utf8.DecodeRuneInString(s[last:])
				last += sz
			} else {
				last++
			}
			continue
		}
		last, lastMatchEnd = me, me
		out = append(out, [2]int{ms, me})
	}
	return out
}

type searchPattern struct{ sr searcher }

func (p searchPattern) findMatches(s string) []matchSpan { return spansFrom(s, findAll(p.sr, s)) }

// literalSearcher matches a fixed string (HF escapes it into a regex; the result is the same).
type literalSearcher struct{ lit string }

func (l literalSearcher) search(s string, from int) (int, int, bool) {
	if from > len(s) {
		return 0, 0, false
	}
	i := strings.Index(s[from:], l.lit)
	if i < 0 {
		return 0, 0, false
	}
	return from + i, from + i + len(l.lit), true
}

// regexSearcher is the general fallback: a backtracking engine close to Oniguruma's semantics.
type regexSearcher struct {
	re  *regexp2.Regexp
	src string
}

func compileRegex(src string) (*regexSearcher, error) {
	re, err := regexp2.Compile(onigToDotNet(src), regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", src, err)
	}
	return &regexSearcher{re: re, src: src}, nil
}

// onigWord is Oniguruma's Unicode \w (Letter, Mark, Number, Connector_Punctuation); .NET's \w
// (regexp2) differs: it lacks Mc, Me, Nl, No and adds the join controls.
const onigWord = `\p{L}\p{M}\p{N}\p{Pc}`

// onigToDotNet rewrites the escapes whose meaning differs between the two engines.
func onigToDotNet(src string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\' && i+1 < len(src):
			n := src[i+1]
			i++
			switch {
			case n == 'w' && inClass:
				b.WriteString(onigWord)
			case n == 'w':
				b.WriteString("[" + onigWord + "]")
			case n == 'W' && !inClass:
				b.WriteString("[^" + onigWord + "]")
			case n == 'h':
				b.WriteString("[0-9a-fA-F]")
			default:
				b.WriteByte(c)
				b.WriteByte(n)
			}
			continue
		case c == '[' && !inClass:
			inClass = true
			b.WriteByte(c)
			if i+1 < len(src) && src[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(src) && src[i+1] == ']' {
				b.WriteByte(']')
				i++
			}
			continue
		case c == ']' && inClass:
			inClass = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// runeRegexPattern runs regexp2 over the whole string once (converting rune indices back to
// bytes), which avoids re-converting the string for every match.
type runeRegexPattern struct{ r *regexSearcher }

func (p runeRegexPattern) findMatches(s string) []matchSpan {
	return spansFrom(s, p.r.findAllRunes(s))
}

func (r *regexSearcher) findAllRunes(s string) [][2]int {
	runes := []rune(s)
	byteAt := make([]int, len(runes)+1)
	b := 0
	for i, c := range runes {
		byteAt[i] = b
		b += utf8.RuneLen(c)
	}
	byteAt[len(runes)] = b
	var out [][2]int
	last, lastMatchEnd := 0, -1
	for last <= len(runes) {
		m, err := r.re.FindRunesMatchStartingAt(runes, last)
		if err != nil || m == nil {
			break
		}
		ms, me := m.Index, m.Index+m.Length
		if ms == me && lastMatchEnd == me {
			last++
			continue
		}
		last, lastMatchEnd = me, me
		out = append(out, [2]int{byteAt[ms], byteAt[me]})
	}
	return out
}

// groups returns the capture groups of the match at s[start:end] (for $N expansion in Replace).
func (r *regexSearcher) groups(s string, start int) []string {
	runes := []rune(s)
	ri := utf8.RuneCountInString(s[:start])
	m, err := r.re.FindRunesMatchStartingAt(runes, ri)
	if err != nil || m == nil {
		return nil
	}
	gs := m.Groups()
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.String()
	}
	return out
}

// runePredicate splits on single chars (HF's Pattern for Fn(char) -> bool).
type runePredicate func(rune) bool

func (f runePredicate) findMatches(s string) []matchSpan {
	if s == "" {
		return []matchSpan{{0, 0, false}}
	}
	var out []matchSpan
	last := 0
	for b, c := range s {
		if f(c) {
			sz := utf8.RuneLen(c)
			if c == utf8.RuneError {
				_, sz = utf8.DecodeRuneInString(s[b:])
			}
			if last < b {
				out = append(out, matchSpan{last, b, false})
			}
			out = append(out, matchSpan{b, b + sz, true})
			last = b + sz
		}
	}
	if len(s) > last {
		out = append(out, matchSpan{last, len(s), false})
	}
	return out
}

// Character classes as Oniguruma and Rust define them for Unicode text.

// isWhitespace is Unicode White_Space (Rust char::is_whitespace, Oniguruma \s).
func isWhitespace(r rune) bool { return unicode.IsSpace(r) }
func isLetter(r rune) bool     { return unicode.IsLetter(r) }
func isNumber(r rune) bool     { return unicode.IsNumber(r) }

// The split patterns of GPT-2 and of Llama-3 / Qwen2 are matched by hand: they are what nearly
// every byte-level tokenizer uses, a backtracking engine is several times slower on them, and
// their semantics (ordered alternation, a lookahead) are simple to state exactly.
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

type splitKind int

const (
	kindGPT2 splitKind = iota
	kindLlama3
)

// handSplitter implements the patterns above. maxDigits is 3 for Llama-3, 1 for Qwen2.
type handSplitter struct {
	kind      splitKind
	maxDigits int
}

func handSplitterFor(src string) (handSplitter, bool) {
	switch src {
	case gpt2Pattern:
		return handSplitter{kind: kindGPT2}, true
	case llama3Pattern:
		return handSplitter{kind: kindLlama3, maxDigits: 3}, true
	case qwen2Pattern:
		return handSplitter{kind: kindLlama3, maxDigits: 1}, true
	}
	return handSplitter{}, false
}

func (h handSplitter) findMatches(s string) []matchSpan {
	if s == "" {
		return []matchSpan{{0, 0, false}}
	}
	out := make([]matchSpan, 0, len(s)/4+1)
	for i := 0; i < len(s); {
		e := h.matchAt(s, i)
		out = append(out, matchSpan{i, e, true})
		i = e
	}
	return out
}

func runeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// contraction matches 's 't 're 've 'm 'll 'd at i (ASCII case-insensitively when fold is set,
// where Oniguruma's Unicode case folding also lets the long s U+017F stand for s).
func contraction(s string, i int, fold bool) int {
	if i >= len(s) || s[i] != '\'' {
		return 0
	}
	low := func(j int) (rune, int) {
		r, n := runeAt(s, j)
		if fold {
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			} else if r == 0x17F {
				r = 's'
			}
		}
		return r, n
	}
	c1, n1 := low(i + 1)
	switch c1 {
	case 's', 't', 'm', 'd':
		return 1 + n1
	case 'r', 'v':
		if c2, n2 := low(i + 1 + n1); c2 == 'e' {
			return 1 + n1 + n2
		}
	case 'l':
		if c2, n2 := low(i + 1 + n1); c2 == 'l' {
			return 1 + n1 + n2
		}
	}
	return 0
}

func isOther(r rune) bool { return r >= 0 && !isWhitespace(r) && !isLetter(r) && !isNumber(r) }

func (h handSplitter) run(s string, i int, pred func(rune) bool) int {
	for i < len(s) {
		r, n := runeAt(s, i)
		if !pred(r) {
			break
		}
		i += n
	}
	return i
}

// matchAt returns the end of the match starting at i; every position starts a match for these
// patterns because their alternatives together cover every char.
func (h handSplitter) matchAt(s string, i int) int {
	if n := contraction(s, i, h.kind == kindLlama3); n > 0 {
		return i + n
	}
	r0, n0 := runeAt(s, i)
	r1, n1 := runeAt(s, i+n0)
	if h.kind == kindGPT2 {
		// ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
		for _, pred := range []func(rune) bool{isLetter, isNumber, isOther} {
			if r0 == ' ' && pred(r1) {
				return h.run(s, i+n0+n1, pred)
			}
			if pred(r0) {
				return h.run(s, i+n0, pred)
			}
		}
	} else {
		// `[^\r\n\p{L}\p{N}]?\p{L}+`
		if r0 != '\r' && r0 != '\n' && !isLetter(r0) && !isNumber(r0) && isLetter(r1) {
			return h.run(s, i+n0+n1, isLetter)
		}
		if isLetter(r0) {
			return h.run(s, i+n0, isLetter)
		}
		// `\p{N}{1,max}`
		if isNumber(r0) {
			j := i
			for k := 0; k < h.maxDigits; k++ {
				r, n := runeAt(s, j)
				if !isNumber(r) {
					break
				}
				j += n
			}
			return j
		}
		// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
		j := -1
		if r0 == ' ' && isOther(r1) {
			j = h.run(s, i+n0+n1, isOther)
		} else if isOther(r0) {
			j = h.run(s, i+n0, isOther)
		}
		if j >= 0 {
			return h.run(s, j, func(r rune) bool { return r == '\r' || r == '\n' })
		}
		// `\s*[\r\n]+`: the whitespace run up to and including its last newline.
		if isWhitespace(r0) {
			end := h.run(s, i, isWhitespace)
			for k := end - 1; k >= i; k-- {
				if s[k] == '\r' || s[k] == '\n' {
					return k + 1
				}
			}
		}
	}
	// `\s+(?!\S)` then `\s+`
	if isWhitespace(r0) {
		end := h.run(s, i, isWhitespace)
		if end == len(s) {
			return end
		}
		_, lastN := utf8.DecodeLastRuneInString(s[:end])
		if end-lastN > i {
			return end - lastN
		}
		return end
	}
	// Unreachable for valid UTF-8; invalid bytes form their own piece.
	return i + max(n0, 1)
}
