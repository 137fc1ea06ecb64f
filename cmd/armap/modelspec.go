package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/scorer"
	"github.com/armap/armap/engine/trainer"
	"github.com/armap/armap/pipeline/render"
	"github.com/armap/armap/pipeline/tokenizer"
)

// resolved is a model to build: its architecture, its tokenizer, and where its weights are.
type resolved struct {
	Cfg     *model.Config
	Dir     string // weights directory; "" for a preset (from-scratch weights)
	Tok     *tokenizer.Tokenizer
	TokPath string
	MaxLen  int
	// AskedMaxLen is the max_length asked for, when above the model's positions (MaxLen then).
	AskedMaxLen int
}

// resolveModel reads a preset name or a model directory. A tokenizer given explicitly wins over
// the directory's tokenizer.json; with a preset, the tokenizer's vocabulary sets vocab_size.
func resolveModel(spec, tokPath string, maxLength int) (*resolved, error) {
	if spec == "" {
		return nil, fmt.Errorf("no model: give --model PRESET or --model DIR (presets: %v)", model.Presets())
	}
	r := &resolved{}
	if model.IsDir(spec) {
		cfg, _, err := model.ReadDirConfig(spec)
		if err != nil {
			return nil, err
		}
		r.Cfg, r.Dir = cfg, spec
		if tokPath == "" {
			if p := filepath.Join(spec, model.TokenizerFile); fileExists(p) {
				tokPath = p
			}
		}
	} else {
		if st, err := os.Stat(spec); err == nil && st.IsDir() {
			return nil, fmt.Errorf("model directory %s has no config.json", spec)
		} else if err == nil {
			return nil, fmt.Errorf("model %s is a file; give its directory (%s)", spec, filepath.Dir(spec))
		}
		cfg, err := model.Preset(spec)
		if err != nil && strings.ContainsRune(spec, os.PathSeparator) {
			// Preset names have no slash: this was meant as a folder.
			return nil, fmt.Errorf("model directory %s does not exist", spec)
		}
		if err != nil {
			return nil, err
		}
		r.Cfg = cfg
	}
	if tokPath != "" {
		tok, err := tokenizer.Load(tokPath)
		if err != nil {
			return nil, err
		}
		r.Tok, r.TokPath = tok, tokPath
		if r.Dir == "" {
			r.Cfg.VocabSize = tok.VocabSize()
			sp := tok.SpecialIDs()
			for _, id := range []int32{sp.PAD, sp.EOS} {
				if id >= 0 {
					v := int(id)
					r.Cfg.PadTokenID = &v
					break
				}
			}
		} else if tok.VocabSize() > r.Cfg.VocabSize {
			return nil, fmt.Errorf("tokenizer %s has %d tokens, more than the model's vocab_size %d", tokPath, tok.VocabSize(), r.Cfg.VocabSize)
		}
	}
	r.MaxLen = r.Cfg.MaxPositions
	switch {
	case maxLength > 0 && maxLength < r.MaxLen:
		r.MaxLen = maxLength
	case maxLength > r.MaxLen:
		// Not an error: one config's max_length often serves models of several sizes. build says so.
		r.AskedMaxLen = maxLength
	}
	return r, nil
}

// encoderOrNil returns the text encoder, or a nil interface when there is no tokenizer (a nil
// *render.Encoder inside a non-nil interface would pass the callers' nil checks).
func (r *resolved) encoderOrNil() trainer.TextEncoder {
	if r.Tok == nil {
		return nil
	}
	return &render.Encoder{Tok: r.Tok, MaxLen: r.MaxLen}
}

// scorerInputs are what a scorer of the model reads requests with; without a tokenizer only
// input_ids requests are accepted.
func (r *resolved) scorerInputs() *scorer.Inputs {
	return &scorer.Inputs{Enc: r.encoderOrNil(), Vocab: r.Cfg.VocabSize, MaxLen: r.MaxLen}
}

// build creates the model: loaded from the directory, or from scratch for a preset.
func (r *resolved) build(b *cgo.Backend, opt cgo.ModelOptions, log io.Writer) (*cgo.Model, error) {
	if r.AskedMaxLen > 0 {
		fmt.Fprintf(log, "model: max_length %d is more than the model's %d positions (max_position_embeddings): inputs are cut to %d tokens\n",
			r.AskedMaxLen, r.MaxLen, r.MaxLen)
	}
	if r.Dir == "" {
		return b.NewModel(r.Cfg.Backend(), opt)
	}
	m, _, rep, err := model.Load(b, r.Dir, opt)
	if err != nil {
		return nil, err
	}
	if rep.FromBase != "" {
		fmt.Fprintf(log, "model: %s from base %s; initialized from scratch: %v\n", r.Cfg.Architecture, rep.FromBase, rep.Initialized)
	}
	if len(rep.Ignored) > 0 {
		fmt.Fprintf(log, "model: %d checkpoint tensors not used (e.g. %s)\n", len(rep.Ignored), rep.Ignored[0])
	}
	return m, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// buildScorer opens the backend and builds r's model for scoring (the top-level device, dtype and
// cuda_graphs keys): what score, serve, eval and bench serve share. seed matters only to a
// from-scratch preset or a fresh head.
func (r *resolved) buildScorer(cfg *Config, seed uint64, log io.Writer) (*cgo.Backend, *cgo.Model, error) {
	b, err := openBackend(cfg)
	if err != nil {
		return nil, nil, err
	}
	opts, err := scoreOptions(cfg)
	if err != nil {
		return nil, nil, err
	}
	opts.Seed = seed
	m, err := r.build(b, opts, log)
	if err != nil {
		return nil, nil, err
	}
	return b, m, nil
}

// scoreOptions are the model options of the scoring commands, from the top-level device, dtype,
// cuda_graphs, fused_kernels and attention keys.
func scoreOptions(cfg *Config) (cgo.ModelOptions, error) {
	o := cgo.ModelOptions{Device: deviceOf(cfg.Device), NoCUDAGraphs: !cfg.CUDAGraphs}
	f, err := fusedKernels(cfg)
	if err != nil {
		return o, err
	}
	o.FusedKernels = f
	if o.Attention, err = attentionKernel(cfg); err != nil {
		return o, err
	}
	switch cfg.DType {
	case "auto", "":
		if o.Device == cgo.CUDA {
			o.ComputeDType = cgo.BF16
		}
	case "f32":
	case "bf16":
		o.ComputeDType = cgo.BF16
	case "f16":
		o.ComputeDType = cgo.F16
	default:
		return o, fmt.Errorf("dtype %q: want auto, f32, bf16 or f16", cfg.DType)
	}
	return o, nil
}

// attentionKernel reads the top-level attention key.
func attentionKernel(cfg *Config) (cgo.Attention, error) {
	a, err := cgo.ParseAttention(cfg.Attention)
	if err != nil {
		return a, fmt.Errorf("attention %w", err)
	}
	return a, nil
}

// fusedKernels reads the top-level fused_kernels key.
func fusedKernels(cfg *Config) (cgo.Fusion, error) {
	f, err := cgo.ParseFusion(cfg.FusedKernels)
	if err != nil {
		return f, fmt.Errorf("fused_kernels %w", err)
	}
	return f, nil
}

func deviceOf(s string) cgo.Device {
	if s == "cuda" {
		return cgo.CUDA
	}
	return cgo.CPU
}
