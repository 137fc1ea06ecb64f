package tokenizer

import (
	"slices"
	"unicode/utf8"
)

// span is a byte range of the original input text. Alignments are kept absolute (relative to the
// whole input, not to the piece) so that slicing a piece never has to rewrite them.
type span struct{ start, end int32 }

// change is one character of a transformation's output together with how it relates to the
// input, exactly as HuggingFace's NormalizedString::transform_range expects it:
// 0 replaces the next input char, +1 inserts a new char, -N replaces the next char and removes N
// more after it.
type change struct {
	r  rune
	ch int
}

// normString is a piece of the input text together with its normalized form and, for every byte
// of the normalized form, the range of the original text it came from. It reproduces the offset
// bookkeeping of HuggingFace's NormalizedString, quirks included, so that token offsets match.
type normString struct {
	orig      string // the original text this piece covers
	origStart int    // absolute offset of orig in the whole input
	norm      string
	align     []span // len(align) == len(norm)
}

func newNormString(s string, base int) normString {
	al := make([]span, len(s))
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		sp := span{int32(base + i), int32(base + i + n)}
		for k := 0; k < n; k++ {
			al[i+k] = sp
		}
		i += n
	}
	return normString{orig: s, origStart: base, norm: s, align: al}
}

func (n *normString) origOffsets() (int, int) { return n.origStart, n.origStart + len(n.orig) }

// normToOrig converts a normalized byte range to an absolute original range, as
// NormalizedString::convert_offsets(Range::Normalized) followed by the shift applied in
// PreTokenizedString::into_encoding. ok is false when HF would return None.
func (n *normString) normToOrig(s, e int) (int, int, bool) {
	if s == e {
		// HF returns the target range unchanged (in normalized units) for empty ranges.
		if len(n.norm) == 0 && s == 0 {
			return n.origStart, n.origStart + len(n.orig), true
		}
		return n.origStart + s, n.origStart + e, true
	}
	if s > e || e > len(n.align) {
		return 0, 0, false
	}
	return int(n.align[s].start), int(n.align[e-1].end), true
}

// origFullToNorm is convert_offsets(Range::Original(..)) on the whole piece: the normalized range
// that transform() rewrites. Leading zero-width alignments are excluded, as in HF.
func (n *normString) origFullToNorm() (int, int, bool) {
	if len(n.orig) == 0 {
		return 0, len(n.norm), true
	}
	tEnd := int32(n.origStart + len(n.orig))
	tStart := int32(n.origStart)
	start, end := -1, -1
	for i, a := range n.align {
		if tEnd < a.end {
			break
		}
		if start < 0 && tStart <= a.start && a.start != a.end {
			start = i
		}
		end = i + 1
	}
	switch {
	case start >= 0 && end >= 0:
		return start, end, true
	case start >= 0:
		return start, start, true
	case end >= 0:
		return end, end, true
	}
	return 0, 0, false
}

// transformRange rewrites norm[ns:ne] with dest, updating alignments the way HF does.
// initialOffset is the number of input chars removed before the first output char.
func (n *normString) transformRange(ns, ne int, dest []change, initialOffset int) {
	pos := ns
	for k := 0; k < initialOffset && pos < ne; k++ {
		_, sz := utf8.DecodeRuneInString(n.norm[pos:ne])
		pos += sz
	}
	outLen := 0
	for _, d := range dest {
		outLen += utf8.RuneLen(d.r)
	}
	buf := make([]byte, 0, ns+outLen+len(n.norm)-ne)
	buf = append(buf, n.norm[:ns]...)
	al := make([]span, 0, cap(buf))
	al = append(al, n.align[:ns]...)
	for _, d := range dest {
		var a span
		if d.ch > 0 {
			if pos < 1 {
				a = span{int32(n.origStart), int32(n.origStart)}
			} else {
				a = n.alignAt(pos - 1)
			}
		} else {
			a = n.alignAt(pos)
		}
		if d.ch <= 0 && pos < ne {
			_, sz := utf8.DecodeRuneInString(n.norm[pos:ne])
			pos += sz
		}
		for k := 0; k < -d.ch && pos < ne; k++ {
			_, sz := utf8.DecodeRuneInString(n.norm[pos:ne])
			pos += sz
		}
		before := len(buf)
		buf = utf8.AppendRune(buf, d.r)
		for k := before; k < len(buf); k++ {
			al = append(al, a)
		}
	}
	buf = append(buf, n.norm[ne:]...)
	al = append(al, n.align[ne:]...)
	n.norm = string(buf)
	n.align = al
}

// alignAt guards against reading past the end, where HF would index out of bounds; the last
// alignment (or an empty one at the end of the piece) is the only sensible answer.
func (n *normString) alignAt(i int) span {
	if i < len(n.align) {
		return n.align[i]
	}
	if len(n.align) > 0 {
		return n.align[len(n.align)-1]
	}
	e := int32(n.origStart + len(n.orig))
	return span{e, e}
}

// transform rewrites the whole normalized string (HF's transform, i.e. Range::Original(..)).
func (n *normString) transform(dest []change, initialOffset int) {
	s, e, ok := n.origFullToNorm()
	if !ok {
		return
	}
	n.transformRange(s, e, dest, initialOffset)
}

// slice returns the sub-piece covering norm[s:e].
func (n *normString) slice(s, e int) normString {
	var os, oe int
	if s == e {
		os, oe = n.origStart+s, n.origStart+e
		if os > n.origStart+len(n.orig) {
			os = n.origStart + len(n.orig)
		}
		if oe > n.origStart+len(n.orig) {
			oe = n.origStart + len(n.orig)
		}
	} else {
		os, oe = int(n.align[s].start), int(n.align[e-1].end)
	}
	ro, re := os-n.origStart, oe-n.origStart
	if ro < 0 {
		ro = 0
	}
	if re > len(n.orig) {
		re = len(n.orig)
	}
	if re < ro {
		re = ro
	}
	return normString{orig: n.orig[ro:re], origStart: n.origStart + ro, norm: n.norm[s:e], align: n.align[s:e]}
}

// filter keeps the chars for which keep is true.
func (n *normString) filter(keep func(rune) bool) {
	// Keeping every char rewrites each with its own alignment: nothing to do.
	all := true
	for _, c := range n.norm {
		if !keep(c) {
			all = false
			break
		}
	}
	if all {
		return
	}
	runes := []rune(n.norm)
	out := make([]change, 0, len(runes))
	removed := 0
	// HF walks backwards so that a kept char absorbs the removed chars that follow it.
	for i := len(runes) - 1; i >= 0; i-- {
		c := runes[i]
		if keep(c) {
			if removed > 0 {
				out = append(out, change{c, -removed})
				removed = 0
			} else {
				out = append(out, change{c, 0})
			}
		} else {
			removed++
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	n.transform(out, removed)
}

func (n *normString) mapRunes(f func(rune) rune) {
	same := true
	for _, c := range n.norm {
		if f(c) != c {
			same = false
			break
		}
	}
	if same {
		return
	}
	out := make([]change, 0, len(n.norm))
	for _, c := range n.norm {
		out = append(out, change{f(c), 0})
	}
	n.transform(out, 0)
}

func (n *normString) prepend(s string) {
	if s == "" || n.norm == "" {
		return
	}
	next, sz := utf8.DecodeRuneInString(n.norm)
	out := make([]change, 0, utf8.RuneCountInString(s)+1)
	i := 0
	for _, c := range s {
		ch := 1
		if i == 0 {
			ch = 0
		}
		out = append(out, change{c, ch})
		i++
	}
	out = append(out, change{next, 1})
	n.transformRange(0, sz, out, 0)
}

// lrstrip removes leading and/or trailing whitespace (Unicode White_Space).
func (n *normString) lrstrip(left, right bool) {
	runes := []rune(n.norm)
	lead, trail := 0, 0
	if left {
		for lead < len(runes) && isWhitespace(runes[lead]) {
			lead++
		}
	}
	if right {
		for trail < len(runes) && isWhitespace(runes[len(runes)-1-trail]) {
			trail++
		}
	}
	if lead == 0 && trail == 0 {
		return
	}
	out := make([]change, 0, len(runes))
	for i, c := range runes {
		switch {
		case i < lead || i >= len(runes)-trail:
		case i == len(runes)-trail-1:
			out = append(out, change{c, -trail})
		default:
			out = append(out, change{c, 0})
		}
	}
	n.transform(out, lead)
}

// replace substitutes every match of p by content (HF NormalizedString::replace).
func (n *normString) replace(p pattern, content string, expand func(m matchSpan) string) {
	// One pass over the matches. Calling transformRange per match, as HF does, copies the whole
	// string each time: quadratic in a long text, 17 s for a 200 KB observation under Llama's
	// " " -> "▁" normalizer. The alignments are the ones transformRange gives each replacement.
	var buf []byte
	var al []span
	prev := 0
	for _, m := range p.findMatches(n.norm) {
		if !m.isMatch {
			continue
		}
		if buf == nil {
			buf = make([]byte, 0, len(n.norm)+len(n.norm)/4)
			al = make([]span, 0, cap(buf))
		}
		buf = append(buf, n.norm[prev:m.start]...)
		al = append(al, n.align[prev:m.start]...)
		prev = m.end
		c := content
		if expand != nil {
			c = expand(m)
		}
		// Inserted characters take the alignment of the byte just before the end of what they
		// replace: the match's last byte, or for an empty match the byte before it.
		var a span
		switch {
		case m.end > m.start:
			a = n.alignAt(m.end - 1)
		case len(al) > 0:
			a = al[len(al)-1]
		default:
			a = span{int32(n.origStart), int32(n.origStart)}
		}
		for _, r := range c {
			before := len(buf)
			buf = utf8.AppendRune(buf, r)
			for range len(buf) - before {
				al = append(al, a)
			}
		}
	}
	if buf == nil {
		return
	}
	buf = append(buf, n.norm[prev:]...)
	al = append(al, n.align[prev:]...)
	n.norm = string(buf)
	n.align = al
}

// splitBy cuts the piece according to the matches of p and the delimiter behavior, appending
// the non-empty parts to dst.
func (n *normString) splitBy(dst []piece, p pattern, b splitBehavior, invert bool) []piece {
	matches := p.findMatches(n.norm)
	if invert {
		for i := range matches {
			matches[i].isMatch = !matches[i].isMatch
		}
	}
	type cut struct {
		s, e   int
		remove bool
	}
	var cutBuf [64]cut
	cuts := cutBuf[:0]
	if len(matches) > len(cutBuf) {
		cuts = make([]cut, 0, len(matches)) // never more cuts than matches
	}
	switch b {
	case behaviorIsolated:
		for _, m := range matches {
			cuts = append(cuts, cut{m.start, m.end, false})
		}
	case behaviorRemoved:
		for _, m := range matches {
			cuts = append(cuts, cut{m.start, m.end, m.isMatch})
		}
	case behaviorContiguous:
		prev := false
		for _, m := range matches {
			if m.isMatch == prev && len(cuts) > 0 {
				cuts[len(cuts)-1].e = m.end
			} else {
				cuts = append(cuts, cut{m.start, m.end, false})
			}
			prev = m.isMatch
		}
	case behaviorMergedWithPrevious:
		prev := false
		for _, m := range matches {
			if m.isMatch && !prev && len(cuts) > 0 {
				cuts[len(cuts)-1].e = m.end
			} else {
				cuts = append(cuts, cut{m.start, m.end, false})
			}
			prev = m.isMatch
		}
	case behaviorMergedWithNext:
		prev := false
		for i := len(matches) - 1; i >= 0; i-- {
			m := matches[i]
			if m.isMatch && !prev && len(cuts) > 0 {
				cuts[len(cuts)-1].s = m.start
			} else {
				cuts = append(cuts, cut{m.start, m.end, false})
			}
			prev = m.isMatch
		}
		for i, j := 0, len(cuts)-1; i < j; i, j = i+1, j-1 {
			cuts[i], cuts[j] = cuts[j], cuts[i]
		}
	}
	// Grow dst once by what it needs: for a long text, append's 1.25x steps would allocate about
	// five times the final slice of pieces.
	need := 0
	for _, c := range cuts {
		if !c.remove && c.s != c.e {
			need++
		}
	}
	dst = slices.Grow(dst, need)
	for _, c := range cuts {
		if c.remove || c.s == c.e {
			continue
		}
		dst = append(dst, piece{ns: n.slice(c.s, c.e)})
	}
	return dst
}
