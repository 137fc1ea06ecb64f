package tokenizer

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// unigramModel is SentencePiece's unigram model: the segmentation with the highest total piece
// score (Viterbi), unknown chars scoring min_score - 10 as in HF.
type unigramModel struct {
	vocabulary
	scores       []float64
	unkID        int32
	hasUnk       bool
	byteFallback bool
	fuseUnk      bool
	minScore     float64
	trie         *trie // pattern index == id
}

const unigramUnkPenalty = 10.0

func parseUnigram(o obj) (model, error) {
	l, err := o.list("vocab")
	if err != nil {
		return nil, err
	}
	m := &unigramModel{fuseUnk: true}
	ids := make(map[string]int32, len(l))
	pieces := make([]string, len(l))
	m.scores = make([]float64, len(l))
	for i, x := range l {
		var pair []json.RawMessage
		if err := json.Unmarshal(x, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("%s[%d]: expected [piece, score]", o.sub("vocab"), i)
		}
		if json.Unmarshal(pair[0], &pieces[i]) != nil || json.Unmarshal(pair[1], &m.scores[i]) != nil {
			return nil, fmt.Errorf("%s[%d]: expected [piece, score]", o.sub("vocab"), i)
		}
		if _, dup := ids[pieces[i]]; !dup {
			ids[pieces[i]] = int32(i)
		}
		if i == 0 || m.scores[i] < m.minScore {
			m.minScore = m.scores[i]
		}
	}
	m.vocabulary = newVocabulary(ids)
	if o.has("unk_id") {
		u, err := o.integer("unk_id", 0)
		if err != nil {
			return nil, err
		}
		if u < 0 || u >= len(l) {
			return nil, fmt.Errorf("%s: %d is outside the vocabulary", o.sub("unk_id"), u)
		}
		m.unkID, m.hasUnk = int32(u), true
	}
	if m.byteFallback, err = o.boolean("byte_fallback", false); err != nil {
		return nil, err
	}
	m.trie = newTrie(pieces)
	return m, nil
}

type viterbiNode struct {
	score  float64
	start  int
	id     int32
	filled bool
}

func (m *unigramModel) tokenize(s string, dst []token) []token {
	if s == "" {
		return dst
	}
	best := make([]viterbiNode, len(s)+1)
	best[0].filled = true
	unkScore := m.minScore - unigramUnkPenalty
	for start := 0; start < len(s); {
		_, mblen := utf8.DecodeRuneInString(s[start:])
		base := best[start].score
		single := false
		cur := int32(0)
		for j := start; j < len(s); j++ {
			nx, ok := m.trie.nodes[cur].next[s[j]]
			if !ok {
				break
			}
			cur = nx
			if id := m.trie.nodes[cur].term; id >= 0 {
				end := j + 1
				cand := m.scores[id] + base
				if t := &best[end]; !t.filled || cand > t.score {
					*t = viterbiNode{score: cand, start: start, id: id, filled: true}
				}
				if end-start == mblen {
					single = true
				}
			}
		}
		if !single {
			cand := unkScore + base
			if t := &best[start+mblen]; !t.filled || cand > t.score {
				*t = viterbiNode{score: cand, start: start, id: m.unkID, filled: true}
			}
		}
		start += mblen
	}
	// Walk back, fusing consecutive unknowns.
	var pieces [][2]int
	fusedEnd := -1
	for end := len(s); end > 0; {
		n := best[end]
		if m.fuseUnk && m.hasUnk && n.id == m.unkID {
			if fusedEnd < 0 {
				fusedEnd = end
			}
		} else {
			if fusedEnd >= 0 {
				pieces = append(pieces, [2]int{end, fusedEnd})
				fusedEnd = -1
			}
			pieces = append(pieces, [2]int{n.start, end})
		}
		end = n.start
	}
	if fusedEnd >= 0 {
		pieces = append(pieces, [2]int{0, fusedEnd})
	}
	out := dst
	for i := len(pieces) - 1; i >= 0; i-- {
		p := pieces[i]
		str := s[p[0]:p[1]]
		if id, ok := m.ids[str]; ok {
			out = append(out, token{id: id, value: str, start: p[0], end: p[1]})
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(str); k++ {
				if _, ok := m.ids[fmt.Sprintf("<0x%02X>", str[k])]; !ok {
					all = false
					break
				}
			}
			if all {
				for k := 0; k < len(str); k++ {
					bs := fmt.Sprintf("<0x%02X>", str[k])
					out = append(out, token{id: m.ids[bs], value: bs, start: p[0], end: p[1]})
				}
				continue
			}
		}
		out = append(out, token{id: m.unkID, value: str, start: p[0], end: p[1]})
	}
	return out
}
