package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// token is a model output: id, string value and byte offsets within the piece's normalized text.
type token struct {
	id         int32
	value      string
	start, end int
}

// piece is one split of the input: its text and, once known, its tokens (added tokens are
// known before the model runs).
type piece struct {
	ns        normString
	tokens    []token
	hasTokens bool
}

// preTokenized is HF's PreTokenizedString.
type preTokenized struct {
	pieces []piece
	arena  arena
}

// arena hands out pieces of larger buffers so that the many small strings and alignment
// slices of one encode cost few allocations. Memory handed out is never written again.
type arena struct {
	spans []span
	bytes []byte
}

func (a *arena) spanBuf(n int) []span {
	if cap(a.spans)-len(a.spans) < n {
		a.spans = make([]span, 0, max(256, n))
	}
	l := len(a.spans)
	a.spans = a.spans[:l+n]
	return a.spans[l : l : l+n]
}

func (a *arena) byteBuf(n int) []byte {
	if cap(a.bytes)-len(a.bytes) < n {
		a.bytes = make([]byte, 0, max(256, n))
	}
	l := len(a.bytes)
	a.bytes = a.bytes[:l+n]
	return a.bytes[l : l : l+n]
}

// split replaces every piece that has no tokens yet by the pieces fn appends to dst (fn drops
// empty ones).
func (p *preTokenized) split(fn func(ns normString, dst []piece) []piece) {
	out := make([]piece, 0, len(p.pieces)+16)
	for _, pc := range p.pieces {
		if pc.hasTokens {
			out = append(out, pc)
			continue
		}
		out = fn(pc.ns, out)
	}
	p.pieces = out
}

func appendPiece(dst []piece, ns normString) []piece {
	if ns.norm == "" {
		return dst
	}
	return append(dst, piece{ns: ns})
}

type splitBehavior int

const (
	behaviorRemoved splitBehavior = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

type preTokenizer interface {
	preTokenize(p *preTokenized)
}

type preTokenizerSeq []preTokenizer

func (s preTokenizerSeq) preTokenize(p *preTokenized) {
	for _, x := range s {
		x.preTokenize(p)
	}
}

// Byte-level alphabet: the 256 bytes mapped to printable chars, as GPT-2 does.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := make(map[rune]byte, 256)
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// byteLevelTransform maps every byte of the piece to its byte-level char; all chars produced from
// one input char share its alignment, as in HF.
func byteLevelTransform(n *normString) { byteLevelTransformIn(n, nil) }

func byteLevelTransformIn(n *normString, a *arena) {
	s, e, ok := n.origFullToNorm()
	if !ok {
		return
	}
	if s != 0 || e != len(n.norm) {
		var out []change
		for _, c := range n.norm {
			var tmp [4]byte
			k := utf8.EncodeRune(tmp[:], c)
			for i := 0; i < k; i++ {
				ch := 0
				if i > 0 {
					ch = 1
				}
				out = append(out, change{byteToRune[tmp[i]], ch})
			}
		}
		n.transform(out, 0)
		return
	}
	// Every byte becomes a char of one or two bytes.
	size := 0
	for i := 0; i < len(n.norm); i++ {
		size += utf8.RuneLen(byteToRune[n.norm[i]])
	}
	var buf []byte
	var al []span
	if a != nil {
		buf, al = a.byteBuf(size), a.spanBuf(size)
	} else {
		buf, al = make([]byte, 0, size), make([]span, 0, size)
	}
	for i := 0; i < len(n.norm); {
		_, sz := utf8.DecodeRuneInString(n.norm[i:])
		a := n.align[i]
		for k := 0; k < sz; k++ {
			before := len(buf)
			buf = utf8.AppendRune(buf, byteToRune[n.norm[i+k]])
			for j := before; j < len(buf); j++ {
				al = append(al, a)
			}
		}
		i += sz
	}
	n.norm = unsafe.String(unsafe.SliceData(buf), len(buf))
	n.align = al
}

type byteLevelPre struct {
	addPrefixSpace, trimOffsets, useRegex bool
}

var gpt2Splitter = handSplitter{kind: kindGPT2}

func (b byteLevelPre) preTokenize(p *preTokenized) {
	if b.addPrefixSpace || b.useRegex {
		b.split(p)
	}
	b.toBytes(p)
}

func (b byteLevelPre) split(p *preTokenized) {
	p.split(func(ns normString, dst []piece) []piece {
		if b.addPrefixSpace && !strings.HasPrefix(ns.norm, " ") {
			ns.prepend(" ")
		}
		if b.useRegex {
			return ns.splitBy(dst, gpt2Splitter, behaviorIsolated, false)
		}
		return appendPiece(dst, ns)
	})
}

func (b byteLevelPre) toBytes(p *preTokenized) {
	// Size the arena for all pieces at once: one allocation each for text and alignments.
	total := 0
	for i := range p.pieces {
		if !p.pieces[i].hasTokens {
			s := p.pieces[i].ns.norm
			for k := 0; k < len(s); k++ {
				total += utf8.RuneLen(byteToRune[s[k]])
			}
		}
	}
	if cap(p.arena.bytes)-len(p.arena.bytes) < total {
		p.arena.bytes = make([]byte, 0, total)
		p.arena.spans = make([]span, 0, total)
	}
	for i := range p.pieces {
		if !p.pieces[i].hasTokens {
			byteLevelTransformIn(&p.pieces[i].ns, &p.arena)
		}
	}
}

type splitPre struct {
	pat      pattern
	behavior splitBehavior
	invert   bool
}

func (s splitPre) preTokenize(p *preTokenized) {
	p.split(func(ns normString, dst []piece) []piece { return ns.splitBy(dst, s.pat, s.behavior, s.invert) })
}

// isBertPunc is ASCII punctuation or any Unicode punctuation (category P).
func isBertPunc(c rune) bool {
	if c < 0x80 {
		return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)
	}
	return unicode.IsPunct(c)
}

type bertPre struct{}

func (bertPre) preTokenize(p *preTokenized) {
	p.split(func(ns normString, dst []piece) []piece {
		return ns.splitBy(dst, runePredicate(isWhitespace), behaviorRemoved, false)
	})
	p.split(func(ns normString, dst []piece) []piece {
		return ns.splitBy(dst, runePredicate(isBertPunc), behaviorIsolated, false)
	})
}

// isWordChar is Rust regex's Unicode \w: Alphabetic, marks, decimal digits, connector
// punctuation and join controls.
func isWordChar(c rune) bool {
	if c < 0x80 {
		return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	return unicode.IsLetter(c) || unicode.IsMark(c) || unicode.Is(unicode.Nd, c) || unicode.Is(unicode.Pc, c) ||
		unicode.Is(unicode.Nl, c) || unicode.Is(unicode.Other_Alphabetic, c) || c == 0x200C || c == 0x200D
}

// wordPattern matches `\w+|[^\w\s]+` (the Whitespace pre-tokenizer's regex).
type wordPattern struct{}

func (wordPattern) findMatches(s string) []matchSpan {
	var ms [][2]int
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case isWordChar(r):
			j := i + n
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if !isWordChar(r2) {
					break
				}
				j += n2
			}
			ms = append(ms, [2]int{i, j})
			i = j
		case !isWhitespace(r):
			j := i + n
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if isWordChar(r2) || isWhitespace(r2) {
					break
				}
				j += n2
			}
			ms = append(ms, [2]int{i, j})
			i = j
		default:
			i += n
		}
	}
	return spansFrom(s, ms)
}

type whitespacePre struct{}

func (whitespacePre) preTokenize(p *preTokenized) {
	p.split(func(ns normString, dst []piece) []piece { return ns.splitBy(dst, wordPattern{}, behaviorRemoved, true) })
}

type whitespaceSplitPre struct{}

func (whitespaceSplitPre) preTokenize(p *preTokenized) {
	p.split(func(ns normString, dst []piece) []piece {
		return ns.splitBy(dst, runePredicate(isWhitespace), behaviorRemoved, false)
	})
}

type charDelimiterPre struct{ delim rune }

func (c charDelimiterPre) preTokenize(p *preTokenized) {
	p.split(func(ns normString, dst []piece) []piece {
		return ns.splitBy(dst, runePredicate(func(r rune) bool { return r == c.delim }), behaviorRemoved, false)
	})
}

type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

type metaspacePre struct {
	replacement rune
	scheme      prependScheme
	split       bool
}

func (m metaspacePre) preTokenize(p *preTokenized) {
	rep := string(m.replacement)
	isSpace := runePredicate(func(r rune) bool { return r == ' ' })
	isRep := runePredicate(func(r rune) bool { return r == m.replacement })
	p.split(func(ns normString, dst []piece) []piece {
		ns.replace(isSpace, rep, nil)
		switch m.scheme {
		case prependAlways:
			if !strings.HasPrefix(ns.norm, rep) {
				ns.prepend(rep)
			}
		case prependFirst:
			if !strings.HasPrefix(ns.norm, rep) && ns.origStart == 0 {
				ns.prepend(rep)
			}
		}
		if m.split {
			return ns.splitBy(dst, isRep, behaviorMergedWithNext, false)
		}
		return appendPiece(dst, ns)
	})
}

type digitsPre struct{ individual bool }

func (d digitsPre) preTokenize(p *preTokenized) {
	b := behaviorContiguous
	if d.individual {
		b = behaviorIsolated
	}
	p.split(func(ns normString, dst []piece) []piece {
		return ns.splitBy(dst, runePredicate(unicode.IsNumber), b, false)
	})
}

type punctuationPre struct{ behavior splitBehavior }

func (u punctuationPre) preTokenize(p *preTokenized) {
	p.split(func(ns normString, dst []piece) []piece {
		return ns.splitBy(dst, runePredicate(isBertPunc), u.behavior, false)
	})
}
