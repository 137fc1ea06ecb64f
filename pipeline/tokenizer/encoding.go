package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Encoding is the result of encoding one text or a pair of texts.
type Encoding struct {
	IDs     []int32
	TypeIDs []int32
	Tokens  []string
	// Offsets are byte offsets [start, end) into the text the token came from (see Sequence);
	// tokens added by the post-processor have [0, 0). CharOffsets converts them to the char
	// offsets the Python bindings report.
	Offsets [][2]int
	// Special marks tokens inserted by the post-processor (the special_tokens_mask of HF).
	Special []bool
	// Sequence is 0 or 1 for tokens of the first or second text, -1 for inserted tokens.
	Sequence []int8

	src string // the text of a single-sequence encoding, for offset trimming
}

// Len is the number of tokens.
func (e *Encoding) Len() int { return len(e.IDs) }

func (e *Encoding) push(id int32, tok string, off [2]int, typeID int32, special bool, seq int8) {
	e.IDs = append(e.IDs, id)
	e.TypeIDs = append(e.TypeIDs, typeID)
	e.Tokens = append(e.Tokens, tok)
	e.Offsets = append(e.Offsets, off)
	e.Special = append(e.Special, special)
	e.Sequence = append(e.Sequence, seq)
}

func (e *Encoding) appendAll(o *Encoding) {
	e.IDs = append(e.IDs, o.IDs...)
	e.TypeIDs = append(e.TypeIDs, o.TypeIDs...)
	e.Tokens = append(e.Tokens, o.Tokens...)
	e.Offsets = append(e.Offsets, o.Offsets...)
	e.Special = append(e.Special, o.Special...)
	e.Sequence = append(e.Sequence, o.Sequence...)
}

func (e *Encoding) setTypeIDs(t int32) {
	for i := range e.TypeIDs {
		e.TypeIDs[i] = t
	}
}

func (e *Encoding) setSequence(s int8) {
	for i := range e.Sequence {
		e.Sequence[i] = s
	}
}

func (e *Encoding) clone() Encoding {
	return Encoding{
		IDs: append([]int32(nil), e.IDs...), TypeIDs: append([]int32(nil), e.TypeIDs...),
		Tokens: append([]string(nil), e.Tokens...), Offsets: append([][2]int(nil), e.Offsets...),
		Special: append([]bool(nil), e.Special...), Sequence: append([]int8(nil), e.Sequence...),
		src: e.src,
	}
}

func mergeEncodings(encs []Encoding) Encoding {
	if len(encs) == 1 {
		return encs[0]
	}
	var out Encoding
	for i := range encs {
		out.appendAll(&encs[i])
	}
	return out
}

// CharOffsets converts byte offsets into text to char (code point) offsets the way HF's Python
// bindings do; offsets it cannot convert are returned unchanged, as there.
func CharOffsets(text string, offsets [][2]int) [][2]int {
	charAt := make([]int, len(text))
	ci := 0
	for b := range text {
		_, n := utf8.DecodeRuneInString(text[b:])
		for k := 0; k < n; k++ {
			charAt[b+k] = ci
		}
		ci++
	}
	out := make([][2]int, len(offsets))
	for i, o := range offsets {
		out[i] = o
		if o[0] == len(text) && o[1] == len(text) {
			// HF converts before trimming offsets; a token trimmed to the very end lands here.
			out[i] = [2]int{ci, ci}
			continue
		}
		if o[0] < 0 || o[0] >= len(text) {
			continue
		}
		start := charAt[o[0]]
		if o[1] >= 0 && o[1] < len(text) {
			out[i] = [2]int{start, charAt[o[1]]}
			continue
		}
		last := start + 1
		if o[1]-1 >= 0 && o[1]-1 < len(text) {
			last = charAt[o[1]-1]
		}
		out[i] = [2]int{start, last + 1}
	}
	return out
}

// trimByteLevelOffsets is HF's byte_level::process_offsets: offsets of tokens starting or ending
// with (byte-level) spaces are shrunk to exclude them. HF does this on char offsets, counting
// chars, so the count is applied by stepping over chars of the source text.
func trimByteLevelOffsets(e *Encoding, addPrefixSpace bool) {
	isSp := func(c rune) bool { return c == byteToRune[' '] || unicode.IsSpace(c) }
	src := e.src
	for i, tok := range e.Tokens {
		o := e.Offsets[i]
		lead := 0
		for _, c := range tok {
			if !isSp(c) {
				break
			}
			lead++
		}
		trail := 0
		for j := len(tok); j > 0; {
			c, n := utf8.DecodeLastRuneInString(tok[:j])
			if !isSp(c) {
				break
			}
			trail++
			j -= n
		}
		if lead == 0 && trail == 0 {
			continue
		}
		if lead > 0 {
			isFirst := i == 0 || o[0] == 0
			if isFirst && addPrefixSpace && lead == 1 {
				lead = 0
			}
			p := charStart(src, o[0])
			for k := 0; k < lead && p < o[1] && p < len(src); k++ {
				_, n := utf8.DecodeRuneInString(src[p:])
				p += n
			}
			o[0] = min(max(p, o[0]), o[1])
		}
		if trail > 0 && o[1] <= len(src) && utf8.RuneCountInString(src[:o[1]]) >= trail {
			p := o[1]
			for k := 0; k < trail && p > o[0]; k++ {
				_, n := utf8.DecodeLastRuneInString(src[:p])
				p -= n
			}
			o[1] = max(p, o[0])
		}
		e.Offsets[i] = o
	}
}

// charStart moves a byte position back to the start of the char containing it.
func charStart(s string, p int) int {
	if p >= len(s) {
		return p
	}
	for p > 0 && !utf8.RuneStart(s[p]) {
		p--
	}
	return p
}
