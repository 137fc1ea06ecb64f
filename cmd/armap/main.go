// Command armap synthesizes preference data from environments, trains reward models on it,
// serves trajectory scores and plans with them. See README.md for the command reference.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/server"
	"github.com/armap/armap/engine/trainer"
	"github.com/armap/armap/pipeline/llm"
	"github.com/armap/armap/pipeline/synth"
)

// Config is the whole configuration. Every command reads all of it (so one file can configure
// every command) and uses its own section.
type Config struct {
	Device  string `mapstructure:"device"`  // cpu or cuda
	Threads int    `mapstructure:"threads"` // intra-op threads; 0 = all cores
	Seed    uint64 `mapstructure:"seed"`
	// DType is the compute dtype of scoring (score, serve, eval, bench serve): auto is bf16 on
	// CUDA (float32 master weights, flash attention, CUDA graphs) and f32 on CPU.
	DType string `mapstructure:"dtype"`
	// CUDAGraphs lets CUDA bf16/f16 scoring replay captured graphs; false runs every call eagerly.
	CUDAGraphs bool `mapstructure:"cuda_graphs"`
	// FusedKernels selects the encoder's fused kernels (residual + dropout + LayerNorm, bias
	// gradients): auto (on), on (a width the CUDA kernels do not take is refused) or off.
	FusedKernels string `mapstructure:"fused_kernels"`
	// Attention picks the CUDA bf16/f16 attention kernel: auto (flash), flash, or cudnn (cuDNN's
	// kernels for batches whose sequences all have one length, training and eager scoring).
	Attention string           `mapstructure:"attention"`
	Train     TrainSection     `mapstructure:"train"`
	Score     ScoreSection     `mapstructure:"score"`
	Serve     ServeSection     `mapstructure:"serve"`
	Tokenizer TokenizerSection `mapstructure:"tokenizer"`
	Synth     SynthSection     `mapstructure:"synth"`
	Eval      EvalSection      `mapstructure:"eval"`
	LLM       llm.Config       `mapstructure:"llm"`
}

// TrainSection is `train:`: the files of a run plus the recipe.
type TrainSection struct {
	Data           string `mapstructure:"data"`
	EvalData       string `mapstructure:"eval_data"`
	Model          string `mapstructure:"model"`     // preset name or model directory
	Tokenizer      string `mapstructure:"tokenizer"` // tokenizer.json for text data with a preset
	Out            string `mapstructure:"out"`
	Resume         bool   `mapstructure:"resume"`
	trainer.Config `mapstructure:",squash"`
}

// ScoreSection is `score:`.
type ScoreSection struct {
	Model       string `mapstructure:"model"`
	Data        string `mapstructure:"data"`
	Out         string `mapstructure:"out"`
	Tokenizer   string `mapstructure:"tokenizer"`
	BatchTokens int    `mapstructure:"batch_tokens"`
	MaxLength   int    `mapstructure:"max_length"`
}

func defaultConfig() Config {
	return Config{
		Device:       "cpu",
		Seed:         42,
		DType:        "auto",
		CUDAGraphs:   true,
		FusedKernels: "auto",
		Attention:    "auto",
		Train:        TrainSection{Config: trainer.DefaultConfig()},
		Score:        ScoreSection{BatchTokens: 16384},
		Serve:        ServeSection{Config: server.DefaultConfig()},
		Tokenizer:    TokenizerSection{VocabSize: 4096, SpecialTokens: []string{"<|endoftext|>", "<|pad|>"}},
		Synth:        SynthSection{Config: synth.DefaultConfig()},
		Eval:         defaultEvalSection(),
		LLM:          llm.DefaultConfig(),
	}
}

// app is what every command shares: its configuration loader and, once loaded, the config.
type app struct {
	l   *loader
	cfg Config
}

func newApp() *app {
	a := &app{l: newLoader(), cfg: defaultConfig()}
	a.l.defaults("", a.cfg)
	return a
}

// command wraps a cobra command whose RunE needs the loaded configuration.
func (a *app) command(c *cobra.Command, run func(ctx context.Context, cmd *cobra.Command, cfg *Config) error) *cobra.Command {
	addConfigFlag(c.Flags())
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if err := a.l.load(cmd, &a.cfg); err != nil {
			return err
		}
		ctx, stop := interruptible(cmd.Context(), cmd.ErrOrStderr())
		defer stop()
		err := run(ctx, cmd, &a.cfg)
		if sig, ok := errors.AsType[*signalExit](context.Cause(ctx)); ok && errors.Is(err, context.Canceled) {
			return &signalExit{sig: sig.sig, err: err}
		}
		return err
	}
	return c
}

// signalExit is a run ended by a signal; the process exits with 128 + its number, as a shell
// reports a command killed by it.
type signalExit struct {
	sig syscall.Signal
	err error
}

func (e *signalExit) Error() string {
	if e.err == nil {
		return e.sig.String()
	}
	return e.err.Error()
}
func (e *signalExit) Unwrap() error { return e.err }

// interruptible is a context that SIGINT or SIGTERM cancels, with the signal as its cause, so
// that the command can stop cleanly (checkpoint, no partial output). A second signal means the
// user will not wait for that: the process exits at once.
func interruptible(parent context.Context, log io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(&signalExit{sig: s.(syscall.Signal)})
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(log, "armap: %v again: exiting without cleaning up\n", s)
			os.Exit(128 + int(s.(syscall.Signal)))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// openBackend loads the backend for the configured device and sets its threads.
func openBackend(cfg *Config) (*cgo.Backend, error) {
	n := cfg.Threads
	if n < 0 {
		return nil, fmt.Errorf("threads must be 0 (all cores) or more, got %d", n)
	}
	b, err := cgo.OpenDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		n = runtime.NumCPU()
	}
	if err := b.SetThreads(n); err != nil {
		return nil, err
	}
	return b, nil
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "armap",
		Short:         "Automatic reward modeling and planning for LLM agents",
		Long:          "armap explores environments, synthesizes preference triplets without human labels, trains transformer reward models on them through libtorch, and plans with them (Best-of-N, Reflexion, beam search, MCTS).",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, mk := range []func() *cobra.Command{
		newInfoCmd,
		newTrainCmd,
		newScoreCmd,
		newServeCmd,
		newBenchCmd,
		newTokenizeCmd,
		newTokenizerCmd,
		newSynthCmd,
		newEvalCmd,
	} {
		root.AddCommand(mk())
	}
	return root
}

// exitCode gives an error its own exit status (1 otherwise): a check that ran and failed is not
// a check that could not run, and scripts tell the two apart.
type exitCode struct {
	code int
	err  error
}

func (e *exitCode) Error() string { return e.err.Error() }
func (e *exitCode) Unwrap() error { return e.err }

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "armap:", err)
		if sig, ok := errors.AsType[*signalExit](err); ok {
			os.Exit(128 + int(sig.sig))
		}
		if ec, ok := errors.AsType[*exitCode](err); ok {
			os.Exit(ec.code)
		}
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}
