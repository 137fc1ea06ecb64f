package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// TruncationParams is tokenizer.json's "truncation" section. armap parses it but does not apply
// it: callers truncate themselves (the trainer keeps the instruction and the last steps).
type TruncationParams struct {
	Direction string `json:"direction"`
	MaxLength int    `json:"max_length"`
	Strategy  string `json:"strategy"`
	Stride    int    `json:"stride"`
}

// PaddingParams is tokenizer.json's "padding" section. armap packs sequences without padding,
// so it is parsed (PadID feeds SpecialIDs) but never applied.
type PaddingParams struct {
	Strategy        json.RawMessage `json:"strategy"`
	Direction       string          `json:"direction"`
	PadToMultipleOf *int            `json:"pad_to_multiple_of"`
	PadID           int32           `json:"pad_id"`
	PadTypeID       int32           `json:"pad_type_id"`
	PadToken        string          `json:"pad_token"`
}

// obj is one JSON object of the config with the path that names it in errors.
type obj struct {
	m    map[string]json.RawMessage
	path string
}

func isNull(r json.RawMessage) bool {
	t := bytes.TrimSpace(r)
	return len(t) == 0 || string(t) == "null"
}

func parseObj(r json.RawMessage, path string) (obj, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r, &m); err != nil {
		return obj{}, fmt.Errorf("%s: expected an object: %v", path, err)
	}
	return obj{m: m, path: path}, nil
}

func (o obj) sub(key string) string { return o.path + "." + key }

func (o obj) has(key string) bool { r, ok := o.m[key]; return ok && !isNull(r) }

func (o obj) typ() string {
	var s string
	if r, ok := o.m["type"]; ok {
		_ = json.Unmarshal(r, &s)
	}
	return s
}

// field decodes o[key] as a T: def when the key is absent or null, an error naming the key and
// what was expected (want) when it holds something else. present says whether a value was there.
func field[T any](o obj, key string, def T, want string) (v T, present bool, err error) {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return def, false, nil
	}
	if err := json.Unmarshal(r, &v); err != nil {
		var zero T
		return zero, false, fmt.Errorf("%s: expected %s", o.sub(key), want)
	}
	return v, true, nil
}

func (o obj) str(key, def string) (string, error) {
	s, _, err := field(o, key, def, "a string")
	return s, err
}

func (o obj) optStr(key string) (string, bool, error) {
	return field(o, key, "", "a string")
}

func (o obj) boolean(key string, def bool) (bool, error) {
	b, _, err := field(o, key, def, "true or false")
	return b, err
}

func (o obj) integer(key string, def int) (int, error) {
	n, _, err := field(o, key, def, "an integer")
	return n, err
}

func (o obj) char(key string, def rune) (rune, error) {
	s, err := o.str(key, string(def))
	if err != nil {
		return 0, err
	}
	if utf8.RuneCountInString(s) != 1 {
		return 0, fmt.Errorf("%s: expected a single character, got %q", o.sub(key), s)
	}
	r, _ := utf8.DecodeRuneInString(s)
	return r, nil
}

func (o obj) list(key string) ([]json.RawMessage, error) {
	l, _, err := field[[]json.RawMessage](o, key, nil, "a list")
	return l, err
}

func unsupported(path, what string) error {
	return fmt.Errorf("%s: %s is not supported by armap's tokenizer", path, what)
}

// patternFor builds a Split/Replace pattern from {"String": s} or {"Regex": r}.
func patternFor(r json.RawMessage, path string) (pattern, *regexSearcher, error) {
	o, err := parseObj(r, path)
	if err != nil {
		return nil, nil, err
	}
	if s, ok, err := o.optStr("String"); err != nil {
		return nil, nil, err
	} else if ok {
		if utf8.RuneCountInString(s) == 1 {
			c, _ := utf8.DecodeRuneInString(s)
			return runePredicate(func(r rune) bool { return r == c }), nil, nil
		}
		return searchPattern{literalSearcher{s}}, nil, nil
	}
	if s, ok, err := o.optStr("Regex"); err != nil {
		return nil, nil, err
	} else if ok {
		re, err := compileRegex(s)
		if err != nil {
			return nil, nil, fmt.Errorf("%s.Regex: %w", path, err)
		}
		if h, ok := handSplitterFor(s); ok {
			return h, re, nil
		}
		return runeRegexPattern{re}, re, nil
	}
	return nil, nil, fmt.Errorf("%s: expected {\"String\": ...} or {\"Regex\": ...}", path)
}

func parseBehavior(o obj, key string, def splitBehavior) (splitBehavior, error) {
	s, err := o.str(key, "")
	if err != nil {
		return 0, err
	}
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "removed":
		return behaviorRemoved, nil
	case "isolated":
		return behaviorIsolated, nil
	case "mergedwithprevious", "merged_with_previous":
		return behaviorMergedWithPrevious, nil
	case "mergedwithnext", "merged_with_next":
		return behaviorMergedWithNext, nil
	case "contiguous":
		return behaviorContiguous, nil
	}
	return 0, fmt.Errorf("%s: unknown split behavior %q", o.sub(key), s)
}

func parseNormalizer(r json.RawMessage, path string) (normalizer, error) {
	if isNull(r) {
		return nil, nil
	}
	o, err := parseObj(r, path)
	if err != nil {
		return nil, err
	}
	switch t := o.typ(); t {
	case "BertNormalizer":
		var b bertNormalizer
		if b.cleanText, err = o.boolean("clean_text", true); err != nil {
			return nil, err
		}
		if b.handleChinese, err = o.boolean("handle_chinese_chars", true); err != nil {
			return nil, err
		}
		if b.lowercase, err = o.boolean("lowercase", true); err != nil {
			return nil, err
		}
		if o.has("strip_accents") {
			v, err := o.boolean("strip_accents", false)
			if err != nil {
				return nil, err
			}
			b.stripAccents = &v
		}
		return b, nil
	case "NFC":
		return unicodeNormalizer{compose: true}, nil
	case "NFD":
		return unicodeNormalizer{}, nil
	case "NFKC":
		return unicodeNormalizer{compose: true, compat: true}, nil
	case "NFKD":
		return unicodeNormalizer{compat: true}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "Prepend":
		s, err := o.str("prepend", "")
		return prependNormalizer{s}, err
	case "Replace":
		return parseReplaceNormalizer(o)
	case "Strip":
		var s stripNormalizer
		if s.left, err = o.boolean("strip_left", true); err != nil {
			return nil, err
		}
		if s.right, err = o.boolean("strip_right", true); err != nil {
			return nil, err
		}
		return s, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "Nmt":
		return nmtNormalizer{}, nil
	case "ByteLevel":
		return byteLevelNormalizer{}, nil
	case "Sequence":
		l, err := o.list("normalizers")
		if err != nil {
			return nil, err
		}
		var seq normalizerSeq
		for i, x := range l {
			n, err := parseNormalizer(x, fmt.Sprintf("%s.normalizers[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "Precompiled":
		return nil, unsupported(path, "the Precompiled (SentencePiece charsmap) normalizer")
	case "":
		return nil, fmt.Errorf("%s: missing \"type\"", path)
	default:
		return nil, unsupported(path, fmt.Sprintf("normalizer type %q", t))
	}
}

func parseReplaceNormalizer(o obj) (normalizer, error) {
	pr, ok := o.m["pattern"]
	if !ok {
		return nil, fmt.Errorf("%s: missing", o.sub("pattern"))
	}
	p, re, err := patternFor(pr, o.sub("pattern"))
	if err != nil {
		return nil, err
	}
	content, err := o.str("content", "")
	if err != nil {
		return nil, err
	}
	return replaceNormalizer{pat: p, content: content, re: re}, nil
}

func parsePrependScheme(o obj) (prependScheme, error) {
	s, ok, err := o.optStr("prepend_scheme")
	if err != nil {
		return 0, err
	}
	scheme := prependAlways
	if ok {
		switch strings.ToLower(s) {
		case "always":
		case "first":
			scheme = prependFirst
		case "never":
			scheme = prependNever
		default:
			return 0, fmt.Errorf("%s: unknown prepend_scheme %q", o.sub("prepend_scheme"), s)
		}
	}
	// add_prefix_space predates prepend_scheme; HF only accepts false together with "never".
	if o.has("add_prefix_space") {
		add, err := o.boolean("add_prefix_space", true)
		if err != nil {
			return 0, err
		}
		if !add && scheme != prependNever {
			return 0, fmt.Errorf("%s: add_prefix_space false does not match prepend_scheme (needs \"never\")", o.path)
		}
	}
	return scheme, nil
}

func parsePreTokenizer(r json.RawMessage, path string) (preTokenizer, error) {
	if isNull(r) {
		return nil, nil
	}
	o, err := parseObj(r, path)
	if err != nil {
		return nil, err
	}
	switch t := o.typ(); t {
	case "ByteLevel":
		var b byteLevelPre
		if b.addPrefixSpace, err = o.boolean("add_prefix_space", true); err != nil {
			return nil, err
		}
		if b.trimOffsets, err = o.boolean("trim_offsets", true); err != nil {
			return nil, err
		}
		if b.useRegex, err = o.boolean("use_regex", true); err != nil {
			return nil, err
		}
		return b, nil
	case "Split":
		pr, ok := o.m["pattern"]
		if !ok {
			return nil, fmt.Errorf("%s: missing", o.sub("pattern"))
		}
		p, _, err := patternFor(pr, o.sub("pattern"))
		if err != nil {
			return nil, err
		}
		s := splitPre{pat: p}
		if s.behavior, err = parseBehavior(o, "behavior", behaviorRemoved); err != nil {
			return nil, err
		}
		if s.invert, err = o.boolean("invert", false); err != nil {
			return nil, err
		}
		return s, nil
	case "BertPreTokenizer":
		return bertPre{}, nil
	case "Whitespace":
		return whitespacePre{}, nil
	case "WhitespaceSplit":
		return whitespaceSplitPre{}, nil
	case "CharDelimiterSplit":
		c, err := o.char("delimiter", ' ')
		return charDelimiterPre{c}, err
	case "Metaspace":
		var m metaspacePre
		if m.replacement, err = o.char("replacement", '▁'); err != nil {
			return nil, err
		}
		if m.scheme, err = parsePrependScheme(o); err != nil {
			return nil, err
		}
		if m.split, err = o.boolean("split", true); err != nil {
			return nil, err
		}
		return m, nil
	case "Digits":
		ind, err := o.boolean("individual_digits", false)
		return digitsPre{ind}, err
	case "Punctuation":
		b, err := parseBehavior(o, "behavior", behaviorIsolated)
		return punctuationPre{b}, err
	case "Sequence":
		l, err := o.list("pretokenizers")
		if err != nil {
			return nil, err
		}
		var seq preTokenizerSeq
		for i, x := range l {
			p, err := parsePreTokenizer(x, fmt.Sprintf("%s.pretokenizers[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "":
		return nil, fmt.Errorf("%s: missing \"type\"", path)
	default:
		return nil, unsupported(path, fmt.Sprintf("pre-tokenizer type %q", t))
	}
}

func parseVocabMap(o obj) (map[string]int32, error) {
	r, ok := o.m["vocab"]
	if !ok || isNull(r) {
		return map[string]int32{}, nil
	}
	var v map[string]int32
	if err := json.Unmarshal(r, &v); err != nil {
		return nil, fmt.Errorf("%s: expected an object of token -> id: %v", o.sub("vocab"), err)
	}
	return v, nil
}

// parseMerges accepts both formats HF writes: "a b" strings (before tokenizers 0.20) and
// ["a", "b"] pairs.
func parseMerges(o obj) ([][2]string, error) {
	l, err := o.list("merges")
	if err != nil {
		return nil, err
	}
	out := make([][2]string, len(l))
	for i, x := range l {
		x = bytes.TrimSpace(x)
		if len(x) > 0 && x[0] == '"' {
			var s string
			if err := json.Unmarshal(x, &s); err != nil {
				return nil, fmt.Errorf("%s[%d]: %v", o.sub("merges"), i, err)
			}
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("%s[%d]: %q is not two tokens separated by one space", o.sub("merges"), i, s)
			}
			out[i] = [2]string{a, b}
			continue
		}
		var p []string
		if err := json.Unmarshal(x, &p); err != nil || len(p) != 2 {
			return nil, fmt.Errorf("%s[%d]: expected a pair of tokens", o.sub("merges"), i)
		}
		out[i] = [2]string{p[0], p[1]}
	}
	return out, nil
}

func parseModel(r json.RawMessage, path string, bpeCache int) (model, error) {
	if isNull(r) {
		return nil, fmt.Errorf("%s: missing", path)
	}
	o, err := parseObj(r, path)
	if err != nil {
		return nil, err
	}
	t := o.typ()
	if t == "" {
		// Untagged files: HF tries the model types in turn.
		switch {
		case o.has("merges"):
			t = "BPE"
		case o.has("max_input_chars_per_word"):
			t = "WordPiece"
		case o.has("unk_id"):
			t = "Unigram"
		default:
			t = "WordLevel"
		}
	}
	switch t {
	case "BPE":
		if o.has("dropout") {
			var d float64
			if err := json.Unmarshal(o.m["dropout"], &d); err != nil {
				return nil, fmt.Errorf("%s: expected a number or null", o.sub("dropout"))
			}
			if d != 0 {
				return nil, fmt.Errorf("%s: BPE dropout %v makes encoding random; armap needs it null or 0", o.sub("dropout"), d)
			}
		}
		vocab, err := parseVocabMap(o)
		if err != nil {
			return nil, err
		}
		merges, err := parseMerges(o)
		if err != nil {
			return nil, err
		}
		opts := bpeOptions{cacheCapacity: bpeCache}
		if opts.unk, opts.hasUnk, err = o.optStr("unk_token"); err != nil {
			return nil, err
		}
		if opts.prefix, err = o.str("continuing_subword_prefix", ""); err != nil {
			return nil, err
		}
		if opts.suffix, err = o.str("end_of_word_suffix", ""); err != nil {
			return nil, err
		}
		if opts.fuseUnk, err = o.boolean("fuse_unk", false); err != nil {
			return nil, err
		}
		if opts.byteFallback, err = o.boolean("byte_fallback", false); err != nil {
			return nil, err
		}
		if opts.ignoreMerges, err = o.boolean("ignore_merges", false); err != nil {
			return nil, err
		}
		m, err := newBPE(vocab, merges, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, nil
	case "WordPiece":
		vocab, err := parseVocabMap(o)
		if err != nil {
			return nil, err
		}
		m := &wordPieceModel{vocabulary: newVocabulary(vocab)}
		if m.unk, err = o.str("unk_token", "[UNK]"); err != nil {
			return nil, err
		}
		if m.prefix, err = o.str("continuing_subword_prefix", "##"); err != nil {
			return nil, err
		}
		if m.maxInputChar, err = o.integer("max_input_chars_per_word", 100); err != nil {
			return nil, err
		}
		id, ok := vocab[m.unk]
		if !ok {
			return nil, fmt.Errorf("%s: unk_token %q is not in vocab", o.sub("unk_token"), m.unk)
		}
		m.unkID = id
		return m, nil
	case "WordLevel":
		vocab, err := parseVocabMap(o)
		if err != nil {
			return nil, err
		}
		m := &wordLevelModel{vocabulary: newVocabulary(vocab)}
		if m.unk, err = o.str("unk_token", "<unk>"); err != nil {
			return nil, err
		}
		id, ok := vocab[m.unk]
		if !ok {
			return nil, fmt.Errorf("%s: unk_token %q is not in vocab", o.sub("unk_token"), m.unk)
		}
		m.unkID = id
		return m, nil
	case "Unigram":
		return parseUnigram(o)
	default:
		return nil, unsupported(path, fmt.Sprintf("model type %q", t))
	}
}

// tokenWithID reads the ["token", id] pairs of BertProcessing/RobertaProcessing.
func tokenWithID(o obj, key, def string, defID int32) (string, int32, error) {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return def, defID, nil
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(r, &pair); err != nil || len(pair) != 2 {
		return "", 0, fmt.Errorf("%s: expected [token, id]", o.sub(key))
	}
	var s string
	var id int32
	if json.Unmarshal(pair[0], &s) != nil || json.Unmarshal(pair[1], &id) != nil {
		return "", 0, fmt.Errorf("%s: expected [token, id]", o.sub(key))
	}
	return s, id, nil
}

func parsePostProcessor(r json.RawMessage, path string) (postProcessor, error) {
	if isNull(r) {
		return nil, nil
	}
	o, err := parseObj(r, path)
	if err != nil {
		return nil, err
	}
	switch t := o.typ(); t {
	case "ByteLevel":
		var b byteLevelProcessor
		if b.trimOffsets, err = o.boolean("trim_offsets", true); err != nil {
			return nil, err
		}
		if b.addPrefixSpace, err = o.boolean("add_prefix_space", true); err != nil {
			return nil, err
		}
		return b, nil
	case "BertProcessing":
		var b bertProcessor
		if b.sep, b.sepID, err = tokenWithID(o, "sep", "[SEP]", 102); err != nil {
			return nil, err
		}
		if b.cls, b.clsID, err = tokenWithID(o, "cls", "[CLS]", 101); err != nil {
			return nil, err
		}
		return b, nil
	case "RobertaProcessing":
		var rp robertaProcessor
		if rp.sep, rp.sepID, err = tokenWithID(o, "sep", "</s>", 2); err != nil {
			return nil, err
		}
		if rp.cls, rp.clsID, err = tokenWithID(o, "cls", "<s>", 0); err != nil {
			return nil, err
		}
		if rp.trimOffsets, err = o.boolean("trim_offsets", true); err != nil {
			return nil, err
		}
		if rp.addPrefixSpace, err = o.boolean("add_prefix_space", true); err != nil {
			return nil, err
		}
		return rp, nil
	case "TemplateProcessing":
		return parseTemplate(o)
	case "Sequence":
		l, err := o.list("processors")
		if err != nil {
			return nil, err
		}
		var seq processorSeq
		for i, x := range l {
			p, err := parsePostProcessor(x, fmt.Sprintf("%s.processors[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "":
		return nil, fmt.Errorf("%s: missing \"type\"", path)
	default:
		return nil, unsupported(path, fmt.Sprintf("post-processor type %q", t))
	}
}

func parseTemplatePieces(r json.RawMessage, path string) ([]templatePiece, error) {
	if isNull(r) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return parseTemplateString(s, path)
	}
	var l []json.RawMessage
	if err := json.Unmarshal(r, &l); err != nil {
		return nil, fmt.Errorf("%s: expected a template list or string", path)
	}
	out := make([]templatePiece, 0, len(l))
	for i, x := range l {
		var p struct {
			Sequence *struct {
				ID     string `json:"id"`
				TypeID int32  `json:"type_id"`
			} `json:"Sequence"`
			SpecialToken *struct {
				ID     string `json:"id"`
				TypeID int32  `json:"type_id"`
			} `json:"SpecialToken"`
		}
		if err := json.Unmarshal(x, &p); err != nil {
			return nil, fmt.Errorf("%s[%d]: %v", path, i, err)
		}
		switch {
		case p.Sequence != nil:
			if p.Sequence.ID != "A" && p.Sequence.ID != "B" {
				return nil, fmt.Errorf("%s[%d].Sequence.id: expected \"A\" or \"B\", got %q", path, i, p.Sequence.ID)
			}
			out = append(out, templatePiece{seqB: p.Sequence.ID == "B", typeID: p.Sequence.TypeID})
		case p.SpecialToken != nil:
			out = append(out, templatePiece{isSpec: true, special: p.SpecialToken.ID, typeID: p.SpecialToken.TypeID})
		default:
			return nil, fmt.Errorf("%s[%d]: expected {\"Sequence\": ...} or {\"SpecialToken\": ...}", path, i)
		}
	}
	return out, nil
}

// parseTemplateString reads the "[CLS] $A [SEP] $B:1 [SEP]:1" form.
func parseTemplateString(s, path string) ([]templatePiece, error) {
	var out []templatePiece
	for _, f := range strings.Fields(s) {
		name, typ, hasType := strings.Cut(f, ":")
		var tid int32
		if hasType {
			if _, err := fmt.Sscanf(typ, "%d", &tid); err != nil {
				return nil, fmt.Errorf("%s: bad type id in %q", path, f)
			}
		}
		if strings.HasPrefix(name, "$") {
			switch name {
			case "$", "$A", "$a", "$0":
				out = append(out, templatePiece{typeID: tid})
			case "$B", "$b", "$1":
				if !hasType {
					tid = 0
				}
				out = append(out, templatePiece{seqB: true, typeID: tid})
			default:
				return nil, fmt.Errorf("%s: unknown sequence %q", path, f)
			}
			continue
		}
		out = append(out, templatePiece{isSpec: true, special: name, typeID: tid})
	}
	return out, nil
}

func parseTemplate(o obj) (postProcessor, error) {
	t := templateProcessor{specials: map[string]specialTok{}}
	var err error
	if t.single, err = parseTemplatePieces(o.m["single"], o.sub("single")); err != nil {
		return nil, err
	}
	if t.pair, err = parseTemplatePieces(o.m["pair"], o.sub("pair")); err != nil {
		return nil, err
	}
	if r, ok := o.m["special_tokens"]; ok && !isNull(r) {
		type entry struct {
			ID     string   `json:"id"`
			IDs    []int32  `json:"ids"`
			Tokens []string `json:"tokens"`
		}
		var m map[string]entry
		if err := json.Unmarshal(r, &m); err != nil {
			var l []entry
			if err2 := json.Unmarshal(r, &l); err2 != nil {
				return nil, fmt.Errorf("%s: %v", o.sub("special_tokens"), err)
			}
			m = map[string]entry{}
			for _, e := range l {
				m[e.ID] = e
			}
		}
		for k, e := range m {
			if len(e.IDs) != len(e.Tokens) {
				return nil, fmt.Errorf("%s.%s: ids and tokens differ in length", o.sub("special_tokens"), k)
			}
			t.specials[k] = specialTok{ids: e.IDs, tokens: e.Tokens}
		}
	}
	for _, tpl := range [][]templatePiece{t.single, t.pair} {
		for _, p := range tpl {
			if _, ok := t.specials[p.special]; p.isSpec && !ok {
				return nil, fmt.Errorf("%s: template uses %q, which special_tokens does not define", o.path, p.special)
			}
		}
	}
	return t, nil
}

func parseDecoder(r json.RawMessage, path string) (decoder, error) {
	if isNull(r) {
		return nil, nil
	}
	o, err := parseObj(r, path)
	if err != nil {
		return nil, err
	}
	switch t := o.typ(); t {
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "WordPiece":
		var w wordPieceDecoder
		if w.prefix, err = o.str("prefix", "##"); err != nil {
			return nil, err
		}
		if w.cleanup, err = o.boolean("cleanup", true); err != nil {
			return nil, err
		}
		return w, nil
	case "Metaspace":
		var m metaspaceDecoder
		if m.replacement, err = o.char("replacement", '▁'); err != nil {
			return nil, err
		}
		if m.scheme, err = parsePrependScheme(o); err != nil {
			return nil, err
		}
		return m, nil
	case "BPEDecoder":
		s, err := o.str("suffix", "</w>")
		return bpeDecoder{s}, err
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Replace":
		pr, ok := o.m["pattern"]
		if !ok {
			return nil, fmt.Errorf("%s: missing", o.sub("pattern"))
		}
		p, re, err := patternFor(pr, o.sub("pattern"))
		if err != nil {
			return nil, err
		}
		content, err := o.str("content", "")
		return replaceDecoder{pat: p, content: content, re: re}, err
	case "Strip":
		var s stripDecoder
		if s.content, err = o.char("content", ' '); err != nil {
			return nil, err
		}
		if s.start, err = o.integer("start", 0); err != nil {
			return nil, err
		}
		if s.stop, err = o.integer("stop", 0); err != nil {
			return nil, err
		}
		return s, nil
	case "CTC":
		var c ctcDecoder
		if c.pad, err = o.str("pad_token", "<pad>"); err != nil {
			return nil, err
		}
		if c.delim, err = o.str("word_delimiter_token", "|"); err != nil {
			return nil, err
		}
		if c.cleanup, err = o.boolean("cleanup", true); err != nil {
			return nil, err
		}
		return c, nil
	case "Sequence":
		l, err := o.list("decoders")
		if err != nil {
			return nil, err
		}
		var seq decoderSeq
		for i, x := range l {
			d, err := parseDecoder(x, fmt.Sprintf("%s.decoders[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if d != nil {
				seq = append(seq, d)
			}
		}
		return seq, nil
	case "":
		return nil, fmt.Errorf("%s: missing \"type\"", path)
	default:
		return nil, unsupported(path, fmt.Sprintf("decoder type %q", t))
	}
}

var errNoModel = errors.New("no \"model\" section")
