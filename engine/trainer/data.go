package trainer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/armap/armap/engine/packer"
	"github.com/armap/armap/pipeline/dataset"
)

// TextEncoder tokenizes an (instruction, trajectory) within the model's length limit
// (pipeline/render.Encoder with a tokenizer satisfies it).
type TextEncoder interface {
	Encode(instruction string, steps []dataset.Step) ([]int32, bool)
}

// DataStats describes a loaded preference file.
type DataStats struct {
	File        string  `json:"file"`
	Pairs       int     `json:"pairs"`
	Tokens      int64   `json:"tokens"`
	Truncated   int     `json:"truncated_sequences"`
	Tokenized   int     `json:"pretokenized_pairs"`
	MaxSeqLen   int     `json:"max_seq_len"`
	MeanSeqLen  float64 `json:"mean_seq_len"`
	Fingerprint string  `json:"fingerprint"` // of the token ids, to refuse resuming on other data
}

// LoadPairs reads a triplet JSONL file and tokenizes it. Pre-tokenized lines are used as they
// are; text lines need enc (nil means the model has no tokenizer: then text is an error). Every
// problem is reported with the file, line and field.
func LoadPairs(path string, enc TextEncoder, vocab, maxLen int) ([]packer.Pair, DataStats, error) {
	r, name, err := dataset.OpenInput(path)
	if err != nil {
		return nil, DataStats{}, fmt.Errorf("training data: %w", err)
	}
	defer r.Close()
	st := DataStats{File: path}
	var pairs []packer.Pair
	h := sha256.New()
	var lens []int
	err = dataset.ScanJSONLStrict(r, name, func(line int, t *dataset.Triplet) error {
		if err := t.Validate(); err != nil {
			return err
		}
		p := packer.Pair{Index: len(pairs)}
		if t.Tokenized() {
			for _, side := range []struct {
				field string
				ids   []int32
			}{{"chosen_input_ids", t.ChosenIDs}, {"rejected_input_ids", t.RejectedIDs}} {
				if err := dataset.CheckIDs(side.field, side.ids, vocab, maxLen); err != nil {
					return err
				}
			}
			p.Chosen, p.Rejected = t.ChosenIDs, t.RejectedIDs
			st.Tokenized++
		} else {
			if enc == nil {
				return &dataset.LineError{Field: "chosen", Err: fmt.Errorf("text triplets need a tokenizer: give a model directory with tokenizer.json, or --tokenizer, or pre-tokenize with chosen_input_ids/rejected_input_ids")}
			}
			var tc, trj bool
			p.Chosen, tc = enc.Encode(t.Instruction, t.Chosen.Steps)
			p.Rejected, trj = enc.Encode(t.Instruction, t.Rejected.Steps)
			if tc {
				st.Truncated++
			}
			if trj {
				st.Truncated++
			}
		}
		if t.Margin != nil {
			p.Margin, p.HasMargin = float32(*t.Margin), true
		}
		for _, ids := range [][]int32{p.Chosen, p.Rejected} {
			binary.Write(h, binary.LittleEndian, int32(len(ids)))
			binary.Write(h, binary.LittleEndian, ids)
			lens = append(lens, len(ids))
			st.Tokens += int64(len(ids))
		}
		pairs = append(pairs, p)
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	if len(pairs) == 0 {
		return nil, st, fmt.Errorf("%s: no preference pairs", name)
	}
	st.Pairs = len(pairs)
	st.Fingerprint = hex.EncodeToString(h.Sum(nil))[:16]
	sort.Ints(lens)
	st.MaxSeqLen = lens[len(lens)-1]
	st.MeanSeqLen = float64(st.Tokens) / float64(len(lens))
	return pairs, st, nil
}

// LoadPairsFiles reads several triplet files as one dataset, in the order given.
func LoadPairsFiles(paths []string, enc TextEncoder, vocab, maxLen int) ([]packer.Pair, DataStats, error) {
	if len(paths) == 1 {
		return LoadPairs(paths[0], enc, vocab, maxLen)
	}
	var all []packer.Pair
	var st DataStats
	h := sha256.New()
	for i, p := range paths {
		pairs, s, err := LoadPairs(p, enc, vocab, maxLen)
		if err != nil {
			return nil, st, err
		}
		for j := range pairs {
			pairs[j].Index = len(all) + j
		}
		all = append(all, pairs...)
		if i > 0 {
			st.File += ","
		}
		st.File += s.File
		st.Pairs += s.Pairs
		st.Tokens += s.Tokens
		st.Truncated += s.Truncated
		st.Tokenized += s.Tokenized
		st.MaxSeqLen = max(st.MaxSeqLen, s.MaxSeqLen)
		h.Write([]byte(s.Fingerprint))
	}
	st.MeanSeqLen = float64(st.Tokens) / float64(2*st.Pairs)
	st.Fingerprint = hex.EncodeToString(h.Sum(nil))[:16]
	return all, st, nil
}
