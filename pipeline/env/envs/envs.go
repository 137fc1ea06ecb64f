// Package envs builds an environment factory from a kind's name, for the commands and pipelines
// that take the env as configuration (synthesis, evaluation).
package envs

import (
	"context"
	"fmt"
	"strings"

	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/game24"
	"github.com/armap/armap/pipeline/env/household"
	httpenv "github.com/armap/armap/pipeline/env/http"
	"github.com/armap/armap/pipeline/env/shop"
)

// Options are what the named kinds are built from.
type Options struct {
	// Seed generates the worlds (shop catalog, household scenes); 0 keeps each env's default.
	Seed uint64
	// HTTP configures kind "http": BaseURL is required; an empty Name is asked from the server.
	HTTP httpenv.Options
}

// Names lists the kinds Factory builds.
func Names() []string { return []string{"game24", "shop", "household", "http"} }

// Factory returns the factory of the env kind name. For "http" without HTTP.Name it asks the
// server once for its kind, so that trajectories carry the remote env's own name and the
// policies and negative makers for that kind apply.
func Factory(ctx context.Context, name string, opts Options) (env.Factory, error) {
	switch name {
	case "game24":
		return game24.NewFactory(game24.Options{}), nil
	case "shop":
		f, err := shop.NewFactory(shop.Config{Seed: opts.Seed})
		if err != nil {
			return nil, fmt.Errorf("shop env: %w", err)
		}
		return f, nil
	case "household":
		return household.NewFactory(household.Options{Seed: opts.Seed}), nil
	case "http":
		opt := opts.HTTP
		if opt.Name == "" {
			e, err := httpenv.New(ctx, opt)
			if err != nil {
				return nil, fmt.Errorf("http env %s: %w", opt.BaseURL, err)
			}
			opt.Name = e.Info().Name
			e.Close()
		}
		return httpenv.NewFactory(opt), nil
	}
	return nil, fmt.Errorf("unknown env %q (want %s)", name, strings.Join(Names(), ", "))
}
