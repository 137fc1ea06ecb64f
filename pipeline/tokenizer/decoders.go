package tokenizer

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decoder is HF's Decoder::decode_chain: tokens in, tokens out; the results are concatenated.
type decoder interface {
	decodeChain(toks []string) []string
}

type decoderSeq []decoder

func (s decoderSeq) decodeChain(toks []string) []string {
	for _, d := range s {
		toks = d.decodeChain(toks)
	}
	return toks
}

type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(toks []string) []string {
	var buf []byte
	for _, t := range toks {
		start := len(buf)
		ok := true
		for _, c := range t {
			b, found := runeToByte[c]
			if !found {
				ok = false
				break
			}
			buf = append(buf, b)
		}
		if !ok {
			buf = append(buf[:start], t...)
		}
	}
	return []string{lossy(buf)}
}

// toValidUTF8Lossy replaces each maximal invalid sequence the way Rust's from_utf8_lossy does.
func lossy(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			sb.WriteRune(utf8.RuneError)
			b = b[invalidPrefixLen(b):]
			continue
		}
		sb.Write(b[:n])
		b = b[n:]
	}
	return sb.String()
}

// invalidPrefixLen is the length of the maximal prefix of an invalid UTF-8 sequence (WHATWG /
// Rust from_utf8_lossy: a truncated but otherwise valid multi-byte sequence becomes one U+FFFD).
func invalidPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i <= need && i < len(b); i++ {
		if b[i] < lo || b[i] > hi {
			return i
		}
		lo, hi = 0x80, 0xBF
	}
	return i
}

type wordPieceDecoder struct {
	prefix  string
	cleanup bool
}

var cleanupReplacer = []struct{ from, to string }{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
	{" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

func cleanupTokenization(s string) string {
	for _, r := range cleanupReplacer {
		s = strings.ReplaceAll(s, r.from, r.to)
	}
	return s
}

func (w wordPieceDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		if i != 0 {
			if strings.HasPrefix(t, w.prefix) {
				t = strings.Replace(t, w.prefix, "", 1)
			} else {
				t = " " + t
			}
		}
		if w.cleanup {
			t = cleanupTokenization(t)
		}
		out[i] = t
	}
	return out
}

type metaspaceDecoder struct {
	replacement rune
	scheme      prependScheme
}

func (m metaspaceDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		var sb strings.Builder
		for _, c := range t {
			if c == m.replacement {
				// HF drops every replacement char of the first token, not only the leading one.
				if i == 0 && m.scheme != prependNever {
					continue
				}
				sb.WriteByte(' ')
				continue
			}
			sb.WriteRune(c)
		}
		out[i] = sb.String()
	}
	return out
}

type bpeDecoder struct{ suffix string }

func (b bpeDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		rep := " "
		if i == len(toks)-1 {
			rep = ""
		}
		out[i] = strings.ReplaceAll(t, b.suffix, rep)
	}
	return out
}

type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decodeChain(toks []string) []string {
	out := make([]string, 0, len(toks))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range toks {
		if len(t) == 6 && strings.HasPrefix(t, "<0x") && t[5] == '>' {
			if v, err := strconv.ParseUint(t[3:5], 16, 8); err == nil {
				pending = append(pending, byte(v))
				continue
			}
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type fuseDecoder struct{}

func (fuseDecoder) decodeChain(toks []string) []string { return []string{strings.Join(toks, "")} }

type replaceDecoder struct {
	pat     pattern
	content string
	re      *regexSearcher
}

func (r replaceDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		var sb strings.Builder
		for _, m := range r.pat.findMatches(t) {
			if m.isMatch {
				if r.re != nil && strings.Contains(r.content, "$") {
					sb.WriteString(expandGroups(r.content, r.re.groups(t, m.start)))
				} else {
					sb.WriteString(r.content)
				}
			} else {
				sb.WriteString(t[m.start:m.end])
			}
		}
		out[i] = sb.String()
	}
	return out
}

type stripDecoder struct {
	content     rune
	start, stop int
}

func (s stripDecoder) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		rs := []rune(t)
		startCut := 0
		for k := 0; k < s.start && k < len(rs); k++ {
			if rs[k] != s.content {
				break
			}
			startCut = k + 1
		}
		stopCut := len(rs)
		for k := 0; k < s.stop && k < len(rs); k++ {
			if rs[len(rs)-1-k] != s.content {
				break
			}
			stopCut = len(rs) - k - 1
		}
		if stopCut < startCut {
			stopCut = startCut
		}
		out[i] = string(rs[startCut:stopCut])
	}
	return out
}

// ctcDecoder collapses repeats, drops the pad token and turns the word delimiter into spaces.
type ctcDecoder struct {
	pad, delim string
	cleanup    bool
}

func (c ctcDecoder) decodeChain(toks []string) []string {
	var out []string
	for i, t := range toks {
		if i > 0 && toks[i-1] == t {
			continue
		}
		t = strings.ReplaceAll(t, c.pad, "")
		if c.cleanup {
			t = strings.ReplaceAll(cleanupTokenization(t), c.delim, " ")
		}
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}
