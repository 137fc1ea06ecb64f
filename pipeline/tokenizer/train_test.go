package tokenizer

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The writer must produce HF's exact layout: rewriting the fixture's vocab and merges gives the
// fixture file byte for byte.
func TestWriteTokenizerJSONMatchesHFLayout(t *testing.T) {
	path := filepath.Join(fixturesDir(t), "bytelevel_bpe", "tokenizer.json")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		AddedTokens []AddedToken `json:"added_tokens"`
		Model       struct {
			Vocab  map[string]int `json:"vocab"`
			Merges [][2]string    `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(want, &f); err != nil {
		t.Fatal(err)
	}
	res := trainResult{vocab: make([]string, len(f.Model.Vocab)), merges: f.Model.Merges}
	for tok, id := range f.Model.Vocab {
		res.vocab[id] = tok
	}
	var specials []string
	for _, a := range f.AddedTokens {
		specials = append(specials, a.Content)
	}
	got := writeTokenizerJSON(res, specials, llama3Pattern)
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("differs from the HF file at byte %d: got %q, want %q", i, got[i:min(i+80, len(got))], want[i:min(i+80, len(want))])
	}
}

func trainingCorpus(t testing.TB) []string {
	var texts []string
	for _, name := range []string{"bytelevel_bpe", "wordpiece_bert"} {
		for _, l := range readFixture(t, filepath.Join(fixturesDir(t), name, "encodings.jsonl")) {
			texts = append(texts, l.Text)
			if l.TextPair != nil {
				texts = append(texts, *l.TextPair)
			}
		}
	}
	return texts
}

func TestTrainRoundTrip(t *testing.T) {
	texts := trainingCorpus(t)
	specials := []string{"<|endoftext|>", "<|pad|>"}
	tok, err := Train(context.Background(), slices.Values(texts), 1200, TrainOptions{SpecialTokens: specials})
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 1200 {
		t.Fatalf("vocab size %d, want 1200", tok.VocabSize())
	}
	for i, s := range specials {
		if id, ok := tok.TokenToID(s); !ok || id != int32(i) {
			t.Fatalf("special %q has id %d (%v), want %d", s, id, ok, i)
		}
		if e := tok.Encode("a"+s+"b", false); !slices.Contains(e.IDs, int32(i)) {
			t.Fatalf("special %q not matched as one token: %v", s, e.Tokens)
		}
	}
	// Save atomically, load back, and check the loaded copy behaves identically.
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tok.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	bm := back.model.(*bpeModel)
	if len(bm.mergeList) != 1200-256-len(specials) {
		t.Fatalf("%d merges, want %d", len(bm.mergeList), 1200-256-len(specials))
	}
	for i, m := range bm.mergeList {
		if _, ok := bm.ids[m[0]+m[1]]; !ok {
			t.Fatalf("merge %d %q+%q: result not in vocab", i, m[0], m[1])
		}
	}
	var bytesIn, tokensOut int
	for _, text := range texts {
		e := back.Encode(text, true)
		if !slices.Equal(e.IDs, tok.Encode(text, true).IDs) {
			t.Fatalf("loaded copy encodes %q differently", text)
		}
		if got := back.Decode(e.IDs, false); got != text {
			t.Fatalf("round trip of %q gave %q", text, got)
		}
		bytesIn += len(text)
		tokensOut += len(e.IDs)
	}
	// Byte-level BPE starts at one token per byte; 1200 merged symbols trained on this very
	// text must compress it well below that.
	if ratio := float64(bytesIn) / float64(tokensOut); ratio < 2.5 {
		t.Fatalf("compression %.2f bytes/token, want >= 2.5", ratio)
	}
	// Deterministic: the same input gives the same file.
	again, err := Train(context.Background(), slices.Values(texts), 1200, TrainOptions{SpecialTokens: specials})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.JSON(), tok.JSON()) {
		t.Fatal("training twice gave different tokenizer.json")
	}
}

func TestTrainCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, slices.Values(trainingCorpus(t)), 1000, TrainOptions{}); err == nil {
		t.Fatal("cancelled training returned no error")
	}
}

func TestTrainRefusesAVocabularyWithoutMerges(t *testing.T) {
	specials := TrainOptions{SpecialTokens: []string{"<s>", "</s>"}}
	for _, size := range []int{-5, 0, 10, 258} {
		if _, err := Train(context.Background(), slices.Values([]string{"aa aa"}), size, specials); err == nil || !strings.Contains(err.Error(), "no room for merges") {
			t.Errorf("size %d: %v", size, err)
		}
	}
	if _, err := Train(context.Background(), slices.Values([]string{"aa aa"}), 259, specials); err != nil {
		t.Errorf("size 259: %v", err)
	}
}
