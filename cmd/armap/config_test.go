package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
