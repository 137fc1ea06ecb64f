// Package llm is an OpenAI-compatible chat-completions client. It speaks the subset of the
// protocol that vLLM, Ollama (through its /v1 endpoint) and OpenAI all implement, and adds what a
// synthesis or planning run of many thousand calls needs: retries with backoff on transient
// failures, a per-client concurrency limit, servers that ignore `n`, and usage counters.
package llm

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config says where the model is served and how it is sampled. It is meant to be filled by viper
// (hence the mapstructure tags); start from DefaultConfig and override what differs.
//
// The API key never lives in a config file: APIKeyEnv names the environment variable that holds
// it, and the variable is read at each request (so a rotated key is picked up without a restart).
type Config struct {
	// BaseURL includes the API version path, e.g. http://localhost:8000/v1 (vLLM),
	// http://localhost:11434/v1 (Ollama), https://api.openai.com/v1 (OpenAI).
	BaseURL string `mapstructure:"base_url"`
	Model   string `mapstructure:"model"`
	// APIKeyEnv names the environment variable with the bearer token, read with surrounding white
	// space trimmed. When the variable is unset or blank no Authorization header is sent (local
	// vLLM and Ollama need none).
	APIKeyEnv string `mapstructure:"api_key_env"`

	Temperature float64 `mapstructure:"temperature"`
	TopP        float64 `mapstructure:"top_p"`
	N           int     `mapstructure:"n"`
	// MaxTokens, when positive, is the max_tokens of every request, overriding the budget each
	// call asks for (Options.MaxTokens: 256 for a policy action, 160 for a refined instruction,
	// ...). Raise it for reasoning models, which spend hundreds of tokens thinking before they
	// answer. 0 (the default) lets each call ask for its own budget, and the server's default
	// applies to a call that asks for none.
	MaxTokens int      `mapstructure:"max_tokens"`
	Stop      []string `mapstructure:"stop"`
	// Seed is sent as the request's `seed` when set. vLLM honours it (reproducible sampling);
	// OpenAI treats it as best effort; Ollama passes it to its sampler.
	Seed *int64 `mapstructure:"seed"`

	// Timeout bounds one HTTP attempt (connect, generation and reading the body), not a whole
	// Chat call with its retries; bound those with the context.
	Timeout     time.Duration `mapstructure:"timeout"`
	MaxRetries  int           `mapstructure:"max_retries"`
	BackoffBase time.Duration `mapstructure:"backoff_base"`
	BackoffMax  time.Duration `mapstructure:"backoff_max"`
	// Concurrency caps the HTTP requests in flight for one Client, across all goroutines.
	Concurrency int `mapstructure:"concurrency"`
	// JitterSeed seeds the backoff jitter, so that even retry timing is reproducible given the
	// same sequence of failures.
	JitterSeed uint64 `mapstructure:"jitter_seed"`
}

// DefaultConfig targets a local vLLM server. Model has no sensible default and must be set.
func DefaultConfig() Config {
	return Config{
		BaseURL:     "http://localhost:8000/v1",
		APIKeyEnv:   "OPENAI_API_KEY",
		Temperature: 0.7,
		TopP:        1.0,
		N:           1,
		Timeout:     120 * time.Second,
		MaxRetries:  5,
		BackoffBase: 500 * time.Millisecond,
		BackoffMax:  30 * time.Second,
		Concurrency: 16,
		JitterSeed:  1,
	}
}

// Validate reports every invalid field at once, named by its config key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("llm config %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.BaseURL); err != nil {
		bad("base_url", "%v", err)
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("base_url", "want an http(s) URL with a host, got %q", c.BaseURL)
	}
	if strings.TrimSpace(c.Model) == "" {
		bad("model", "is empty (the served model name, e.g. what vLLM's --served-model-name says)")
	}
	if c.Temperature < 0 || c.Temperature > 2 {
		bad("temperature", "%g is outside [0, 2]", c.Temperature)
	}
	if c.TopP <= 0 || c.TopP > 1 {
		bad("top_p", "%g is outside (0, 1]", c.TopP)
	}
	if c.N < 1 {
		bad("n", "%d < 1", c.N)
	}
	if c.MaxTokens < 0 {
		bad("max_tokens", "%d < 0", c.MaxTokens)
	}
	if c.Timeout <= 0 {
		bad("timeout", "%v must be positive", c.Timeout)
	}
	if c.MaxRetries < 0 {
		bad("max_retries", "%d < 0", c.MaxRetries)
	}
	if c.BackoffBase <= 0 {
		bad("backoff_base", "%v must be positive", c.BackoffBase)
	}
	if c.BackoffMax < c.BackoffBase {
		bad("backoff_max", "%v is below backoff_base %v", c.BackoffMax, c.BackoffBase)
	}
	if c.Concurrency < 1 {
		bad("concurrency", "%d < 1", c.Concurrency)
	}
	return errors.Join(errs...)
}
