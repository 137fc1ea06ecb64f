package tokenizer

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkEncode measures single-core encode throughput on the fixture texts for each fixture
// tokenizer; tokens/s is reported as a metric. "nocache" runs the BPE without its word cache,
// "ids" is EncodeIDs (what training and scoring call) with the cache.
func BenchmarkEncode(b *testing.B) {
	dir := fixturesDir(b)
	for _, name := range []string{"bytelevel_bpe", "wordpiece_bert", "sentencepiece_bpe"} {
		var texts []string
		for _, l := range readFixture(b, filepath.Join(dir, name, "encodings.jsonl")) {
			if l.TextPair == nil {
				texts = append(texts, l.Text)
			}
		}
		for _, mode := range []struct {
			label   string
			cache   int
			idsOnly bool
		}{{"cache", 0, false}, {"nocache", -1, false}, {"ids", 0, true}} {
			label, cache := mode.label, mode.cache
			tok, err := LoadWith(filepath.Join(dir, name, "tokenizer.json"), Options{BPECacheSize: cache})
			if err != nil {
				b.Fatal(err)
			}
			if _, isBPE := tok.model.(*bpeModel); !isBPE && cache < 0 {
				continue
			}
			b.Run(name+"/"+label, func(b *testing.B) {
				nbytes, ntok := 0, 0
				for _, t := range texts {
					nbytes += len(t)
				}
				b.SetBytes(int64(nbytes))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for _, t := range texts {
						if mode.idsOnly {
							ntok += len(tok.EncodeIDs(t, true))
						} else {
							ntok += len(tok.Encode(t, true).IDs)
						}
					}
				}
				b.ReportMetric(float64(ntok)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}

// syntheticCorpus yields about size bytes of text: Zipf-distributed pseudo-words from a fixed
// random lexicon, with punctuation, numbers and line breaks, from a fixed seed.
func syntheticCorpus(size int) iter.Seq[string] {
	return func(yield func(string) bool) {
		rng := rand.New(rand.NewPCG(7, 11))
		syl := []string{"ka", "to", "ri", "en", "ma", "sh", "oo", "ple", "st", "ing", "er", "a", "qu", "zz", "th", "ou", "ch", "é", "ü", "ß"}
		lex := make([]string, 300000)
		for i := range lex {
			var sb strings.Builder
			for k := 1 + rng.IntN(4); k > 0; k-- {
				sb.WriteString(syl[rng.IntN(len(syl))])
			}
			lex[i] = sb.String()
		}
		zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(lex)-1))
		n := 0
		for n < size {
			var sb strings.Builder
			for w := 0; w < 40; w++ {
				if w > 0 {
					sb.WriteByte(' ')
				}
				word := lex[zipf.Uint64()]
				if rng.IntN(10) == 0 {
					word = strings.ToUpper(word[:1]) + word[1:]
				}
				sb.WriteString(word)
				switch rng.IntN(20) {
				case 0:
					sb.WriteString(", ")
					sb.WriteString(fmt.Sprint(rng.IntN(100000)))
				case 1:
					sb.WriteString(".\n")
				}
			}
			s := sb.String()
			n += len(s)
			if !yield(s) {
				return
			}
		}
	}
}

// BenchmarkTrain20MB trains a 32k vocabulary on 20 MB of synthetic text (one core).
func BenchmarkTrain20MB(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Train(context.Background(), syntheticCorpus(20<<20), 32000, TrainOptions{SpecialTokens: []string{"<|endoftext|>"}}); err != nil {
			b.Fatal(err)
		}
	}
}
