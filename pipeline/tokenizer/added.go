package tokenizer

import (
	"unicode/utf8"
)

// AddedToken is an entry of tokenizer.json's "added_tokens": a token matched in the raw text
// before the model runs.
type AddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// trie finds added tokens leftmost-longest, as the aho-corasick automaton HF builds does.
type trie struct {
	nodes []trieNode
	first [256]bool
}

type trieNode struct {
	next map[byte]int32
	term int32 // index of the pattern ending here, -1 if none
}

func newTrie(patterns []string) *trie {
	t := &trie{nodes: []trieNode{{term: -1}}}
	for pi, p := range patterns {
		if p == "" {
			continue
		}
		t.first[p[0]] = true
		cur := int32(0)
		for i := 0; i < len(p); i++ {
			nx, ok := t.nodes[cur].next[p[i]]
			if !ok {
				if t.nodes[cur].next == nil {
					t.nodes[cur].next = make(map[byte]int32)
				}
				nx = int32(len(t.nodes))
				t.nodes = append(t.nodes, trieNode{term: -1})
				t.nodes[cur].next[p[i]] = nx
			}
			cur = nx
		}
		if t.nodes[cur].term < 0 {
			t.nodes[cur].term = int32(pi)
		}
	}
	return t
}

// longestAt returns the pattern index and length of the longest pattern starting at i.
func (t *trie) longestAt(s string, i int) (int32, int) {
	best, bestLen := int32(-1), 0
	cur := int32(0)
	for j := i; j < len(s); j++ {
		nx, ok := t.nodes[cur].next[s[j]]
		if !ok {
			break
		}
		cur = nx
		if t.nodes[cur].term >= 0 {
			best, bestLen = t.nodes[cur].term, j+1-i
		}
	}
	return best, bestLen
}

type addedVocab struct {
	tokens    []AddedToken // every added token, in file order (duplicates dropped)
	byContent map[string]int32
	byID      map[int32]AddedToken
	// text is what an id decodes to: HF returns the normalized content of normalized tokens.
	text      map[int32]string
	special   map[string]bool
	raw       *trie // tokens matched on the original text
	rawIDs    []int32
	normed    *trie // tokens matched on the normalized text
	normedIDs []int32
	hasRaw    bool
	hasNormed bool
}

// newAddedVocab assigns ids the way HF's AddedVocabulary::add_tokens does: a token already known
// (to the added vocabulary or the model) keeps that id, otherwise it gets the next id after the
// model vocabulary and the other added tokens. The ids written in the file agree with this for
// any file HF wrote.
func newAddedVocab(toks []AddedToken, m model, norm normalizer) *addedVocab {
	a := &addedVocab{byContent: map[string]int32{}, byID: map[int32]AddedToken{}, special: map[string]bool{},
		text: map[int32]string{}}
	var specialOrder, plainOrder []AddedToken
	seen := map[AddedToken]bool{}
	for _, t := range toks {
		if t.Special && t.Content != "" && !a.special[t.Content] {
			a.special[t.Content] = true
			specialOrder = append(specialOrder, t)
		}
	}
	for _, t := range toks {
		if t.Content == "" {
			continue
		}
		key := t
		key.ID = 0
		if seen[key] {
			continue
		}
		seen[key] = true
		id, ok := a.byContent[t.Content]
		if !ok {
			id, ok = m.tokenToID(t.Content)
		}
		if !ok {
			vs := int32(m.size())
			maxID := int32(-1)
			for _, v := range a.byContent {
				maxID = max(maxID, v)
			}
			switch {
			case maxID < 0:
				id = vs
			case maxID >= vs || vs == 0:
				id = maxID + 1
			default:
				id = vs
			}
		}
		a.byContent[t.Content] = id
		t.ID = id
		a.byID[id] = t
		a.text[id] = t.Content
		if t.Normalized && norm != nil {
			ns := newNormString(t.Content, 0)
			norm.normalize(&ns)
			a.text[id] = ns.norm
		}
		if !a.special[t.Content] {
			plainOrder = append(plainOrder, t)
		}
		a.tokens = append(a.tokens, t)
	}
	var rawPats, normPats []string
	for _, t := range append(specialOrder, plainOrder...) {
		id := a.byContent[t.Content]
		if t.Normalized {
			ns := newNormString(t.Content, 0)
			if norm != nil {
				norm.normalize(&ns)
			}
			normPats = append(normPats, ns.norm)
			a.normedIDs = append(a.normedIDs, id)
		} else {
			rawPats = append(rawPats, t.Content)
			a.rawIDs = append(a.rawIDs, id)
		}
	}
	a.raw, a.hasRaw = newTrie(rawPats), len(rawPats) > 0
	a.normed, a.hasNormed = newTrie(normPats), len(normPats) > 0
	return a
}

type addedMatch struct {
	id         int32 // -1 for text between tokens
	start, end int
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isWordChar(r)
}

// findMatches is HF's AddedVocabulary::find_matches.
func (a *addedVocab) findMatches(s string, t *trie, ids []int32) []addedMatch {
	if s == "" {
		return []addedMatch{{-1, 0, 0}}
	}
	var out []addedMatch
	startOffset := 0
	for i := 0; i < len(s); {
		if !t.first[s[i]] {
			i++
			continue
		}
		pi, n := t.longestAt(s, i)
		if pi < 0 {
			i++
			continue
		}
		start, stop := i, i+n
		i = stop
		id := ids[pi]
		tok := a.byID[id]
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			ns := start
			for ns > 0 {
				r, sz := utf8.DecodeLastRuneInString(s[:ns])
				if !isWhitespace(r) {
					break
				}
				ns -= sz
			}
			start = max(ns, startOffset)
		}
		if tok.RStrip {
			for stop < len(s) {
				r, sz := utf8.DecodeRuneInString(s[stop:])
				if !isWhitespace(r) {
					break
				}
				stop += sz
			}
		}
		if startOffset < start {
			out = append(out, addedMatch{-1, startOffset, start})
		}
		out = append(out, addedMatch{id, start, stop})
		startOffset = stop
	}
	if startOffset != len(s) {
		out = append(out, addedMatch{-1, startOffset, len(s)})
	}
	return out
}

func (a *addedVocab) splitWith(ns normString, t *trie, ids []int32) []piece {
	ms := a.findMatches(ns.norm, t, ids)
	out := make([]piece, 0, len(ms))
	for _, m := range ms {
		sl := ns.slice(m.start, m.end)
		if m.id >= 0 {
			out = append(out, piece{ns: sl, hasTokens: true,
				tokens: []token{{id: m.id, value: sl.norm, start: 0, end: len(sl.norm)}}})
		} else {
			out = append(out, piece{ns: sl})
		}
	}
	return out
}

// extractAndNormalize is HF's AddedVocabulary::extract_and_normalize: split off the
// non-normalized added tokens, normalize the rest, then split off the normalized ones.
func (a *addedVocab) extractAndNormalize(norm normalizer, text string) preTokenized {
	pt := preTokenized{pieces: []piece{{ns: newNormString(text, 0)}}}
	splitPieces := func(fn func(ns normString) []piece) {
		out := make([]piece, 0, len(pt.pieces))
		for _, pc := range pt.pieces {
			if pc.hasTokens {
				out = append(out, pc)
				continue
			}
			for _, np := range fn(pc.ns) {
				if np.ns.norm != "" {
					out = append(out, np)
				}
			}
		}
		pt.pieces = out
	}
	if a.hasRaw {
		splitPieces(func(ns normString) []piece { return a.splitWith(ns, a.raw, a.rawIDs) })
	}
	splitPieces(func(ns normString) []piece {
		if norm != nil {
			norm.normalize(&ns)
		}
		if a.hasNormed {
			return a.splitWith(ns, a.normed, a.normedIDs)
		}
		return []piece{{ns: ns}}
	})
	return pt
}
