package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// A configuration file or ARMAP_* variable with a key armap does not read is an error naming the
// file or variable and the key; a key that was renamed also names its new spelling.
func TestUnknownKeysNamed(t *testing.T) {
	cases := []struct {
		name, yaml, env string
		want            []string // substrings of the error; none: no error
	}{
		{name: "known", yaml: "fused_kernels: off\ntrain:\n  lr: 0.001\n"},
		{name: "typo", yaml: "train:\n  lrr: 0.001\n", want: []string{"unknown keys: train.lrr"}},
		{name: "renamed", yaml: "fused_add_norm: on\n", want: []string{"fused_add_norm (now fused_kernels)"}},
		{name: "renamed env", env: "ARMAP_FUSED_ADD_NORM", want: []string{"ARMAP_FUSED_ADD_NORM (now ARMAP_FUSED_KERNELS)"}},
		{name: "known env", env: "ARMAP_FUSED_KERNELS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLoader()
			l.defaults("", defaultConfig())
			var err error
			if c.yaml != "" {
				path := filepath.Join(t.TempDir(), "c.yaml")
				if werr := os.WriteFile(path, []byte(c.yaml), 0o644); werr != nil {
					t.Fatal(werr)
				}
				err = l.checkFile(path)
				if err != nil && !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
			} else {
				t.Setenv(c.env, "on")
				err = l.checkEnv()
			}
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// A value that does not parse is named with the value and where it came from.
func TestBadValueNamesItsSource(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, yaml, env, envValue string
		want                      []string
	}{
		{name: "file", yaml: "train:\n  steps: three\n", want: []string{`train.steps = "three"`, "config file " + filepath.Join(dir, "file.yaml"), "int"}},
		{name: "env", env: "ARMAP_TRAIN_LR", envValue: "abc", want: []string{`train.lr = "abc"`, "environment variable ARMAP_TRAIN_LR", "float64"}},
		{name: "env over file", yaml: "train:\n  lr: 0.1\n", env: "ARMAP_TRAIN_LR", envValue: "x", want: []string{`train.lr = "x"`, "environment variable ARMAP_TRAIN_LR"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLoader()
			l.defaults("", defaultConfig())
			cmd := &cobra.Command{}
			addConfigFlag(cmd.Flags())
			if c.yaml != "" {
				path := filepath.Join(dir, c.name+".yaml")
				if err := os.WriteFile(path, []byte(c.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				cmd.Flags().Set("config", path)
			}
			if c.env != "" {
				t.Setenv(c.env, c.envValue)
			}
			cfg := defaultConfig()
			err := l.load(cmd, &cfg)
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not say %q", err, w)
				}
			}
		})
	}
}
