package tokenizer

import (
	"sort"
	"sync"

	"golang.org/x/text/unicode/norm"
)

// Unicode normalization that also reports, for every output char, how it relates to the input
// (the change stream HF's NormalizedString needs to keep offsets). It follows the algorithm of
// the unicode-normalization-alignments crate that HF uses: decompose each char (first output
// char replaces it, the others are insertions), reorder combining marks stably by combining
// class, then, for the composed forms, compose canonically with each composition counting as the
// removal of one char.

const (
	hangulSBase  = 0xAC00
	hangulLBase  = 0x1100
	hangulVBase  = 0x1161
	hangulTBase  = 0x11A7
	hangulLCount = 19
	hangulVCount = 21
	hangulTCount = 28
	hangulNCount = hangulVCount * hangulTCount
	hangulSCount = hangulLCount * hangulNCount
)

func ccc(r rune) uint8 {
	if r < 0x300 {
		return 0
	}
	return norm.NFD.PropertiesString(string(r)).CCC()
}

// decomposeRune appends the full canonical (or compatibility) decomposition of r.
func decomposeRune(dst []rune, r rune, compat bool) []rune {
	if r >= hangulSBase && r < hangulSBase+hangulSCount {
		si := r - hangulSBase
		dst = append(dst, hangulLBase+si/hangulNCount, hangulVBase+(si%hangulNCount)/hangulTCount)
		if t := si % hangulTCount; t != 0 {
			dst = append(dst, hangulTBase+t)
		}
		return dst
	}
	if r < 0xC0 && !(compat && r >= 0xA0) {
		return append(dst, r)
	}
	f := norm.NFD
	if compat {
		f = norm.NFKD
	}
	d := f.PropertiesString(string(r)).Decomposition()
	if len(d) == 0 {
		return append(dst, r)
	}
	for _, c := range string(d) {
		dst = append(dst, c)
	}
	return dst
}

type cccChange struct {
	class uint8
	c     change
}

// decomposeChanges is the Decompositions iterator of the alignments crate.
func decomposeChanges(s string, compat bool) []change {
	out := make([]change, 0, len(s))
	var pending []cccChange
	flush := func() {
		sort.SliceStable(pending, func(i, j int) bool { return pending[i].class < pending[j].class })
		for _, p := range pending {
			out = append(out, p.c)
		}
		pending = pending[:0]
	}
	var buf []rune
	for _, r := range s {
		buf = decomposeRune(buf[:0], r, compat)
		for k, d := range buf {
			cl := ccc(d)
			if cl == 0 {
				flush()
			}
			ch := 1
			if k == 0 {
				ch = 0
			}
			pending = append(pending, cccChange{cl, change{d, ch}})
		}
	}
	flush()
	return out
}

type runePair struct{ a, b rune }

// compositionTable maps a pair to its primary composite. It is derived once from x/text's
// tables: a char whose NFC form is itself and which has a decomposition is a primary composite
// of (NFC of its decomposition without the last char, last char).
var compositionTable = sync.OnceValue(func() map[runePair]rune {
	m := make(map[runePair]rune, 1024)
	for r := rune(0xC0); r <= 0x10FFFF; r++ {
		if r >= 0xD800 && r <= 0xDFFF || r >= hangulSBase && r < hangulSBase+hangulSCount {
			continue
		}
		s := string(r)
		p := norm.NFD.PropertiesString(s)
		d := p.Decomposition()
		if len(d) == 0 || norm.NFC.String(s) != s {
			continue
		}
		dr := []rune(string(d))
		first := []rune(norm.NFC.String(string(dr[:len(dr)-1])))
		if len(first) != 1 {
			continue
		}
		m[runePair{first[0], dr[len(dr)-1]}] = r
	}
	return m
})

func compose(a, b rune) (rune, bool) {
	// Hangul LV and LVT syllables are algorithmic.
	if a >= hangulLBase && a < hangulLBase+hangulLCount && b >= hangulVBase && b < hangulVBase+hangulVCount {
		return hangulSBase + ((a-hangulLBase)*hangulVCount+(b-hangulVBase))*hangulTCount, true
	}
	if a >= hangulSBase && a < hangulSBase+hangulSCount && (a-hangulSBase)%hangulTCount == 0 &&
		b > hangulTBase && b < hangulTBase+hangulTCount {
		return a + (b - hangulTBase), true
	}
	if b < 0x300 {
		// No composition outside Hangul has a second element below U+0300.
		return 0, false
	}
	r, ok := compositionTable()[runePair{a, b}]
	return r, ok
}

// composeChanges is the Recompositions iterator of the alignments crate.
func composeChanges(s string, compat bool) []change {
	in := decomposeChanges(s, compat)
	out := make([]change, 0, len(in))
	var buffer []change
	var composee *change
	lastCCC := -1
	for idx := 0; idx < len(in); idx++ {
		c := in[idx]
		cl := int(ccc(c.r))
		if composee == nil {
			if cl != 0 {
				out = append(out, c)
				continue
			}
			cc := c
			composee = &cc
			continue
		}
		k := *composee
		if lastCCC < 0 {
			if r, ok := compose(k.r, c.r); ok {
				composee = &change{r, k.ch + c.ch - 1}
				continue
			}
			if cl == 0 {
				cc := c
				composee = &cc
				out = append(out, k)
				continue
			}
			buffer = append(buffer, c)
			lastCCC = cl
			continue
		}
		if lastCCC >= cl {
			if cl == 0 {
				cc := c
				composee = &cc
				lastCCC = -1
				out = append(out, k)
				out = append(out, buffer...)
				buffer = buffer[:0]
				continue
			}
			buffer = append(buffer, c)
			lastCCC = cl
			continue
		}
		if r, ok := compose(k.r, c.r); ok {
			composee = &change{r, k.ch + c.ch - 1}
			continue
		}
		buffer = append(buffer, c)
		lastCCC = cl
	}
	if composee != nil {
		out = append(out, *composee)
	}
	out = append(out, buffer...)
	return out
}
