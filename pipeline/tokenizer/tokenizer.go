// Package tokenizer reads HuggingFace tokenizer.json files and encodes text exactly as the
// HuggingFace `tokenizers` library does (ids, type ids, tokens, offsets), in pure Go. It also
// trains byte-level BPE tokenizers and writes them in the same format.
//
// Supported: models BPE (byte-level and SentencePiece-style with byte_fallback), WordPiece,
// WordLevel and Unigram; the usual normalizers, pre-tokenizers, post-processors and decoders
// (see config.go for the list); added tokens with single_word/lstrip/rstrip/normalized.
//
// Where armap differs from HuggingFace on purpose:
//   - truncation and padding sections are parsed (Truncation, Padding) but not applied: armap
//     packs sequences without padding and truncates by its own rules;
//   - a file whose unk_token is missing from the vocabulary is refused at load time (HF fails
//     only when an unknown char shows up);
//   - BPE dropout other than null/0 is refused (it makes encoding random);
//   - invalid UTF-8 input is first made valid (each bad sequence becomes U+FFFD);
//   - Offsets are byte offsets (CharOffsets gives the char offsets Python reports).
//
// Not supported (refused at load with a message naming the section): the Precompiled
// (SentencePiece charsmap) normalizer and the UnicodeScripts/FixedLength pre-tokenizers. The
// regexes of Split/Replace run on the hand-written GPT-2, Llama-3 and Qwen2 splitters when the
// pattern is one of those, else on regexp2 with Oniguruma's \w; regexp2 does not apply Unicode
// case folding beyond simple case pairs (HF's (?i) also matches U+017F for 's').
// The tests compare against HF on the shared fixtures and on 29 derived configurations
// (testdata/hf_cases.json, regenerated with testdata/gen_hf_cases.js).
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/armap/armap/engine/atomicfile"
)

// Tokenizer is a loaded tokenizer.json.
type Tokenizer struct {
	normalizer normalizer
	pre        preTokenizer
	model      model
	post       postProcessor
	dec        decoder
	added      *addedVocab

	// Truncation and Padding hold the file's sections, or nil; they are not applied.
	Truncation *TruncationParams
	Padding    *PaddingParams

	specials SpecialIDs
	source   []byte // the JSON this tokenizer was read from, written back by Save
	name     string // file name for errors
}

// Options tune loading.
type Options struct {
	// BPECacheSize bounds the per-tokenizer cache of BPE results (entries); 0 means the default
	// (10000, as HF), negative disables it.
	BPECacheSize int
}

// Load reads a tokenizer.json file.
func Load(path string) (*Tokenizer, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with options.
func LoadWith(path string, opts Options) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return fromJSON(b, path, opts)
}

// FromJSON parses the content of a tokenizer.json file.
func FromJSON(b []byte) (*Tokenizer, error) { return fromJSON(b, "tokenizer.json", Options{}) }

func fromJSON(b []byte, name string, opts Options) (*Tokenizer, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %v", name, err)
	}
	t := &Tokenizer{source: b, name: name}
	wrap := func(err error) error { return fmt.Errorf("%s: %w", name, err) }
	cache := opts.BPECacheSize
	switch {
	case cache == 0:
		cache = defaultCacheCapacity
	case cache < 0:
		cache = 0
	}
	var err error
	if t.normalizer, err = parseNormalizer(top["normalizer"], "normalizer"); err != nil {
		return nil, wrap(err)
	}
	if t.pre, err = parsePreTokenizer(top["pre_tokenizer"], "pre_tokenizer"); err != nil {
		return nil, wrap(err)
	}
	if _, ok := top["model"]; !ok {
		return nil, wrap(errNoModel)
	}
	if t.model, err = parseModel(top["model"], "model", cache); err != nil {
		return nil, wrap(err)
	}
	if t.post, err = parsePostProcessor(top["post_processor"], "post_processor"); err != nil {
		return nil, wrap(err)
	}
	if t.dec, err = parseDecoder(top["decoder"], "decoder"); err != nil {
		return nil, wrap(err)
	}
	var added []AddedToken
	if r, ok := top["added_tokens"]; ok && !isNull(r) {
		if err := json.Unmarshal(r, &added); err != nil {
			return nil, wrap(fmt.Errorf("added_tokens: %v", err))
		}
		for i, a := range added {
			if !utf8.ValidString(a.Content) {
				return nil, wrap(fmt.Errorf("added_tokens[%d].content: invalid UTF-8", i))
			}
		}
	}
	t.added = newAddedVocab(added, t.model, t.normalizer)
	if r, ok := top["truncation"]; ok && !isNull(r) {
		t.Truncation = &TruncationParams{}
		if err := json.Unmarshal(r, t.Truncation); err != nil {
			return nil, wrap(fmt.Errorf("truncation: %v", err))
		}
	}
	if r, ok := top["padding"]; ok && !isNull(r) {
		t.Padding = &PaddingParams{}
		if err := json.Unmarshal(r, t.Padding); err != nil {
			return nil, wrap(fmt.Errorf("padding: %v", err))
		}
	}
	t.specials = t.findSpecials()
	return t, nil
}

// Save writes the tokenizer.json this tokenizer was read from (or trained into), atomically.
func (t *Tokenizer) Save(path string) error {
	return atomicfile.WriteFile(path, t.source, 0o644)
}

// JSON returns the tokenizer.json content.
func (t *Tokenizer) JSON() []byte { return append([]byte(nil), t.source...) }

// Encode encodes one text; addSpecial applies the post-processor's special tokens.
func (t *Tokenizer) Encode(text string, addSpecial bool) Encoding {
	e := t.encodeSingle(text, 0)
	encs := []Encoding{e}
	return t.postProcess(encs, addSpecial)
}

// EncodePair encodes a pair of texts (type ids 0 then 1 unless the post-processor says
// otherwise).
func (t *Tokenizer) EncodePair(a, b string, addSpecial bool) Encoding {
	encs := []Encoding{t.encodeSingle(a, 0), t.encodeSingle(b, 1)}
	encs[1].setSequence(1)
	return t.postProcess(encs, addSpecial)
}

// EncodeIDs is Encode returning only the ids. It builds nothing else: the reward model reads ids
// alone, and the offsets, tokens and masks of an Encoding cost more than the ids themselves.
func (t *Tokenizer) EncodeIDs(text string, addSpecial bool) []int32 {
	pt, _ := t.tokenizeSingle(text)
	n := 0
	for i := range pt.pieces {
		n += len(pt.pieces[i].tokens)
	}
	ids := make([]int32, 0, n)
	for i := range pt.pieces {
		for _, tk := range pt.pieces[i].tokens {
			ids = append(ids, tk.id)
		}
	}
	if t.post != nil {
		ids = t.post.processIDs(ids, addSpecial)
	}
	return ids
}

func (t *Tokenizer) postProcess(encs []Encoding, addSpecial bool) Encoding {
	if t.post != nil {
		encs = t.post.process(encs, addSpecial)
	}
	return mergeEncodings(encs)
}

// tokenizeSingle normalizes, pre-tokenizes and tokenizes text (made valid UTF-8, returned):
// every piece has its tokens.
func (t *Tokenizer) tokenizeSingle(text string) (preTokenized, string) {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	pt := t.added.extractAndNormalize(t.normalizer, text)
	if t.pre != nil {
		t.pre.preTokenize(&pt)
	}
	buf := make([]token, 0, len(text)/3+4)
	for i := range pt.pieces {
		if !pt.pieces[i].hasTokens {
			from := len(buf)
			buf = t.model.tokenize(pt.pieces[i].ns.norm, buf)
			pt.pieces[i].tokens = buf[from:len(buf):len(buf)]
			pt.pieces[i].hasTokens = true
		}
	}
	return pt, text
}

func (t *Tokenizer) encodeSingle(text string, typeID int32) Encoding {
	pt, text := t.tokenizeSingle(text)
	e := Encoding{src: text}
	n := 0
	for i := range pt.pieces {
		n += len(pt.pieces[i].tokens)
	}
	e.IDs = make([]int32, 0, n)
	e.TypeIDs = make([]int32, 0, n)
	e.Tokens = make([]string, 0, n)
	e.Offsets = make([][2]int, 0, n)
	e.Special = make([]bool, 0, n)
	e.Sequence = make([]int8, 0, n)
	for i := range pt.pieces {
		pc := &pt.pieces[i]
		for _, tk := range pc.tokens {
			s, en, ok := pc.ns.normToOrig(tk.start, tk.end)
			off := [2]int{tk.start, tk.end}
			if ok {
				off = [2]int{s, en}
			}
			e.push(tk.id, tk.value, off, typeID, false, 0)
		}
	}
	return e
}

// Decode turns ids back into text. Unknown ids are skipped; with skipSpecial, so are special
// added tokens.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		s, ok := t.IDToToken(id)
		if !ok {
			continue
		}
		if skipSpecial && t.added.special[s] {
			continue
		}
		toks = append(toks, s)
	}
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.dec.decodeChain(toks), "")
}

// TokenToID looks a token up in the added tokens, then in the model vocabulary.
func (t *Tokenizer) TokenToID(tok string) (int32, bool) {
	if id, ok := t.added.byContent[tok]; ok {
		return id, true
	}
	return t.model.tokenToID(tok)
}

// IDToToken is the reverse of TokenToID.
func (t *Tokenizer) IDToToken(id int32) (string, bool) {
	if s, ok := t.added.text[id]; ok {
		return s, true
	}
	return t.model.idToToken(id)
}

// VocabSize is the number of distinct tokens, added tokens included (HF's
// get_vocab_size(with_added_tokens=True)).
func (t *Tokenizer) VocabSize() int {
	n := t.model.size()
	for c := range t.added.byContent {
		if _, ok := t.model.tokenToID(c); !ok {
			n++
		}
	}
	return n
}

// AddedTokens lists the added tokens with their ids.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added.tokens...) }

// IsSpecial reports whether id is a special added token.
func (t *Tokenizer) IsSpecial(id int32) bool {
	a, ok := t.added.byID[id]
	return ok && a.Special
}
