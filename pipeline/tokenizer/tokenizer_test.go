package tokenizer

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestLoadErrors(t *testing.T) {
	bpe := func(extra string) string {
		return `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]` + extra + `}}`
	}
	cases := []struct{ name, json, want string }{
		{"invalid json", `{"model": `, "invalid JSON"},
		{"no model", `{"normalizer": null}`, `no "model"`},
		{"merge not in vocab", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}`, `model: merges[0]: token "b" not in vocab`},
		{"bad merge string", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}}`, "model.merges[0]"},
		{"dropout", bpe(`, "dropout": 0.1`), "model.dropout"},
		{"unk missing", bpe(`, "unk_token": "<unk>"`), `unk_token "<unk>" is not in vocab`},
		{"wordpiece unk", `{"model": {"type": "WordPiece", "vocab": {"a": 0}, "unk_token": "[UNK]"}}`, "model.unk_token"},
		{"unknown normalizer", `{"normalizer": {"type": "Frobnicate"}, ` + bpe("")[1:], `normalizer: normalizer type "Frobnicate" is not supported`},
		{"precompiled", `{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Precompiled"}]}, ` + bpe("")[1:], "normalizer.normalizers[0]: the Precompiled"},
		{"bad regex", `{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated", "invert": false}, ` + bpe("")[1:], "pre_tokenizer.pattern.Regex"},
		{"bad behavior", `{"pre_tokenizer": {"type": "Split", "pattern": {"String": "x"}, "behavior": "Sideways", "invert": false}, ` + bpe("")[1:], "pre_tokenizer.behavior"},
		{"metaspace scheme", `{"pre_tokenizer": {"type": "Metaspace", "replacement": "_", "add_prefix_space": false}, ` + bpe("")[1:], "add_prefix_space false"},
		{"template special", `{"post_processor": {"type": "TemplateProcessing", "single": "[CLS] $A", "pair": "$A $B", "special_tokens": {}}, ` + bpe("")[1:], `"[CLS]"`},
		{"wrong type", `{"decoder": {"type": "WordPiece", "cleanup": "yes"}, ` + bpe("")[1:], "decoder.cleanup: expected true or false"},
		{"added tokens", `{"added_tokens": {"id": 1}, ` + bpe("")[1:], "added_tokens"},
	}
	for _, c := range cases {
		_, err := FromJSON([]byte(c.json))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "tokenizer.json: ") {
			t.Errorf("%s: error %q does not name %q", c.name, err, c.want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("loading a missing file gave no error")
	}
}

func TestSpecialIDsAndVocab(t *testing.T) {
	dir := fixturesDir(t)
	cases := []struct {
		name                    string
		vocab                   int
		bos, eos, pad, cls, sep int32
		unk                     int32
	}{
		{"bytelevel_bpe", 3000, -1, 0, 1, -1, -1, -1},
		{"wordpiece_bert", 3000, -1, -1, 0, 2, 3, 1},
		{"sentencepiece_bpe", 3000, 1, 2, -1, -1, -1, 0},
	}
	for _, c := range cases {
		tok, err := Load(filepath.Join(dir, c.name, "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		if tok.VocabSize() != c.vocab {
			t.Errorf("%s: vocab size %d, want %d", c.name, tok.VocabSize(), c.vocab)
		}
		s := tok.SpecialIDs()
		got := []int32{s.BOS, s.EOS, s.PAD, s.CLS, s.SEP, s.UNK}
		if want := []int32{c.bos, c.eos, c.pad, c.cls, c.sep, c.unk}; !slices.Equal(got, want) {
			t.Errorf("%s: BOS/EOS/PAD/CLS/SEP/UNK %v, want %v", c.name, got, want)
		}
		for id := int32(0); id < int32(c.vocab); id++ {
			s, ok := tok.IDToToken(id)
			if !ok {
				t.Fatalf("%s: id %d has no token", c.name, id)
			}
			if back, ok := tok.TokenToID(s); !ok || back != id {
				t.Fatalf("%s: token %q of id %d maps back to %d", c.name, s, id, back)
			}
		}
	}
}

// Encoding from many goroutines at once (sharing the BPE cache) gives the sequential results.
func TestConcurrentEncode(t *testing.T) {
	dir := fixturesDir(t)
	for _, name := range []string{"bytelevel_bpe", "sentencepiece_bpe", "wordpiece_bert"} {
		tok, err := Load(filepath.Join(dir, name, "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		lines := readFixture(t, filepath.Join(dir, name, "encodings.jsonl"))
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := range lines {
					l := lines[(i+g*31)%len(lines)]
					if l.TextPair != nil {
						continue
					}
					if got := tok.Encode(l.Text, true).IDs; !slices.Equal(got, l.IDs) && len(got)+len(l.IDs) > 0 {
						errs <- l.Text
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("%s: concurrent encode of %q differs", name, e)
		}
	}
}

func TestEncodeWithoutSpecialAndInvalidUTF8(t *testing.T) {
	tok, err := Load(filepath.Join(fixturesDir(t), "wordpiece_bert", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	with, without := tok.Encode("hello world", true), tok.Encode("hello world", false)
	if len(with.IDs) != len(without.IDs)+2 || with.IDs[0] != 2 || with.IDs[len(with.IDs)-1] != 3 {
		t.Fatalf("with specials %v, without %v", with.IDs, without.IDs)
	}
	if !slices.Equal(with.IDs[1:len(with.IDs)-1], without.IDs) || !with.Special[0] || without.Special[0] {
		t.Fatalf("special marks wrong: %v / %v", with.Special, without.Special)
	}
	bad := tok.Encode("ok \xff\xfe ok", false)
	good := tok.Encode("ok \uFFFD ok", false)
	if !slices.Equal(bad.IDs, good.IDs) {
		t.Fatalf("invalid UTF-8 encoded as %v, want %v", bad.IDs, good.IDs)
	}
}
