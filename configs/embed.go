// Package configs embeds the YAML defaults (model presets, training recipes, environment
// settings) so that the binary carries them; a file given with --config overrides them.
package configs

import "embed"

// FS holds every YAML file of this folder.
//
//go:embed *.yaml models/*.yaml
var FS embed.FS
