package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/armap/armap/engine/atomicfile"
	"github.com/armap/armap/internal/streamio"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/render"
	"github.com/armap/armap/pipeline/tokenizer"
)

// TokenizerSection is `tokenizer:` (training a tokenizer for from-scratch models).
type TokenizerSection struct {
	VocabSize     int      `mapstructure:"vocab_size"`
	SpecialTokens []string `mapstructure:"special_tokens"`
	MinFrequency  int      `mapstructure:"min_frequency"`
}

func newTokenizeCmd() *cobra.Command {
	a := newApp()
	c := &cobra.Command{
		Use:   "tokenize --tokenizer FILE",
		Short: "Encode JSONL {\"text\"[, \"text_pair\"]} from stdin as {\"ids\": [...]} lines, in order",
		Args:  cobra.NoArgs,
	}
	c.Flags().String("tokenizer", "", "tokenizer.json (HuggingFace format)")
	c.Flags().Bool("no-special", false, "do not add the post-processor's special tokens")
	return a.command(c, func(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
		path, _ := cmd.Flags().GetString("tokenizer")
		noSpecial, _ := cmd.Flags().GetBool("no-special")
		if path == "" {
			return errors.New("tokenize needs --tokenizer FILE")
		}
		tok, err := tokenizer.Load(path)
		if err != nil {
			return err
		}
		// Answers go out when the input stalls (a producer may wait for each) and only in whole
		// lines; a cancellation ends a read blocked on stdin.
		ctx, cancel := context.WithCancel(ctx) // ends stdin's reader goroutine on return
		defer cancel()
		w := streamio.NewLineWriter(cmd.OutOrStdout())
		enc := json.NewEncoder(w)
		stdin := streamio.NewReader(ctx, cmd.InOrStdin(), 20*time.Millisecond, w.Flush)
		type in struct {
			Text     *string `json:"text"`
			TextPair *string `json:"text_pair"`
		}
		type out struct {
			IDs     []int32 `json:"ids"`
			TypeIDs []int32 `json:"type_ids,omitempty"`
		}
		err = dataset.ScanJSONLStrict(stdin, "<stdin>", func(line int, v *in) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if v.Text == nil {
				return &dataset.LineError{Field: "text", Err: errors.New("missing")}
			}
			if v.TextPair != nil {
				e := tok.EncodePair(*v.Text, *v.TextPair, !noSpecial)
				return enc.Encode(out{IDs: e.IDs, TypeIDs: e.TypeIDs})
			}
			return enc.Encode(out{IDs: tok.EncodeIDs(*v.Text, !noSpecial)})
		})
		if ferr := w.Flush(); err == nil && ferr != nil {
			err = fmt.Errorf("write: %w", ferr)
		}
		return err
	})
}

func newTokenizerCmd() *cobra.Command {
	parent := &cobra.Command{Use: "tokenizer", Short: "Tokenizer tools"}
	a := newApp()
	d := defaultConfig().Tokenizer
	c := &cobra.Command{
		Use:   "train --data FILE --vocab-size N --out tokenizer.json",
		Short: "Train a byte-level BPE tokenizer (Llama-3 split) on the instructions and trajectories of a triplet file",
		Long: `Train a byte-level BPE tokenizer on the text a reward model will read: every triplet's chosen and
rejected trajectory rendered with the scoring template (pipeline/render). The result is a
HuggingFace tokenizer.json; from-scratch presets take their vocabulary size from it.`,
		Args: cobra.NoArgs,
	}
	c.Flags().String("data", "", "triplet JSONL file(s), comma-separated")
	c.Flags().Int("vocab-size", d.VocabSize, "vocabulary size, special tokens included")
	c.Flags().String("out", "tokenizer.json", "output tokenizer.json")
	c.Flags().Int("min-frequency", d.MinFrequency, "stop merging below this pair count (0: HF default)")
	a.l.bind("vocab-size", "tokenizer.vocab_size")
	a.l.bind("min-frequency", "tokenizer.min_frequency")
	parent.AddCommand(a.command(c, func(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
		files, _ := cmd.Flags().GetString("data")
		out, _ := cmd.Flags().GetString("out")
		if files == "" {
			return errors.New("tokenizer train needs --data FILE")
		}
		if err := atomicfile.CheckTarget(out); err != nil {
			return fmt.Errorf("tokenizer train: %w", err)
		}
		if err := checkOutFile("--out", out, splitList(files), ""); err != nil {
			return fmt.Errorf("tokenizer train: %w", err)
		}
		if cfg.Tokenizer.MinFrequency < 0 {
			return fmt.Errorf("tokenizer.min_frequency must be 0 (the default) or more, got %d", cfg.Tokenizer.MinFrequency)
		}
		var texts []string
		for _, f := range splitList(files) {
			ts, err := dataset.ReadTriplets(f)
			if err != nil {
				return err
			}
			for _, t := range ts {
				for _, side := range []dataset.Side{t.Chosen, t.Rejected} {
					if len(side.Steps) > 0 {
						texts = append(texts, render.Text(t.Instruction, side.Steps, 0))
					}
				}
			}
		}
		if len(texts) == 0 {
			return fmt.Errorf("%s: no text to train on (no triplets, or only pre-tokenized ones, which carry no text)", files)
		}
		seq := iter.Seq[string](func(yield func(string) bool) {
			for _, t := range texts {
				if !yield(t) {
					return
				}
			}
		})
		tc := cfg.Tokenizer
		tok, err := tokenizer.Train(ctx, seq, tc.VocabSize, tokenizer.TrainOptions{SpecialTokens: tc.SpecialTokens, MinFrequency: tc.MinFrequency})
		if err != nil {
			return err
		}
		if err := tok.Save(out); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "tokenizer: %d tokens trained on %d texts -> %s\n", tok.VocabSize(), len(texts), out)
		return nil
	}))
	return parent
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' })
}
