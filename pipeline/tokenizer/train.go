package tokenizer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strconv"
	"unicode/utf8"
)

// TrainOptions configures Train.
type TrainOptions struct {
	// SpecialTokens get the first ids, in order (e.g. "<|endoftext|>", "<|pad|>").
	SpecialTokens []string
	// MinFrequency stops training when the best pair occurs fewer times (0: HF's default).
	MinFrequency int
	// Pattern is the split regex; empty means the Llama-3 pattern of the bytelevel_bpe fixture.
	Pattern string
}

// Train learns a byte-level BPE tokenizer with the same pipeline as HuggingFace's
// `BpeTrainer` on Split(pattern, Isolated) + ByteLevel (the shared bytelevel_bpe fixture): the
// 256 byte symbols form the initial alphabet, special tokens come first, then merges of the most
// frequent pair, ties broken by the smaller pair of ids. Pair counts are updated incrementally
// from the words that contain the merged pair. The same input gives the same tokenizer.
func Train(ctx context.Context, texts iter.Seq[string], vocabSize int, opts TrainOptions) (*Tokenizer, error) {
	// HF's trainer keeps the whole alphabet whatever the size asked for; a size below it is a
	// mistake better told than turned silently into a tokenizer without a single merge.
	if least := 256 + len(opts.SpecialTokens); vocabSize <= least {
		return nil, fmt.Errorf("train: vocabulary size %d leaves no room for merges: a byte-level tokenizer holds the 256 byte symbols and %d special tokens before any (want more than %d)",
			vocabSize, len(opts.SpecialTokens), least)
	}
	pat := opts.Pattern
	if pat == "" {
		pat = llama3Pattern
	}
	var split pattern
	if h, ok := handSplitterFor(pat); ok {
		split = h
	} else {
		re, err := compileRegex(pat)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		split = runeRegexPattern{re}
	}
	counts := map[string]int{}
	n := 0
	for text := range texts {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		for _, m := range split.findMatches(text) {
			if m.end > m.start {
				counts[text[m.start:m.end]]++
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	alphabet := make([]rune, 256)
	for b := 0; b < 256; b++ {
		alphabet[b] = byteToRune[b]
	}
	res, err := trainBPE(ctx, byteLevelWords(counts), opts.SpecialTokens, alphabet, vocabSize, opts.MinFrequency)
	if err != nil {
		return nil, err
	}
	b := writeTokenizerJSON(res, opts.SpecialTokens, pat)
	return FromJSON(b)
}

// byteLevelWords maps raw pieces to their byte-level spelling, merging counts.
func byteLevelWords(counts map[string]int) map[string]int {
	out := make(map[string]int, len(counts))
	var buf []byte
	for w, c := range counts {
		buf = buf[:0]
		for i := 0; i < len(w); i++ {
			buf = utf8.AppendRune(buf, byteToRune[w[i]])
		}
		out[string(buf)] += c
	}
	return out
}

type trainResult struct {
	vocab  []string    // by id
	merges [][2]string // in rank order
}

// trainHeapItem is one entry of HF's merge queue: a pair, its count when pushed and the words
// to update when it is chosen.
type trainHeapItem struct {
	pair  uint64
	count int64
	pos   []int32
}

type trainHeap []trainHeapItem

func (h trainHeap) better(i, j int) bool {
	if h[i].count != h[j].count {
		return h[i].count > h[j].count
	}
	return h[i].pair < h[j].pair
}

func (h *trainHeap) push(x trainHeapItem) {
	*h = append(*h, x)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.better(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *trainHeap) pop() trainHeapItem {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = trainHeapItem{}
	s = s[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		c := l
		if r := l + 1; r < len(s) && s.better(r, l) {
			c = r
		}
		if !s.better(c, i) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

type pairChange struct {
	pair  uint64
	delta int
}

// mergeWord replaces every (a, b) in w by n, left to right, and reports the neighbouring pairs
// that disappear and appear (HF's Word::merge; the merged pair itself is not reported).
func mergeWord(w []int32, a, b, n int32, changes []pairChange) ([]int32, []pairChange) {
	for i := 0; i+1 < len(w); i++ {
		if w[i] != a || w[i+1] != b {
			continue
		}
		if i > 0 {
			changes = append(changes, pairChange{pairKey(w[i-1], a), -1}, pairChange{pairKey(w[i-1], n), 1})
		}
		w[i] = n
		copy(w[i+1:], w[i+2:])
		w = w[:len(w)-1]
		if i+1 < len(w) {
			changes = append(changes, pairChange{pairKey(b, w[i+1]), -1}, pairChange{pairKey(n, w[i+1]), 1})
		}
	}
	return w, changes
}

// trainBPE is HF's BpeTrainer::do_train for words already in their final alphabet.
func trainBPE(ctx context.Context, wordCounts map[string]int, specials []string, initial []rune, vocabSize, minFreq int) (trainResult, error) {
	var res trainResult
	ids := map[string]int32{}
	add := func(s string) int32 {
		if id, ok := ids[s]; ok {
			return id
		}
		id := int32(len(res.vocab))
		res.vocab = append(res.vocab, s)
		ids[s] = id
		return id
	}
	for _, s := range specials {
		if s == "" {
			return res, errors.New("train: empty special token")
		}
		add(s)
	}
	// Alphabet: the initial symbols plus every char seen, by code point.
	alpha := map[rune]bool{}
	for _, r := range initial {
		alpha[r] = true
	}
	for w := range wordCounts {
		for _, r := range w {
			alpha[r] = true
		}
	}
	chars := make([]rune, 0, len(alpha))
	for r := range alpha {
		chars = append(chars, r)
	}
	sort.Slice(chars, func(i, j int) bool { return chars[i] < chars[j] })
	for _, r := range chars {
		add(string(r))
	}
	// Words in a fixed order so that everything below is deterministic.
	keys := make([]string, 0, len(wordCounts))
	for w := range wordCounts {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	words := make([][]int32, len(keys))
	counts := make([]int64, len(keys))
	for i, w := range keys {
		counts[i] = int64(wordCounts[w])
		sym := make([]int32, 0, utf8.RuneCountInString(w))
		for _, r := range w {
			sym = append(sym, ids[string(r)])
		}
		words[i] = sym
	}
	pairCounts := map[uint64]int64{}
	where := map[uint64][]int32{}
	for i, w := range words {
		for k := 0; k+1 < len(w); k++ {
			p := pairKey(w[k], w[k+1])
			pairCounts[p] += counts[i]
			if l := where[p]; len(l) == 0 || l[len(l)-1] != int32(i) {
				where[p] = append(l, int32(i))
			}
		}
	}
	h := make(trainHeap, 0, len(where))
	for p, pos := range where {
		if c := pairCounts[p]; c > 0 {
			h.push(trainHeapItem{p, c, pos})
		}
	}
	where = map[uint64][]int32{}
	type rankedMerge struct {
		pair  [2]int32
		newID int32
	}
	var merges []rankedMerge
	var changes []pairChange
	stamp := make([]int32, len(words))
	gen := int32(0)
	for len(res.vocab) < vocabSize && len(h) > 0 {
		if len(merges)%64 == 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
		top := h.pop()
		if cur := pairCounts[top.pair]; top.count != cur {
			top.count = cur
			h.push(top)
			continue
		}
		if top.count < 1 || int64(minFreq) > top.count {
			break
		}
		a, b := int32(top.pair>>32), int32(uint32(top.pair))
		newID := add(res.vocab[a] + res.vocab[b])
		merges = append(merges, rankedMerge{[2]int32{a, b}, newID})
		gen++
		for _, wi := range top.pos {
			if stamp[wi] == gen {
				continue
			}
			stamp[wi] = gen
			changes = changes[:0]
			words[wi], changes = mergeWord(words[wi], a, b, newID, changes)
			for _, c := range changes {
				pairCounts[c.pair] += int64(c.delta) * counts[wi]
				if c.delta > 0 {
					if l := where[c.pair]; len(l) == 0 || l[len(l)-1] != wi {
						where[c.pair] = append(l, wi)
					}
				}
			}
		}
		// Push the pairs that gained occurrences, in a fixed order.
		gained := make([]uint64, 0, len(where))
		for p := range where {
			gained = append(gained, p)
		}
		sort.Slice(gained, func(i, j int) bool { return gained[i] < gained[j] })
		for _, p := range gained {
			if c := pairCounts[p]; c > 0 {
				h.push(trainHeapItem{p, c, where[p]})
			}
			delete(where, p)
		}
	}
	// A pair merged twice keeps its last rank, as HF's merge map does.
	last := map[[2]int32]int{}
	for i, m := range merges {
		last[m.pair] = i
	}
	for i, m := range merges {
		if last[m.pair] == i {
			res.merges = append(res.merges, [2]string{res.vocab[m.pair[0]], res.vocab[m.pair[1]]})
		}
	}
	return res, nil
}

// jsonString writes s as serde_json does: only '"', '\\' and control chars are escaped.
func jsonString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			buf.WriteString(`\"`)
		case c == '\\':
			buf.WriteString(`\\`)
		case c == '\n':
			buf.WriteString(`\n`)
		case c == '\r':
			buf.WriteString(`\r`)
		case c == '\t':
			buf.WriteString(`\t`)
		case c == '\b':
			buf.WriteString(`\b`)
		case c == '\f':
			buf.WriteString(`\f`)
		case c < 0x20:
			fmt.Fprintf(buf, `\u%04x`, c)
		default:
			buf.WriteByte(c)
		}
		i++
	}
	buf.WriteByte('"')
}

// writeTokenizerJSON writes the tokenizer.json HF writes for this pipeline, in its layout
// (serde_json pretty printing, two-space indent, keys in HF's order, merges as pairs).
func writeTokenizerJSON(res trainResult, specials []string, pat string) []byte {
	var b bytes.Buffer
	b.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for i, s := range specials {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    {\n      \"id\": " + strconv.Itoa(i) + ",\n      \"content\": ")
		jsonString(&b, s)
		b.WriteString(",\n      \"single_word\": false,\n      \"lstrip\": false,\n      \"rstrip\": false,\n" +
			"      \"normalized\": false,\n      \"special\": true\n    }")
	}
	if len(specials) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\n    \"type\": \"Sequence\",\n    \"pretokenizers\": [\n" +
		"      {\n        \"type\": \"Split\",\n        \"pattern\": {\n          \"Regex\": ")
	jsonString(&b, pat)
	b.WriteString("\n        },\n        \"behavior\": \"Isolated\",\n        \"invert\": false\n      },\n" +
		"      {\n        \"type\": \"ByteLevel\",\n        \"add_prefix_space\": false,\n        \"trim_offsets\": true,\n" +
		"        \"use_regex\": false\n      }\n    ]\n  },\n" +
		"  \"post_processor\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": true,\n    \"trim_offsets\": false,\n" +
		"    \"use_regex\": true\n  },\n" +
		"  \"decoder\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": true,\n    \"trim_offsets\": true,\n" +
		"    \"use_regex\": true\n  },\n" +
		"  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n" +
		"    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n" +
		"    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {")
	for i, s := range res.vocab {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      ")
		jsonString(&b, s)
		b.WriteString(": " + strconv.Itoa(i))
	}
	if len(res.vocab) > 0 {
		b.WriteString("\n    ")
	}
	b.WriteString("},\n    \"merges\": [")
	for i, m := range res.merges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n      [\n        ")
		jsonString(&b, m[0])
		b.WriteString(",\n        ")
		jsonString(&b, m[1])
		b.WriteString("\n      ]")
	}
	if len(res.merges) > 0 {
		b.WriteString("\n    ")
	}
	b.WriteString("]\n  }\n}")
	return b.Bytes()
}
