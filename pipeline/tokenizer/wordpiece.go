package tokenizer

import (
	"unicode/utf8"
)

// wordPieceModel is greedy longest-match-first with a continuation prefix ("##").
type wordPieceModel struct {
	vocabulary
	unk          string
	unkID        int32 // checked at load time
	prefix       string
	maxInputChar int
}

func (m *wordPieceModel) unkToken(s string, dst []token) []token {
	return append(dst, token{id: m.unkID, value: m.unk, start: 0, end: len(s)})
}

func (m *wordPieceModel) tokenize(s string, dst []token) []token {
	if utf8.RuneCountInString(s) > m.maxInputChar {
		return m.unkToken(s, dst)
	}
	base := len(dst)
	out := dst
	buf := make([]byte, 0, len(m.prefix)+len(s))
	for start := 0; start < len(s); {
		end := len(s)
		found := false
		for start < end {
			var sub string
			if start > 0 {
				buf = append(buf[:0], m.prefix...)
				buf = append(buf, s[start:end]...)
				sub = string(buf)
			} else {
				sub = s[start:end]
			}
			if id, ok := m.ids[sub]; ok {
				out = append(out, token{id: id, value: sub, start: start, end: end})
				found = true
				break
			}
			_, sz := utf8.DecodeLastRuneInString(s[start:end])
			end -= sz
		}
		if !found {
			return m.unkToken(s, out[:base])
		}
		start = end
	}
	return out
}

// wordLevelModel maps a whole piece to one id.
type wordLevelModel struct {
	vocabulary
	unk   string
	unkID int32 // checked at load time
}

func (m *wordLevelModel) tokenize(s string, dst []token) []token {
	if id, ok := m.ids[s]; ok {
		return append(dst, token{id: id, value: s, start: 0, end: len(s)})
	}
	return append(dst, token{id: m.unkID, value: m.unk, start: 0, end: len(s)})
}
