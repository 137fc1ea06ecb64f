package tokenizer

import (
	"reflect"
	"strings"
	"testing"
)

// configWith builds a minimal valid tokenizer.json (a tiny BPE model) with extra top-level
// sections, so each case differs from a loadable file only in the section under test.
func configWith(sections ...string) string {
	parts := append([]string{`"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}`}, sections...)
	return "{" + strings.Join(parts, ", ") + "}"
}

// TestConfigFieldErrors pins the exact message for badly typed or invalid options, above all
// which error wins when a section holds several bad fields: always the first one read, in the
// order the section is parsed.
func TestConfigFieldErrors(t *testing.T) {
	norm := func(body string) string { return configWith(`"normalizer": ` + body) }
	pre := func(body string) string { return configWith(`"pre_tokenizer": ` + body) }
	post := func(body string) string { return configWith(`"post_processor": ` + body) }
	dec := func(body string) string { return configWith(`"decoder": ` + body) }
	model := func(body string) string { return `{"model": ` + body + `}` }
	const bpeVocab = `"vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]`
	const wpVocab = `"vocab": {"[UNK]": 0, "a": 1}`
	cases := []struct{ name, json, want string }{
		// normalizers
		{"bert first bool", norm(`{"type": "BertNormalizer", "clean_text": "yes"}`),
			"normalizer.clean_text: expected true or false"},
		{"bert later bool", norm(`{"type": "BertNormalizer", "clean_text": true, "lowercase": 1}`),
			"normalizer.lowercase: expected true or false"},
		{"bert two bad", norm(`{"type": "BertNormalizer", "lowercase": 0, "handle_chinese_chars": "x"}`),
			"normalizer.handle_chinese_chars: expected true or false"},
		{"bert lowercase before strip_accents", norm(`{"type": "BertNormalizer", "strip_accents": "x", "lowercase": []}`),
			"normalizer.lowercase: expected true or false"},
		{"bert strip_accents", norm(`{"type": "BertNormalizer", "strip_accents": "x"}`),
			"normalizer.strip_accents: expected true or false"},
		{"strip two bad", norm(`{"type": "Strip", "strip_right": "no", "strip_left": 0}`),
			"normalizer.strip_left: expected true or false"},
		{"strip right", norm(`{"type": "Strip", "strip_left": false, "strip_right": "no"}`),
			"normalizer.strip_right: expected true or false"},
		{"sequence path", norm(`{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Strip", "strip_right": 1}]}`),
			"normalizer.normalizers[1].strip_right: expected true or false"},
		{"replace content", norm(`{"type": "Replace", "pattern": {"String": "a"}, "content": 1}`),
			"normalizer.content: expected a string"},
		// pre-tokenizers
		{"bytelevel two bad", pre(`{"type": "ByteLevel", "use_regex": 3, "add_prefix_space": "x"}`),
			"pre_tokenizer.add_prefix_space: expected true or false"},
		{"bytelevel middle", pre(`{"type": "ByteLevel", "trim_offsets": null, "use_regex": "x"}`),
			"pre_tokenizer.use_regex: expected true or false"},
		{"split unknown behavior then bad invert", pre(`{"type": "Split", "pattern": {"String": "x"}, "behavior": "Sideways", "invert": "x"}`),
			`pre_tokenizer.behavior: unknown split behavior "Sideways"`},
		{"split behavior type then bad invert", pre(`{"type": "Split", "pattern": {"String": "x"}, "behavior": 5, "invert": "x"}`),
			"pre_tokenizer.behavior: expected a string"},
		{"split invert", pre(`{"type": "Split", "pattern": {"String": "x"}, "behavior": "Isolated", "invert": "x"}`),
			"pre_tokenizer.invert: expected true or false"},
		{"split pattern before invert", pre(`{"type": "Split", "pattern": {"Regex": 1}, "invert": "x"}`),
			"pre_tokenizer.pattern.Regex: expected a string"},
		{"metaspace replacement length then bad split", pre(`{"type": "Metaspace", "replacement": "ab", "split": "x"}`),
			`pre_tokenizer.replacement: expected a single character, got "ab"`},
		{"metaspace replacement type", pre(`{"type": "Metaspace", "replacement": 1, "split": "x"}`),
			"pre_tokenizer.replacement: expected a string"},
		{"metaspace scheme then bad split", pre(`{"type": "Metaspace", "prepend_scheme": "sometimes", "split": "x"}`),
			`pre_tokenizer.prepend_scheme: unknown prepend_scheme "sometimes"`},
		{"metaspace prefix mismatch then bad split", pre(`{"type": "Metaspace", "add_prefix_space": false, "split": "x"}`),
			`pre_tokenizer: add_prefix_space false does not match prepend_scheme (needs "never")`},
		{"metaspace add_prefix_space type", pre(`{"type": "Metaspace", "add_prefix_space": "x", "split": "x"}`),
			"pre_tokenizer.add_prefix_space: expected true or false"},
		{"metaspace split", pre(`{"type": "Metaspace", "prepend_scheme": "never", "add_prefix_space": false, "split": "x"}`),
			"pre_tokenizer.split: expected true or false"},
		{"digits", pre(`{"type": "Digits", "individual_digits": "x"}`),
			"pre_tokenizer.individual_digits: expected true or false"},
		// models
		{"bpe unk type then bad fuse_unk", model(`{"type": "BPE", ` + bpeVocab + `, "fuse_unk": "x", "unk_token": 1}`),
			"model.unk_token: expected a string"},
		{"bpe prefix then bad byte_fallback", model(`{"type": "BPE", ` + bpeVocab + `, "byte_fallback": "x", "continuing_subword_prefix": 2}`),
			"model.continuing_subword_prefix: expected a string"},
		{"bpe suffix", model(`{"type": "BPE", ` + bpeVocab + `, "end_of_word_suffix": []}`),
			"model.end_of_word_suffix: expected a string"},
		{"bpe ignore_merges", model(`{"type": "BPE", ` + bpeVocab + `, "fuse_unk": false, "ignore_merges": "x"}`),
			"model.ignore_merges: expected true or false"},
		{"bpe option before unk check", model(`{"type": "BPE", ` + bpeVocab + `, "unk_token": "<unk>", "fuse_unk": "x"}`),
			"model.fuse_unk: expected true or false"},
		{"bpe dropout before options", model(`{"type": "BPE", ` + bpeVocab + `, "dropout": 0.5, "fuse_unk": "x"}`),
			"model.dropout: BPE dropout 0.5 makes encoding random; armap needs it null or 0"},
		{"bpe merges before options", model(`{"type": "BPE", "vocab": {"a": 0}, "merges": ["a"], "fuse_unk": "x"}`),
			`model.merges[0]: "a" is not two tokens separated by one space`},
		{"wordpiece prefix then missing unk", model(`{"type": "WordPiece", "vocab": {"a": 0}, "continuing_subword_prefix": 1}`),
			"model.continuing_subword_prefix: expected a string"},
		{"wordpiece max chars then missing unk", model(`{"type": "WordPiece", "vocab": {"a": 0}, "max_input_chars_per_word": "x"}`),
			"model.max_input_chars_per_word: expected an integer"},
		{"wordpiece unk type", model(`{"type": "WordPiece", ` + wpVocab + `, "unk_token": 5, "max_input_chars_per_word": "x"}`),
			"model.unk_token: expected a string"},
		{"wordpiece unk missing", model(`{"type": "WordPiece", "vocab": {"a": 0}, "max_input_chars_per_word": 10}`),
			`model.unk_token: unk_token "[UNK]" is not in vocab`},
		{"wordlevel unk type", model(`{"type": "WordLevel", "vocab": {"a": 0}, "unk_token": 1}`),
			"model.unk_token: expected a string"},
		// post-processors
		{"bytelevel post two bad", post(`{"type": "ByteLevel", "add_prefix_space": "x", "trim_offsets": "x"}`),
			"post_processor.trim_offsets: expected true or false"},
		{"bytelevel post later", post(`{"type": "ByteLevel", "add_prefix_space": "x"}`),
			"post_processor.add_prefix_space: expected true or false"},
		{"bert sep then bad cls", post(`{"type": "BertProcessing", "cls": 1, "sep": ["[SEP]"]}`),
			"post_processor.sep: expected [token, id]"},
		{"bert cls", post(`{"type": "BertProcessing", "cls": ["[CLS]", "x"]}`),
			"post_processor.cls: expected [token, id]"},
		{"roberta cls then bad trim", post(`{"type": "RobertaProcessing", "trim_offsets": "x", "cls": [1, 0]}`),
			"post_processor.cls: expected [token, id]"},
		{"roberta add_prefix_space", post(`{"type": "RobertaProcessing", "trim_offsets": false, "add_prefix_space": "x"}`),
			"post_processor.add_prefix_space: expected true or false"},
		// decoders
		{"wordpiece prefix then bad cleanup", dec(`{"type": "WordPiece", "cleanup": "yes", "prefix": 1}`),
			"decoder.prefix: expected a string"},
		{"wordpiece cleanup", dec(`{"type": "WordPiece", "prefix": "##", "cleanup": "yes"}`),
			"decoder.cleanup: expected true or false"},
		{"metaspace empty replacement then bad scheme", dec(`{"type": "Metaspace", "replacement": "", "prepend_scheme": "x"}`),
			`decoder.replacement: expected a single character, got ""`},
		{"metaspace scheme", dec(`{"type": "Metaspace", "prepend_scheme": "x"}`),
			`decoder.prepend_scheme: unknown prepend_scheme "x"`},
		{"strip content then bad start", dec(`{"type": "Strip", "content": "ab", "start": "x"}`),
			`decoder.content: expected a single character, got "ab"`},
		{"strip start then bad stop", dec(`{"type": "Strip", "stop": "y", "start": "x"}`),
			"decoder.start: expected an integer"},
		{"strip stop", dec(`{"type": "Strip", "start": 1, "stop": 1.5}`),
			"decoder.stop: expected an integer"},
		{"ctc pad then bad cleanup", dec(`{"type": "CTC", "cleanup": "x", "pad_token": 1}`),
			"decoder.pad_token: expected a string"},
		{"ctc delimiter then bad cleanup", dec(`{"type": "CTC", "cleanup": "x", "word_delimiter_token": false}`),
			"decoder.word_delimiter_token: expected a string"},
		{"ctc cleanup", dec(`{"type": "CTC", "cleanup": "x"}`),
			"decoder.cleanup: expected true or false"},
		{"decoder sequence path", dec(`{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Strip", "content": " ", "start": "x"}]}`),
			"decoder.decoders[1].start: expected an integer"},
		// sections are parsed in file order: normalizer first, decoder last
		{"normalizer before decoder", configWith(`"decoder": {"type": "CTC", "cleanup": "x"}`, `"normalizer": {"type": "Strip", "strip_left": "x"}`),
			"normalizer.strip_left: expected true or false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromJSON([]byte(c.json))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if got, want := err.Error(), "tokenizer.json: "+c.want; got != want {
				t.Errorf("error\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestConfigFieldValues checks that options read in a row land in the right fields, with
// defaults for absent and null keys.
func TestConfigFieldValues(t *testing.T) {
	yes := true
	cases := []struct {
		name    string
		json    string
		section func(*Tokenizer) any
		want    any
	}{
		{"bert normalizer", configWith(`"normalizer": {"type": "BertNormalizer", "clean_text": false, "handle_chinese_chars": false, "lowercase": false, "strip_accents": true}`),
			func(t *Tokenizer) any { return t.normalizer }, bertNormalizer{stripAccents: &yes}},
		{"bert normalizer defaults", configWith(`"normalizer": {"type": "BertNormalizer", "lowercase": null, "strip_accents": null}`),
			func(t *Tokenizer) any { return t.normalizer }, bertNormalizer{cleanText: true, handleChinese: true, lowercase: true}},
		{"strip normalizer", configWith(`"normalizer": {"type": "Strip", "strip_left": false}`),
			func(t *Tokenizer) any { return t.normalizer }, stripNormalizer{right: true}},
		{"bytelevel pre", configWith(`"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}`),
			func(t *Tokenizer) any { return t.pre }, byteLevelPre{trimOffsets: true}},
		{"metaspace pre", configWith(`"pre_tokenizer": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "first", "split": false}`),
			func(t *Tokenizer) any { return t.pre }, metaspacePre{replacement: '_', scheme: prependFirst}},
		{"metaspace pre defaults", configWith(`"pre_tokenizer": {"type": "Metaspace", "add_prefix_space": true}`),
			func(t *Tokenizer) any { return t.pre }, metaspacePre{replacement: '▁', scheme: prependAlways, split: true}},
		{"split pre", configWith(`"pre_tokenizer": {"type": "Split", "pattern": {"String": "x"}, "behavior": "MergedWithNext", "invert": true}`),
			func(t *Tokenizer) any { s := t.pre.(splitPre); return [2]any{s.behavior, s.invert} }, [2]any{behaviorMergedWithNext, true}},
		{"bpe options", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "##b": 3, "ab": 2, "<u>": 4}, "merges": [["a", "##b"]], "unk_token": "<u>", "continuing_subword_prefix": "##", "end_of_word_suffix": "</w>", "fuse_unk": true, "byte_fallback": true, "ignore_merges": true}}`,
			func(t *Tokenizer) any {
				m := t.model.(*bpeModel)
				return bpeOptions{unk: m.unk, hasUnk: m.hasUnk, prefix: m.prefix, suffix: m.suffix, fuseUnk: m.fuseUnk, byteFallback: m.byteFallback, ignoreMerges: m.ignoreMerges}
			},
			bpeOptions{unk: "<u>", hasUnk: true, prefix: "##", suffix: "</w>", fuseUnk: true, byteFallback: true, ignoreMerges: true}},
		{"bpe defaults", configWith(),
			func(t *Tokenizer) any {
				m := t.model.(*bpeModel)
				return bpeOptions{unk: m.unk, hasUnk: m.hasUnk, prefix: m.prefix, suffix: m.suffix, fuseUnk: m.fuseUnk, byteFallback: m.byteFallback, ignoreMerges: m.ignoreMerges}
			},
			bpeOptions{}},
		{"wordpiece model", `{"model": {"type": "WordPiece", "vocab": {"a": 0, "<?>": 1}, "unk_token": "<?>", "continuing_subword_prefix": "@@", "max_input_chars_per_word": 7}}`,
			func(t *Tokenizer) any {
				m := t.model.(*wordPieceModel)
				return []any{m.unk, m.unkID, m.prefix, m.maxInputChar}
			},
			[]any{"<?>", int32(1), "@@", 7}},
		{"bytelevel post", configWith(`"post_processor": {"type": "ByteLevel", "trim_offsets": false}`),
			func(t *Tokenizer) any { return t.post }, byteLevelProcessor{addPrefixSpace: true}},
		{"bert post", configWith(`"post_processor": {"type": "BertProcessing", "sep": ["<sep>", 7]}`),
			func(t *Tokenizer) any { return t.post }, bertProcessor{cls: "[CLS]", clsID: 101, sep: "<sep>", sepID: 7}},
		{"roberta post", configWith(`"post_processor": {"type": "RobertaProcessing", "sep": ["</x>", 5], "cls": ["<y>", 6], "trim_offsets": false, "add_prefix_space": true}`),
			func(t *Tokenizer) any { return t.post },
			robertaProcessor{bertProcessor: bertProcessor{cls: "<y>", clsID: 6, sep: "</x>", sepID: 5}, addPrefixSpace: true}},
		{"wordpiece decoder", configWith(`"decoder": {"type": "WordPiece", "prefix": "@@", "cleanup": false}`),
			func(t *Tokenizer) any { return t.dec }, wordPieceDecoder{prefix: "@@"}},
		{"metaspace decoder", configWith(`"decoder": {"type": "Metaspace", "replacement": "~", "prepend_scheme": "never"}`),
			func(t *Tokenizer) any { return t.dec }, metaspaceDecoder{replacement: '~', scheme: prependNever}},
		{"strip decoder", configWith(`"decoder": {"type": "Strip", "content": "x", "start": 2, "stop": 3}`),
			func(t *Tokenizer) any { return t.dec }, stripDecoder{content: 'x', start: 2, stop: 3}},
		{"ctc decoder", configWith(`"decoder": {"type": "CTC", "pad_token": "<p>", "word_delimiter_token": "_", "cleanup": false}`),
			func(t *Tokenizer) any { return t.dec }, ctcDecoder{pad: "<p>", delim: "_"}},
		{"ctc decoder defaults", configWith(`"decoder": {"type": "CTC"}`),
			func(t *Tokenizer) any { return t.dec }, ctcDecoder{pad: "<pad>", delim: "|", cleanup: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := FromJSON([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.section(tok); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v\nwant %#v", got, c.want)
			}
		})
	}
}
