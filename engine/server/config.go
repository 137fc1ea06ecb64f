// Package server is armap's HTTP scoring service, shaped like HuggingFace
// text-embeddings-inference's router: a token-budget queue (engine/scorer) in front of the model,
// request validation with JSON errors, Prometheus metrics named by what they count, and health
// and info endpoints.
//
// Endpoints:
//
//	POST /v1/score  {"items": [{"id","instruction","steps"} | {"id","input_ids"}]}
//	                -> {"scores": [{"id","score"}]} in item order
//	GET  /health    200 {"status":"ok"} when a one-token forward pass answers, {"status":"busy"}
//	                when the queue is full; 503 otherwise and while draining (no API key
//	                needed, for load balancers)
//	GET  /info      model, limits, backend and version
//	GET  /metrics   Prometheus text exposition, every family prefixed armap_
//
// Errors are {"error": "...", "type": "..."} with these statuses:
//
//	400 invalid_request     malformed JSON, wrong types, unknown fields (names item index and field)
//	408 invalid_request     the body did not arrive within read_timeout
//	401 unauthorized        missing or wrong bearer token when an API key is configured
//	404 not_found, 405 method_not_allowed
//	413 payload_too_large   body over max_body_bytes, or more than max_items items
//	422 validation          empty items, no or both inputs, token ids outside the vocabulary, a
//	                        sequence over the length limit (unless truncate), text without a tokenizer
//	429 overloaded          the scorer's queue is full
//	499 (metrics only)      the client went away (or stopped sending its body); its queued work
//	                        is dropped and the connection closed without an answer
//	500 backend, internal   the model failed, or a handler panicked (recovered)
//	503 unhealthy           draining, the scorer is closed, or scoring outlived write_timeout
//
// Too many items is 413, as in TEI (its max_client_batch_size): the request is too big to take,
// not wrong in itself, and a client splitting it in two gets it scored.
package server

import (
	"fmt"
	"time"

	"github.com/armap/armap/engine/scorer"
)

// Config is the `serve:` section.
type Config struct {
	Addr            string        `mapstructure:"addr"`
	MaxBodyBytes    int64         `mapstructure:"max_body_bytes"`
	MaxItems        int           `mapstructure:"max_items"`        // items per request
	MaxInputTokens  int           `mapstructure:"max_input_tokens"` // longest sequence; 0 = the model's
	Truncate        bool          `mapstructure:"truncate"`         // cut over-long inputs instead of 422
	APIKeyEnv       string        `mapstructure:"api_key_env"`      // env var holding the bearer token; "" = no auth
	MaxBatchTokens  int           `mapstructure:"max_batch_tokens"` // token budget of one forward pass
	MaxWait         time.Duration `mapstructure:"max_wait"`         // how long a batch waits for company
	QueueLimit      int           `mapstructure:"queue_limit"`      // sequences waiting at most, beside the batch being formed
	ReadTimeout     time.Duration `mapstructure:"read_timeout"`
	WriteTimeout    time.Duration `mapstructure:"write_timeout"` // also bounds the scoring of one request
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
}

// DefaultConfig suits a reward model serving planners on one host.
func DefaultConfig() Config {
	so := scorer.DefaultOptions()
	return Config{
		Addr:            "127.0.0.1:8080",
		MaxBodyBytes:    8 << 20,
		MaxItems:        256,
		MaxBatchTokens:  so.MaxBatchTokens,
		MaxWait:         so.MaxWait,
		QueueLimit:      so.QueueLimit,
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    2 * time.Minute,
		ShutdownTimeout: 30 * time.Second,
	}
}

// ScorerOptions are the batcher settings of this configuration, for scorer.New.
func (c Config) ScorerOptions() scorer.Options {
	return scorer.Options{MaxBatchTokens: c.MaxBatchTokens, MaxWait: c.MaxWait, QueueLimit: c.QueueLimit}
}

// Validate rejects settings that cannot work, naming the key.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("serve.max_body_bytes must be positive, got %d", c.MaxBodyBytes)
	case c.MaxItems <= 0:
		return fmt.Errorf("serve.max_items must be positive, got %d", c.MaxItems)
	case c.MaxInputTokens < 0:
		return fmt.Errorf("serve.max_input_tokens must be 0 (the model's) or positive, got %d", c.MaxInputTokens)
	case c.MaxBatchTokens < 0 || c.QueueLimit < 0 || c.MaxWait < 0:
		return fmt.Errorf("serve.max_batch_tokens, queue_limit and max_wait must not be negative")
	case c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.ShutdownTimeout < 0:
		return fmt.Errorf("serve timeouts must not be negative (0 = none)")
	}
	// A request's items are queued all together or not at all (scorer.ScoreBatch).
	if q := c.ScorerOptions().WithDefaults().QueueLimit; c.MaxItems > q {
		return fmt.Errorf("serve.max_items (%d) is larger than serve.queue_limit (%d): such a request could never be queued", c.MaxItems, q)
	}
	return nil
}
