package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/packer"
	"github.com/armap/armap/engine/trainer"
)

func newTrainCmd() *cobra.Command {
	a := newApp()
	d := defaultConfig().Train
	c := &cobra.Command{
		Use:   "train --data FILE --model PRESET|DIR --out DIR",
		Short: "Fine-tune a reward model on preference triplets with the pairwise loss",
		Long: `Fine-tune a reward model on (instruction, chosen, rejected) triplets with the pairwise loss
-log sigmoid(r_chosen - r_rejected - margin). Steps are packed by a token budget (no padding).
The output directory is a HuggingFace model directory (config.json, model.safetensors,
tokenizer.json) plus metrics.jsonl, trainer_state.json and checkpoints/.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	for _, s := range []struct{ flag, key, def, usage string }{
		{"data", "train.data", "", "training triplets (JSONL; comma-separated files are concatenated; - for stdin)"},
		{"eval-data", "train.eval_data", "", "held-out triplets for evaluation (comma-separated files allowed)"},
		{"model", "train.model", "", "model preset (tiny, tiny-llama, bert-mini, bert-base, llama-1b) or HuggingFace model directory"},
		{"tokenizer", "train.tokenizer", "", "tokenizer.json for text triplets (default: the model directory's)"},
		{"out", "train.out", "", "output directory"},
		{"device", "device", "cpu", "cpu or cuda"},
		{"schedule", "train.schedule", d.Schedule, "learning-rate schedule after warmup: constant, linear, cosine"},
		{"dtype", "train.dtype", d.DType, "compute dtype: f32, bf16 or f16 (autocast over float32 weights; bf16 runs on CPU too, f16 on CPU needs a libtorch 2 backend)"},
	} {
		f.String(s.flag, s.def, s.usage)
		a.l.bind(s.flag, s.key)
	}
	for _, s := range []struct {
		flag, key, usage string
		def              int
	}{
		{"steps", "train.steps", "optimizer steps (0: --epochs decides)", d.Steps},
		{"epochs", "train.epochs", "passes over the data when --steps is 0", d.Epochs},
		{"batch-tokens", "train.batch_tokens", "tokens per optimizer step", d.BatchTokens},
		{"micro-batch-tokens", "train.micro_batch_tokens", "tokens per forward/backward (gradient accumulation); 0 = batch-tokens", d.MicroBatchTokens},
		{"max-length", "train.max_length", "longest sequence in tokens (text is truncated from the left of the trajectory); 0 = the model's", d.MaxLength},
		{"warmup-steps", "train.warmup_steps", "warmup steps (0: warmup_ratio decides)", d.WarmupSteps},
		{"eval-every", "train.eval_every", "evaluate every N steps (0: at the end only)", d.EvalEvery},
		{"save-every", "train.save_every", "checkpoint every N steps (0: only when --stop-after or a signal stops the run)", d.SaveEvery},
		{"log-every", "train.log_every", "write a metrics line every N steps", d.LogEvery},
		{"stop-after", "train.stop_after", "stop after N steps of this run, leaving a checkpoint to --resume from", 0},
		{"threads", "threads", "intra-op threads (0 = all cores)", 0},
		{"lora-rank", "train.lora.rank", "LoRA rank (0: full fine-tuning)", d.LoRA.Rank},
	} {
		f.Int(s.flag, s.def, s.usage)
		a.l.bind(s.flag, s.key)
	}
	f.Float64("lr", d.LR, "peak learning rate")
	a.l.bind("lr", "train.lr")
	f.Uint64("seed", 42, "seed for initialization, data order and dropout")
	a.l.bind("seed", "seed")
	f.Bool("resume", false, "continue from the newest checkpoint in --out")
	a.l.bind("resume", "train.resume")
	f.Bool("grad-checkpointing", false, "recompute activations in backward to save memory")
	a.l.bind("grad-checkpointing", "train.grad_checkpointing")
	f.String("attention", "auto", "CUDA bf16/f16 attention: auto (flash), flash, or cudnn (cuDNN's kernels for batches of one length)")
	a.l.bind("attention", "attention")
	return a.command(c, runTrain)
}

func runTrain(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
	tc := cfg.Train
	if tc.Data == "" || tc.Out == "" {
		return errors.New("train needs --data and --out (and --model)")
	}
	r, err := resolveModel(tc.Model, tc.Tokenizer, tc.MaxLength)
	if err != nil {
		return err
	}
	// Before the data is read: a refused --out should not cost the time that takes.
	if err := checkTrainOut(tc.Out, r.Dir, append(splitList(tc.Data), splitList(tc.EvalData)...)); err != nil {
		return err
	}
	if err := trainer.CheckOut(tc.Out, tc.Resume); err != nil {
		return err
	}
	targets := 0
	if tc.LoRA.Rank > 0 {
		if targets, err = tc.LoRA.TargetBits(r.Cfg); err != nil {
			return err
		}
	}
	b, err := openBackend(cfg)
	if err != nil {
		return err
	}
	log := cmd.ErrOrStderr()
	train, tstats, err := trainer.LoadPairsFiles(splitList(tc.Data), r.encoderOrNil(), r.Cfg.VocabSize, r.MaxLen)
	if err != nil {
		return err
	}
	var eval []packer.Pair
	if tc.EvalData != "" {
		eval, _, err = trainer.LoadPairsFiles(splitList(tc.EvalData), r.encoderOrNil(), r.Cfg.VocabSize, r.MaxLen)
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(log, "data: %d pairs, %d tokens (mean %.0f, max %d per sequence, %d truncated) from %s\n",
		tstats.Pairs, tstats.Tokens, tstats.MeanSeqLen, tstats.MaxSeqLen, tstats.Truncated, tc.Data)
	dt := cgo.F32
	switch tc.DType {
	case "f32", "":
	case "bf16":
		dt = cgo.BF16
	case "f16":
		dt = cgo.F16
	default:
		return fmt.Errorf("train.dtype %q: want f32, bf16 or f16", tc.DType)
	}
	fused, err := fusedKernels(cfg)
	if err != nil {
		return err
	}
	attn, err := attentionKernel(cfg)
	if err != nil {
		return err
	}
	m, err := r.build(b, cgo.ModelOptions{Device: deviceOf(cfg.Device), ComputeDType: dt, Seed: cfg.Seed,
		GradCheckpointing: tc.GradCheckpointing, LoRARank: tc.LoRA.Rank, LoRAAlpha: float32(tc.LoRA.Alpha), LoRATargets: targets,
		FusedKernels: fused, Attention: attn}, log)
	if err != nil {
		return err
	}
	defer m.Close()
	n, _ := m.NumParams()
	fmt.Fprintf(log, "model: %s, %.1fM parameters, max length %d, %s on %s, %d intra-op threads\n", r.Cfg.Architecture, float64(n)/1e6, r.MaxLen, tc.DType, b.Info().DeviceName, b.Info().Threads)
	sum, err := trainer.Run(ctx, trainer.Options{Config: tc.Config, Seed: cfg.Seed, Out: tc.Out, Resume: tc.Resume, Model: m,
		ModelConfig: r.Cfg, TokenizerPath: r.TokPath, Train: train, Eval: eval, TrainStats: tstats, Log: log})
	if sum != nil {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		enc.Encode(sum)
	}
	return interrupted(err, sum)
}

// interrupted says what an interrupted run left: the checkpoint that --resume continues from.
// The error still wraps context.Canceled, which sets the exit status.
func interrupted(err error, sum *trainer.Summary) error {
	if !errors.Is(err, context.Canceled) || sum == nil {
		return err
	}
	if sum.Checkpoint == "" {
		return fmt.Errorf("interrupted at step %d, before a step of this run finished; no new checkpoint: %w", sum.Steps, err)
	}
	return fmt.Errorf("interrupted at step %d; checkpoint %s left: run the same command with --resume to continue: %w", sum.Steps, sum.Checkpoint, err)
}

// checkTrainOut refuses an output directory that would overwrite the model being fine-tuned or
// put model files beside the training data. Paths are compared absolute, cleaned, with symlinks
// resolved.
func checkTrainOut(out, modelDir string, data []string) error {
	o, err := realPath(out)
	if err != nil {
		return fmt.Errorf("train.out %s: %w", out, err)
	}
	if modelDir != "" {
		if m, err := realPath(modelDir); err == nil && m == o {
			return fmt.Errorf("--out %s is the --model directory %s: training would replace the model it starts from; choose another --out", out, modelDir)
		}
	}
	for _, f := range data {
		if f == "-" || f == "" {
			continue
		}
		if p, err := realPath(f); err == nil && filepath.Dir(p) == o {
			return fmt.Errorf("--out %s holds the data file %s: the run's model files would be written beside it; choose another --out", out, f)
		}
	}
	return nil
}

// checkOutFile refuses an output file that is one of the command's input files, or lies in the
// model directory it reads: writing it would destroy what the run reads (train has its own,
// directory-level check in checkTrainOut).
func checkOutFile(flag, out string, inputs []string, modelDir string) error {
	o, err := realPath(out)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, out, err)
	}
	for _, in := range inputs {
		if in == "" || in == "-" {
			continue
		}
		if p, err := realPath(in); err == nil && p == o {
			return fmt.Errorf("%s %s is an input of this run (%s): it would be overwritten; choose another %s", flag, out, in, flag)
		}
	}
	if modelDir != "" {
		if m, err := realPath(modelDir); err == nil && filepath.Dir(o) == m {
			return fmt.Errorf("%s %s is in the model directory %s: choose a path outside it", flag, out, modelDir)
		}
	}
	return nil
}

// realPath is p absolute and cleaned, with symlinks resolved as far as it exists (an output
// directory may not exist yet).
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		r, err := filepath.EvalSymlinks(abs)
		if err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return abs, nil
		}
		rest = append([]string{filepath.Base(abs)}, rest...)
		abs = parent
	}
}
