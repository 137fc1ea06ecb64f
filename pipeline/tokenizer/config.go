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

// optReader reads several options of one object in a row. It keeps the first error and skips
// every read after it, returning zero values, so a run of reads needs one check at its end and
// still reports the error that a check after each read would. Check err before acting on a
// value read (a lookup, a branch): after a failure that value is only a zero.
type optReader struct {
	o   obj
	err error
}

func (o obj) reader() *optReader { return &optReader{o: o} }

// read runs get unless an earlier read failed.
func read[T any](r *optReader, get func(obj) (T, error)) (v T) {
	if r.err == nil {
		v, r.err = get(r.o)
	}
	return v
}

func (r *optReader) str(key, def string) string {
	return read(r, func(o obj) (string, error) { return o.str(key, def) })
}

func (r *optReader) boolean(key string, def bool) bool {
	return read(r, func(o obj) (bool, error) { return o.boolean(key, def) })
}

func (r *optReader) integer(key string, def int) int {
	return read(r, func(o obj) (int, error) { return o.integer(key, def) })
}

func (r *optReader) char(key string, def rune) rune {
	return read(r, func(o obj) (rune, error) { return o.char(key, def) })
}

func (r *optReader) behavior(key string, def splitBehavior) splitBehavior {
	return read(r, func(o obj) (splitBehavior, error) { return parseBehavior(o, key, def) })
}

func (r *optReader) prependScheme() prependScheme { return read(r, parsePrependScheme) }

func (r *optReader) optStr(key string) (s string, ok bool) {
	if r.err == nil {
		s, ok, r.err = r.o.optStr(key)
	}
	return s, ok
}

func (r *optReader) tokenWithID(key, def string, defID int32) (s string, id int32) {
	if r.err == nil {
		s, id, r.err = tokenWithID(r.o, key, def, defID)
	}
	return s, id
}

// parseSeq parses the sections listed under key in a Sequence (normalizers, pre-tokenizers,
// post-processors, decoders) with parse, each named by its path, and drops the null ones.
func parseSeq[T comparable](o obj, key, path string, parse func(json.RawMessage, string) (T, error)) ([]T, error) {
	l, err := o.list(key)
	if err != nil {
		return nil, err
	}
	var seq []T
	var none T
	for i, x := range l {
		v, err := parse(x, fmt.Sprintf("%s.%s[%d]", path, key, i))
		if err != nil {
			return nil, err
		}
		if v != none {
			seq = append(seq, v)
		}
	}
	return seq, nil
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
		f := o.reader()
		b := bertNormalizer{
			cleanText:     f.boolean("clean_text", true),
			handleChinese: f.boolean("handle_chinese_chars", true),
			lowercase:     f.boolean("lowercase", true),
		}
		if o.has("strip_accents") {
			v := f.boolean("strip_accents", false)
			b.stripAccents = &v
		}
		if f.err != nil {
			return nil, f.err
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
		f := o.reader()
		s := stripNormalizer{left: f.boolean("strip_left", true), right: f.boolean("strip_right", true)}
		if f.err != nil {
			return nil, f.err
		}
		return s, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "Nmt":
		return nmtNormalizer{}, nil
	case "ByteLevel":
		return byteLevelNormalizer{}, nil
	case "Sequence":
		seq, err := parseSeq(o, "normalizers", path, parseNormalizer)
		if err != nil {
			return nil, err
		}
		return normalizerSeq(seq), nil
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
		f := o.reader()
		b := byteLevelPre{
			addPrefixSpace: f.boolean("add_prefix_space", true),
			trimOffsets:    f.boolean("trim_offsets", true),
			useRegex:       f.boolean("use_regex", true),
		}
		if f.err != nil {
			return nil, f.err
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
		f := o.reader()
		s := splitPre{pat: p, behavior: f.behavior("behavior", behaviorRemoved), invert: f.boolean("invert", false)}
		if f.err != nil {
			return nil, f.err
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
		f := o.reader()
		m := metaspacePre{replacement: f.char("replacement", '▁'), scheme: f.prependScheme(), split: f.boolean("split", true)}
		if f.err != nil {
			return nil, f.err
		}
		return m, nil
	case "Digits":
		ind, err := o.boolean("individual_digits", false)
		return digitsPre{ind}, err
	case "Punctuation":
		b, err := parseBehavior(o, "behavior", behaviorIsolated)
		return punctuationPre{b}, err
	case "Sequence":
		seq, err := parseSeq(o, "pretokenizers", path, parsePreTokenizer)
		if err != nil {
			return nil, err
		}
		return preTokenizerSeq(seq), nil
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
		f := o.reader()
		opts := bpeOptions{cacheCapacity: bpeCache}
		opts.unk, opts.hasUnk = f.optStr("unk_token")
		opts.prefix = f.str("continuing_subword_prefix", "")
		opts.suffix = f.str("end_of_word_suffix", "")
		opts.fuseUnk = f.boolean("fuse_unk", false)
		opts.byteFallback = f.boolean("byte_fallback", false)
		opts.ignoreMerges = f.boolean("ignore_merges", false)
		if f.err != nil {
			return nil, f.err
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
		f := o.reader()
		m := &wordPieceModel{
			vocabulary:   newVocabulary(vocab),
			unk:          f.str("unk_token", "[UNK]"),
			prefix:       f.str("continuing_subword_prefix", "##"),
			maxInputChar: f.integer("max_input_chars_per_word", 100),
		}
		// The unk lookup below would fail on the zero unk left by a failed read.
		if f.err != nil {
			return nil, f.err
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
		f := o.reader()
		b := byteLevelProcessor{trimOffsets: f.boolean("trim_offsets", true), addPrefixSpace: f.boolean("add_prefix_space", true)}
		if f.err != nil {
			return nil, f.err
		}
		return b, nil
	case "BertProcessing":
		f := o.reader()
		var b bertProcessor
		b.sep, b.sepID = f.tokenWithID("sep", "[SEP]", 102)
		b.cls, b.clsID = f.tokenWithID("cls", "[CLS]", 101)
		if f.err != nil {
			return nil, f.err
		}
		return b, nil
	case "RobertaProcessing":
		f := o.reader()
		var rp robertaProcessor
		rp.sep, rp.sepID = f.tokenWithID("sep", "</s>", 2)
		rp.cls, rp.clsID = f.tokenWithID("cls", "<s>", 0)
		rp.trimOffsets = f.boolean("trim_offsets", true)
		rp.addPrefixSpace = f.boolean("add_prefix_space", true)
		if f.err != nil {
			return nil, f.err
		}
		return rp, nil
	case "TemplateProcessing":
		return parseTemplate(o)
	case "Sequence":
		seq, err := parseSeq(o, "processors", path, parsePostProcessor)
		if err != nil {
			return nil, err
		}
		return processorSeq(seq), nil
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
		f := o.reader()
		w := wordPieceDecoder{prefix: f.str("prefix", "##"), cleanup: f.boolean("cleanup", true)}
		if f.err != nil {
			return nil, f.err
		}
		return w, nil
	case "Metaspace":
		f := o.reader()
		m := metaspaceDecoder{replacement: f.char("replacement", '▁'), scheme: f.prependScheme()}
		if f.err != nil {
			return nil, f.err
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
		f := o.reader()
		s := stripDecoder{content: f.char("content", ' '), start: f.integer("start", 0), stop: f.integer("stop", 0)}
		if f.err != nil {
			return nil, f.err
		}
		return s, nil
	case "CTC":
		f := o.reader()
		c := ctcDecoder{
			pad:     f.str("pad_token", "<pad>"),
			delim:   f.str("word_delimiter_token", "|"),
			cleanup: f.boolean("cleanup", true),
		}
		if f.err != nil {
			return nil, f.err
		}
		return c, nil
	case "Sequence":
		seq, err := parseSeq(o, "decoders", path, parseDecoder)
		if err != nil {
			return nil, err
		}
		return decoderSeq(seq), nil
	case "":
		return nil, fmt.Errorf("%s: missing \"type\"", path)
	default:
		return nil, unsupported(path, fmt.Sprintf("decoder type %q", t))
	}
}

var errNoModel = errors.New("no \"model\" section")
