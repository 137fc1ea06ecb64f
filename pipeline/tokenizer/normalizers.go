package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a piece of text in place, keeping alignments.
type normalizer interface {
	normalize(n *normString)
}

type normalizerSeq []normalizer

func (s normalizerSeq) normalize(n *normString) {
	for _, x := range s {
		x.normalize(n)
	}
}

type bertNormalizer struct {
	cleanText, handleChinese, lowercase bool
	stripAccents                        *bool // nil: follow lowercase, as HF does
}

func isBertWhitespace(c rune) bool {
	return c == '\t' || c == '\n' || c == '\r' || isWhitespace(c)
}

// isOtherCategory is unicode_categories' is_other, which HF's BERT normalizer drops: Cc, Cf, Co or
// Cs. Not Cn: that crate's tables come from UnicodeData.txt, which lists no unassigned code point,
// so HF keeps them (they become [UNK]).
func isOtherCategory(c rune) bool {
	if c < 0x80 {
		return c < 0x20 || c == 0x7F
	}
	return unicode.In(c, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

func isBertControl(c rune) bool {
	if c == '\t' || c == '\n' || c == '\r' {
		return false
	}
	return isOtherCategory(c)
}

// isChineseChar is the CJK block test of the original BERT code.
func isChineseChar(c rune) bool {
	switch {
	case c >= 0x4E00 && c <= 0x9FFF, c >= 0x3400 && c <= 0x4DBF, c >= 0x20000 && c <= 0x2A6DF,
		c >= 0x2A700 && c <= 0x2B73F, c >= 0x2B740 && c <= 0x2B81F, c >= 0x2B920 && c <= 0x2CEAF,
		c >= 0xF900 && c <= 0xFAFF, c >= 0x2F800 && c <= 0x2FA1F:
		return true
	}
	return false
}

func (b bertNormalizer) normalize(n *normString) {
	if b.cleanText {
		n.filter(func(c rune) bool { return !(c == 0 || c == 0xFFFD || isBertControl(c)) })
		n.mapRunes(func(c rune) rune {
			if isBertWhitespace(c) {
				return ' '
			}
			return c
		})
	}
	if b.handleChinese {
		out := make([]change, 0, len(n.norm))
		any := false
		for _, c := range n.norm {
			if isChineseChar(c) {
				out = append(out, change{' ', 0}, change{c, 1}, change{' ', 1})
				any = true
			} else {
				out = append(out, change{c, 0})
			}
		}
		if any {
			n.transform(out, 0)
		}
	}
	strip := b.lowercase
	if b.stripAccents != nil {
		strip = *b.stripAccents
	}
	if strip {
		nfd(n, false)
		n.filter(func(c rune) bool { return !unicode.Is(unicode.Mn, c) })
	}
	if b.lowercase {
		lowercase(n)
	}
}

func nfd(n *normString, compat bool) {
	// Text already in the form decomposes to itself char for char.
	if isASCII(n.norm) || (!compat && norm.NFD.IsNormalString(n.norm)) || (compat && norm.NFKD.IsNormalString(n.norm)) {
		return
	}
	n.transform(decomposeChanges(n.norm, compat), 0)
}

func nfc(n *normString, compat bool) {
	if isASCII(n.norm) || (!compat && norm.NFC.IsNormalString(n.norm)) || (compat && norm.NFKC.IsNormalString(n.norm)) {
		return
	}
	n.transform(composeChanges(n.norm, compat), 0)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// lowercase is Rust's char::to_lowercase applied char by char: the only unconditional
// multi-char lowercase mapping is U+0130, which becomes "i\u0307".
func lowercase(n *normString) {
	out := make([]change, 0, len(n.norm))
	same := true
	for _, c := range n.norm {
		if c == 0x130 {
			out = append(out, change{'i', 0}, change{0x307, 1})
			same = false
			continue
		}
		l := unicode.ToLower(c)
		if l != c {
			same = false
		}
		out = append(out, change{l, 0})
	}
	if !same {
		n.transform(out, 0)
	}
}

type unicodeNormalizer struct {
	compose, compat bool
}

func (u unicodeNormalizer) normalize(n *normString) {
	if u.compose {
		nfc(n, u.compat)
	} else {
		nfd(n, u.compat)
	}
}

type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(n *normString) { lowercase(n) }

type prependNormalizer struct{ prepend string }

func (p prependNormalizer) normalize(n *normString) {
	if n.norm != "" {
		n.prepend(p.prepend)
	}
}

type replaceNormalizer struct {
	pat     pattern
	content string
	re      *regexSearcher // set for regex patterns, for $N expansion
}

func (r replaceNormalizer) normalize(n *normString) {
	var expand func(m matchSpan) string
	if r.re != nil && strings.Contains(r.content, "$") {
		src := n.norm
		expand = func(m matchSpan) string { return expandGroups(r.content, r.re.groups(src, m.start)) }
	}
	n.replace(r.pat, r.content, expand)
}

// expandGroups substitutes $N and ${N} in template with capture groups, as Rust's
// Regex::replace_all does for numbered groups.
func expandGroups(template string, groups []string) string {
	var b strings.Builder
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != '$' || i+1 >= len(template) {
			b.WriteByte(c)
			continue
		}
		if template[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		j := i + 1
		brace := template[j] == '{'
		if brace {
			j++
		}
		k := j
		for k < len(template) && template[k] >= '0' && template[k] <= '9' {
			k++
		}
		if k == j || (brace && (k >= len(template) || template[k] != '}')) {
			b.WriteByte(c)
			continue
		}
		idx := 0
		for _, d := range template[j:k] {
			idx = idx*10 + int(d-'0')
		}
		if idx < len(groups) {
			b.WriteString(groups[idx])
		}
		if brace {
			k++
		}
		i = k - 1
	}
	return b.String()
}

type stripNormalizer struct{ left, right bool }

func (s stripNormalizer) normalize(n *normString) { n.lrstrip(s.left, s.right) }

type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(n *normString) {
	n.filter(func(c rune) bool { return !unicode.Is(unicode.M, c) })
}

// nmtNormalizer is HF's Nmt normalizer: drop some control chars, map odd spaces to ' '.
type nmtNormalizer struct{}

func (nmtNormalizer) normalize(n *normString) {
	n.filter(func(c rune) bool {
		switch {
		case c >= 0x1 && c <= 0x8, c == 0xB, c >= 0xE && c <= 0x1F, c == 0x7F, c == 0x8F, c == 0x9F:
			return false
		}
		return true
	})
	n.mapRunes(func(c rune) rune {
		switch {
		case c == 0x9, c == 0xA, c == 0xC, c == 0xD, c == 0x1680, c >= 0x200B && c <= 0x200F,
			c == 0x2028, c == 0x2029, c == 0x2581, c == 0xFEFF, c == 0xFFFD:
			return ' '
		}
		return c
	})
}

// byteLevelNormalizer maps every byte to its printable stand-in, like the ByteLevel pre-tokenizer
// does without splitting.
type byteLevelNormalizer struct{}

func (byteLevelNormalizer) normalize(n *normString) { byteLevelTransform(n) }
