package tokenizer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

// hfTrainedHash is the sha256 of the vocab (by id) and merges that HuggingFace tokenizers'
// BpeTrainer (default settings: no initial alphabet, no special tokens, vocab 30000) learned on
// the fixture texts with the Llama-3 split + ByteLevel pipeline: one text per line of a file
// (line breaks inside texts turned into spaces), and HF's file reader keeps each line's "\n"
// (node binding 0.23.2, Tokenizer.train on that file).
const hfTrainedHash = "2c7a5e2504b58e880647ebe5240373878eb25b60a0c06a99c9b2337968420f63"

func fixtureCorpus(t testing.TB) []string {
	dir := fixturesDir(t)
	var texts []string
	for _, name := range []string{"bytelevel_bpe", "wordpiece_bert", "sentencepiece_bpe"} {
		for _, l := range readFixture(t, filepath.Join(dir, name, "encodings.jsonl")) {
			if l.TextPair == nil {
				texts = append(texts, strings.NewReplacer("\r", " ", "\n", " ").Replace(l.Text)+"\n")
			}
		}
	}
	return texts
}

func TestTrainMatchesHF(t *testing.T) {
	counts := map[string]int{}
	for _, text := range fixtureCorpus(t) {
		for _, m := range (handSplitter{kind: kindLlama3, maxDigits: 3}).findMatches(text) {
			if m.end > m.start {
				counts[text[m.start:m.end]]++
			}
		}
	}
	res, err := trainBPE(context.Background(), byteLevelWords(counts), nil, nil, 30000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString(strings.Join(res.vocab, "\n") + "\n--\n")
	for _, m := range res.merges {
		sb.WriteString(m[0] + " " + m[1] + "\n")
	}
	sum := sha256.Sum256([]byte(sb.String()))
	if got := hex.EncodeToString(sum[:]); got != hfTrainedHash {
		t.Fatalf("vocab %d merges %d: hash %s, want %s (HF: 2188 tokens, 2060 merges)", len(res.vocab), len(res.merges), got, hfTrainedHash)
	}
}
