package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/armap/armap/engine/scorer"
	"github.com/armap/armap/engine/server"
)

// ServeSection is `serve:`: the model to serve plus the server's settings (engine/server.Config,
// whose keys sit directly under serve:).
type ServeSection struct {
	Model         string `mapstructure:"model"`
	Tokenizer     string `mapstructure:"tokenizer"`
	server.Config `mapstructure:",squash"`
}

func newServeCmd() *cobra.Command {
	a := newApp()
	d := defaultConfig().Serve
	c := &cobra.Command{
		Use:   "serve --model DIR [--addr HOST:PORT]",
		Short: "Serve trajectory scores over HTTP (POST /v1/score, /health, /info, /metrics)",
		Long: `Serve a reward model directory over HTTP. Concurrent requests share a token-budget queue
(max-batch-tokens, max-wait, queue-limit) that packs them into forward passes without padding.

  POST /v1/score  {"items": [{"id","instruction","steps"} | {"id","input_ids"}]}
                  -> {"scores": [{"id","score"}]} in item order
  GET  /health    200 when the model answers ({"status":"busy"} when the queue is full;
                 draining, the server stops taking connections; a request on one still
                 open gets 503)
  GET  /info      model, limits, backend and version
  GET  /metrics   Prometheus metrics (armap_*)

Text items are rendered with the documented template and tokenized with the directory's
tokenizer.json. Errors are JSON {"error","type"}: 400 malformed input (naming item and field),
413 body over max-body-bytes or more than max-items items, 422 invalid items or a sequence over
max-input-tokens (unless --truncate), 429 queue full, 401 without the API key when
--api-key-env names a variable holding one. SIGTERM or SIGINT stops accepting connections,
answers the requests in flight and exits 0.`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	f.String("model", "", "reward model directory (config.json, model.safetensors[, tokenizer.json])")
	f.String("tokenizer", "", "tokenizer.json for text items (default: the model directory's)")
	f.String("addr", d.Addr, "listen address HOST:PORT")
	f.Int64("max-body-bytes", d.MaxBodyBytes, "largest request body (413 beyond)")
	f.Int("max-items", d.MaxItems, "items per request (413 beyond)")
	f.Int("max-input-tokens", d.MaxInputTokens, "longest sequence in tokens (422 beyond, or cut with --truncate); 0 = the model's")
	f.Bool("truncate", d.Truncate, "truncate over-long items instead of refusing them")
	f.String("api-key-env", d.APIKeyEnv, "environment variable holding the API key; requests then need Authorization: Bearer <key>")
	f.Int("max-batch-tokens", d.MaxBatchTokens, "token budget of one forward pass")
	f.Duration("max-wait", d.MaxWait, "how long a batch's first request waits for company")
	f.Int("queue-limit", d.QueueLimit, "sequences waiting at most, not counting the batch being formed (429 beyond)")
	f.Duration("read-timeout", d.ReadTimeout, "time to read a request (0 = none)")
	f.Duration("write-timeout", d.WriteTimeout, "time to answer a request, scoring included (0 = none)")
	f.Duration("shutdown-timeout", d.ShutdownTimeout, "how long a shutdown waits for requests in flight (0 = as long as they take)")
	f.String("device", "cpu", "cpu or cuda")
	f.String("dtype", "auto", "compute dtype: auto (bf16 on CUDA, f32 on CPU), f32, bf16 or f16 (f16 on CPU needs a libtorch 2 backend)")
	f.Int("threads", 0, "intra-op threads (0 = all cores)")
	for _, flag := range []string{"model", "tokenizer", "addr", "max-body-bytes", "max-items", "max-input-tokens", "truncate",
		"api-key-env", "max-batch-tokens", "max-wait", "queue-limit", "read-timeout", "write-timeout", "shutdown-timeout"} {
		a.l.bind(flag, "serve."+flagKey(flag))
	}
	a.l.bind("device", "device")
	a.l.bind("dtype", "dtype")
	a.l.bind("threads", "threads")
	return a.command(c, runServe)
}

// flagKey maps a flag name to its configuration key (max-wait -> max_wait).
func flagKey(flag string) string {
	b := []byte(flag)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

func runServe(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
	sc := cfg.Serve
	if sc.Model == "" {
		return errors.New("serve needs --model DIR")
	}
	if err := sc.Config.Validate(); err != nil {
		return err
	}
	r, err := resolveModel(sc.Model, sc.Tokenizer, sc.MaxInputTokens)
	if err != nil {
		return err
	}
	if r.Dir == "" {
		return fmt.Errorf("serve needs a trained model directory, not the preset %q (its weights would be random)", sc.Model)
	}
	log := cmd.ErrOrStderr()
	b, m, err := r.buildScorer(cfg, 0, log)
	if err != nil {
		return err
	}
	defer m.Close()
	in := r.scorerInputs()
	if in.Enc == nil {
		fmt.Fprintf(log, "serve: %s has no tokenizer.json: only input_ids items are accepted\n", sc.Model)
	}
	s := scorer.New(m, in, sc.ScorerOptions())
	defer s.Close()
	bi := b.Info()
	// The loaded model's own count (the config's estimate leaves out biases and norms).
	params, err := m.NumParams()
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv, err := server.New(s, server.Info{ModelID: sc.Model, Architecture: r.Cfg.Architecture, ModelType: r.Cfg.ModelType,
		Version: gitCommit(), Parameters: params, MaxLength: r.Cfg.MaxPositions, VocabSize: r.Cfg.VocabSize, Tokenizer: r.TokPath,
		Backend: bi.Backend, TorchVersion: bi.TorchVersion, Device: bi.DeviceName, Threads: bi.Threads}, sc.Config)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", sc.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", sc.Addr, err)
	}
	fmt.Fprintf(log, "serve: %s (%s, %d parameters) on http://%s, max %d tokens per sequence, %d per batch\n",
		sc.Model, r.Cfg.Architecture, params, l.Addr(), in.MaxLen, sc.ScorerOptions().MaxBatchTokens)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(log, "serve: stopping: answering requests in flight")
	// A fresh context: the command's is already cancelled by the signal that got us here.
	if err := srv.Shutdown(context.Background()); err != nil {
		return err
	}
	if err := <-served; err != nil {
		return err
	}
	data, _ := json.Marshal(srv.Stats())
	fmt.Fprintf(log, "serve: stopped: %s\n", data)
	return nil
}
