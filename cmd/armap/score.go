package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/armap/armap/engine/atomicfile"
	"github.com/armap/armap/engine/scorer"
	"github.com/armap/armap/pipeline/dataset"
)

func newScoreCmd() *cobra.Command {
	a := newApp()
	d := defaultConfig().Score
	c := &cobra.Command{
		Use:   "score --model DIR --data FILE|- [--out FILE]",
		Short: "Score trajectories: one {\"id\",\"score\"} line per input line, in input order",
		Long: `Score JSONL requests {"id","instruction","steps"} or {"id","input_ids"} with a reward model
directory. Text is rendered by the documented template (pipeline/render) and tokenized with the
directory's tokenizer.json; over-long text is truncated from the left of the trajectory and
counted. Statistics go to stderr.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	f.String("model", "", "reward model directory (config.json, model.safetensors[, tokenizer.json])")
	f.String("data", "-", "requests (JSONL); - for stdin")
	f.String("out", "", "output file (written atomically); default stdout")
	f.String("tokenizer", "", "tokenizer.json (default: the model directory's)")
	f.Int("batch-tokens", d.BatchTokens, "tokens per forward pass")
	f.Int("max-length", 0, "longest sequence in tokens; 0 = the model's")
	f.String("device", "cpu", "cpu or cuda")
	f.String("dtype", "auto", "compute dtype: auto (bf16 on CUDA, f32 on CPU), f32, bf16 or f16 (f16 on CPU needs a libtorch 2 backend)")
	f.Int("threads", 0, "intra-op threads (0 = all cores)")
	for flag, key := range map[string]string{"model": "score.model", "data": "score.data", "out": "score.out",
		"tokenizer": "score.tokenizer", "batch-tokens": "score.batch_tokens", "max-length": "score.max_length",
		"device": "device", "dtype": "dtype", "threads": "threads"} {
		a.l.bind(flag, key)
	}
	return a.command(c, runScore)
}

func runScore(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
	sc := cfg.Score
	if sc.Model == "" {
		return errors.New("score needs --model DIR")
	}
	if sc.Out != "" {
		if err := atomicfile.CheckTarget(sc.Out); err != nil {
			return fmt.Errorf("score: %w", err)
		}
	}
	switch {
	case sc.BatchTokens <= 0:
		return fmt.Errorf("score.batch_tokens must be positive, got %d", sc.BatchTokens)
	case sc.MaxLength < 0:
		return fmt.Errorf("score.max_length must be 0 (the model's) or positive, got %d", sc.MaxLength)
	}
	r, err := resolveModel(sc.Model, sc.Tokenizer, sc.MaxLength)
	if err != nil {
		return err
	}
	if r.Dir == "" {
		return fmt.Errorf("score needs a trained model directory, not the preset %q", sc.Model)
	}
	if sc.Out != "" {
		if err := checkOutFile("--out", sc.Out, []string{sc.Data, r.TokPath}, r.Dir); err != nil {
			return fmt.Errorf("score: %w", err)
		}
	}
	_, m, err := r.buildScorer(cfg, 0, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer m.Close()
	in := r.scorerInputs()
	path := sc.Data
	if path == "" {
		path = "-"
	}
	src, name, err := dataset.OpenInput(path)
	if err != nil {
		return err
	}
	defer src.Close()
	var st scorer.StreamStats
	run := func(w io.Writer) error {
		var err error
		st, err = scorer.Stream(ctx, m, in, src, name, w, sc.BatchTokens)
		return err
	}
	if sc.Out != "" {
		err = atomicfile.Write(sc.Out, 0o644, run)
	} else {
		err = run(os.Stdout)
	}
	if err != nil {
		return err
	}
	data, _ := json.Marshal(st)
	fmt.Fprintf(cmd.ErrOrStderr(), "score: %s\n", data)
	return nil
}
