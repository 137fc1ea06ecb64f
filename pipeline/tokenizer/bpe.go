package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// model turns one pre-tokenized piece into tokens.
type model interface {
	// tokenize appends the tokens of s to dst.
	tokenize(s string, dst []token) []token
	tokenToID(s string) (int32, bool)
	idToToken(id int32) (string, bool)
	size() int
}

// vocabulary is a token<->id map shared by the models.
type vocabulary struct {
	ids    map[string]int32
	tokens map[int32]string
}

func newVocabulary(m map[string]int32) vocabulary {
	r := make(map[int32]string, len(m))
	for k, v := range m {
		r[v] = k
	}
	return vocabulary{ids: m, tokens: r}
}

func (v vocabulary) tokenToID(s string) (int32, bool) { id, ok := v.ids[s]; return id, ok }
func (v vocabulary) idToToken(id int32) (string, bool) {
	s, ok := v.tokens[id]
	return s, ok
}
func (v vocabulary) size() int { return len(v.ids) }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

type mergeInfo struct{ rank, newID int32 }

type bpeModel struct {
	vocabulary
	merges       map[uint64]mergeInfo
	mergeList    [][2]string // in rank order, kept for saving
	unk          string
	hasUnk       bool
	unkID        int32
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	byteIDs      [256]int32 // "<0xAB>" ids for byte_fallback, -1 when absent
	cache        *wordCache
}

// Cache bounds as in HF: long pieces are not cached, and a full cache stops growing (no
// eviction) so that its cost stays predictable.
const (
	defaultCacheCapacity = 10000
	maxCachedLen         = 256
)

// wordCache maps a piece to its BPE symbols; safe for concurrent use.
type wordCache struct {
	mu  sync.RWMutex
	m   map[string][]symbolOut
	cap int
}

type symbolOut struct {
	id  int32
	len int32
}

func newWordCache(capacity int) *wordCache {
	if capacity <= 0 {
		return nil
	}
	return &wordCache{m: make(map[string][]symbolOut, 1024), cap: capacity}
}

func (c *wordCache) get(s string) ([]symbolOut, bool) {
	c.mu.RLock()
	v, ok := c.m[s]
	c.mu.RUnlock()
	return v, ok
}

func (c *wordCache) put(s string, v []symbolOut) {
	c.mu.Lock()
	if len(c.m) < c.cap {
		c.m[s] = v
	}
	c.mu.Unlock()
}

func newBPE(vocab map[string]int32, merges [][2]string, opts bpeOptions) (*bpeModel, error) {
	m := &bpeModel{
		vocabulary:   newVocabulary(vocab),
		merges:       make(map[uint64]mergeInfo, len(merges)),
		mergeList:    merges,
		unk:          opts.unk,
		hasUnk:       opts.hasUnk,
		prefix:       opts.prefix,
		suffix:       opts.suffix,
		fuseUnk:      opts.fuseUnk,
		byteFallback: opts.byteFallback,
		ignoreMerges: opts.ignoreMerges,
	}
	for i, mg := range merges {
		a, ok := vocab[mg[0]]
		if !ok {
			return nil, fmt.Errorf("merges[%d]: token %q not in vocab", i, mg[0])
		}
		b, ok := vocab[mg[1]]
		if !ok {
			return nil, fmt.Errorf("merges[%d]: token %q not in vocab", i, mg[1])
		}
		second := mg[1]
		if len(m.prefix) <= len(second) {
			second = second[len(m.prefix):]
		} else {
			second = ""
		}
		nt := mg[0] + second
		nid, ok := vocab[nt]
		if !ok {
			return nil, fmt.Errorf("merges[%d]: merged token %q not in vocab", i, nt)
		}
		k := pairKey(a, b)
		// A repeated pair keeps its last rank, as HF's HashMap collect does.
		m.merges[k] = mergeInfo{int32(i), nid}
	}
	if m.hasUnk {
		id, ok := vocab[m.unk]
		if !ok {
			// HF fails only when the unk token is needed; armap refuses such a file up front.
			return nil, fmt.Errorf("unk_token %q is not in vocab", m.unk)
		}
		m.unkID = id
	}
	for b := 0; b < 256; b++ {
		m.byteIDs[b] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	if opts.cacheCapacity >= 0 {
		m.cache = newWordCache(opts.cacheCapacity)
	}
	return m, nil
}

type bpeOptions struct {
	unk                   string
	hasUnk                bool
	prefix, suffix        string
	fuseUnk, byteFallback bool
	ignoreMerges          bool
	cacheCapacity         int // 0: none
}

type symbol struct {
	c          int32
	prev, next int32
	len        int32
}

func (m *bpeModel) tokenize(s string, dst []token) []token {
	if s == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.ids[s]; ok {
			return append(dst, token{id: id, value: s, start: 0, end: len(s)})
		}
	}
	if m.cache != nil {
		if syms, ok := m.cache.get(s); ok {
			return m.toTokens(syms, dst)
		}
	}
	syms := m.mergeWord(s)
	if m.cache != nil && len(s) < maxCachedLen {
		// s may view a whole request's buffer (unsafe.String); a cached view would keep that
		// buffer alive as long as the cache lives.
		m.cache.put(strings.Clone(s), syms)
	}
	return m.toTokens(syms, dst)
}

func (m *bpeModel) toTokens(syms []symbolOut, dst []token) []token {
	pos := 0
	for _, sy := range syms {
		dst = append(dst, token{id: sy.id, value: m.tokens[sy.id], start: pos, end: pos + int(sy.len)})
		pos += int(sy.len)
	}
	return dst
}

// mergeWord is HF's BPE::merge_word followed by Word::merge_all.
func (m *bpeModel) mergeWord(w string) []symbolOut {
	syms := make([]symbol, 0, len(w))
	add := func(c int32, l int) {
		n := int32(len(syms))
		if n > 0 {
			syms[n-1].next = n
		}
		syms = append(syms, symbol{c: c, prev: n - 1, next: -1, len: int32(l)})
	}
	unkID, unkLen, haveUnk := int32(0), 0, false
	var sb strings.Builder
	for i := 0; i < len(w); {
		_, sz := utf8.DecodeRuneInString(w[i:])
		ch := w[i : i+sz]
		isFirst, isLast := i == 0, i+sz == len(w)
		i += sz
		s := ch
		if (!isFirst && m.prefix != "") || (isLast && m.suffix != "") {
			sb.Reset()
			if !isFirst {
				sb.WriteString(m.prefix)
			}
			sb.WriteString(ch)
			if isLast {
				sb.WriteString(m.suffix)
			}
			s = sb.String()
		}
		if id, ok := m.ids[s]; ok {
			if haveUnk {
				add(unkID, unkLen)
				haveUnk = false
			}
			add(id, sz)
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(s); k++ {
				if m.byteIDs[s[k]] < 0 {
					all = false
					break
				}
			}
			if all {
				// HF neither flushes a pending unk here nor counts prefix bytes apart.
				for k := 0; k < len(s); k++ {
					add(m.byteIDs[s[k]], 1)
				}
				continue
			}
		}
		if m.hasUnk {
			id := m.unkID // checked at load time
			switch {
			case haveUnk && m.fuseUnk:
				unkLen += sz
			case haveUnk:
				add(unkID, unkLen)
				unkID, unkLen = id, sz
			default:
				unkID, unkLen, haveUnk = id, sz, true
			}
		}
	}
	if haveUnk {
		add(unkID, unkLen)
	}
	m.mergeAll(syms)
	out := make([]symbolOut, 0, len(syms))
	for _, sy := range syms {
		if sy.len != 0 {
			out = append(out, symbolOut{sy.c, sy.len})
		}
	}
	return out
}

type mergeItem struct {
	rank, pos, newID int32
}

func (a mergeItem) less(b mergeItem) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// mergeHeap is a binary min-heap on (rank, pos).
type mergeHeap []mergeItem

func (h *mergeHeap) push(x mergeItem) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeItem {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		c := l
		if r := l + 1; r < len(s) && s[r].less(s[l]) {
			c = r
		}
		if !s[c].less(s[i]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

func (m *bpeModel) mergeAll(syms []symbol) {
	if len(syms) < 2 {
		return
	}
	h := make(mergeHeap, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if mi, ok := m.merges[pairKey(syms[i].c, syms[i+1].c)]; ok {
			h.push(mergeItem{mi.rank, int32(i), mi.newID})
		}
	}
	for len(h) > 0 {
		top := h.pop()
		cur := &syms[top.pos]
		if cur.len == 0 || cur.next == -1 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		mi, ok := m.merges[pairKey(cur.c, right.c)]
		if !ok || mi.newID != top.newID {
			continue
		}
		cur.c = top.newID
		cur.len += right.len
		cur.next = right.next
		syms[nextPos].len = 0
		if right.next > -1 && int(right.next) < len(syms) {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			p := syms[cur.prev]
			if mi, ok := m.merges[pairKey(p.c, cur.c)]; ok {
				h.push(mergeItem{mi.rank, cur.prev, mi.newID})
			}
		}
		if cur.next >= 0 && int(cur.next) < len(syms) {
			nx := syms[cur.next]
			if mi, ok := m.merges[pairKey(cur.c, nx.c)]; ok {
				h.push(mergeItem{mi.rank, top.pos, mi.newID})
			}
		}
	}
}
