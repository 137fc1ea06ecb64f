package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/trainer"
)

// writePairs writes n pre-tokenized triplets (no tokenizer needed).
func writePairs(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"id":"p%d","chosen_input_ids":[5,%d,7,9],"rejected_input_ids":[5,%d,8]}`+"\n", i, 10+i%50, 11+i%40)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The output directory may not be the model's directory nor hold the data, however it is spelled.
func TestCheckTrainOut(t *testing.T) {
	root := t.TempDir()
	mdir := filepath.Join(root, "model")
	os.Mkdir(mdir, 0o755)
	ddir := filepath.Join(root, "data")
	os.Mkdir(ddir, 0o755)
	data := filepath.Join(ddir, "train.jsonl")
	os.WriteFile(data, nil, 0o644)
	os.Symlink(mdir, filepath.Join(root, "link"))
	cases := []struct {
		name, out, model string
		data             []string
		err              string
	}{
		{"model dir", mdir, mdir, nil, "is the --model directory"},
		{"model dir with slash", mdir + "/", mdir, nil, "is the --model directory"},
		{"model dir via ..", filepath.Join(ddir, "..", "model"), mdir, nil, "is the --model directory"},
		{"model dir via symlink", filepath.Join(root, "link"), mdir, nil, "is the --model directory"},
		{"data dir", ddir, "", []string{data}, "holds the data file"},
		{"eval data dir", ddir, mdir, []string{"-", filepath.Join(root, "link", "..", "data", "train.jsonl")}, "holds the data file"},
		{"inside the model dir", filepath.Join(mdir, "ft"), mdir, []string{data}, ""},
		{"new dir", filepath.Join(root, "new", "run"), mdir, []string{data, "-"}, ""},
	}
	for _, c := range cases {
		err := checkTrainOut(c.out, c.model, c.data)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.err)
		}
	}
}

// The train command refuses an --out that is the model directory or holds a run before it reads
// the data; a finished run resumed is reported complete.
func TestTrainCommandOut(t *testing.T) {
	root := t.TempDir()
	mdir := filepath.Join(root, "model")
	cfg, err := model.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(mdir, 0o755)
	if err := model.WriteConfig(cfg, mdir); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(root, "missing.jsonl")
	if _, err := runArmap(t, "train", "--data", missing, "--model", mdir, "--out", mdir); err == nil || !strings.Contains(err.Error(), "--model directory") {
		t.Fatalf("--out = --model: %v", err)
	}
	used := filepath.Join(root, "used")
	os.Mkdir(used, 0o755)
	os.WriteFile(filepath.Join(used, "metrics.jsonl"), nil, 0o644)
	if _, err := runArmap(t, "train", "--data", missing, "--model", "tiny", "--out", used); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("used --out: %v", err)
	}

	data := filepath.Join(root, "train.jsonl")
	writePairs(t, data, 40)
	out := filepath.Join(root, "run")
	args := []string{"train", "--data", data, "--model", "tiny", "--out", out, "--steps", "2", "--batch-tokens", "128", "--threads", "1"}
	if _, err := runArmap(t, args...); err != nil {
		t.Fatal(err)
	}
	if _, err := runArmap(t, args...); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Fatalf("second run into %s: %v", out, err)
	}
	if o, err := runArmap(t, append(args, "--resume")...); err != nil || !strings.Contains(o, `"already_complete": true`) {
		t.Fatalf("resume of a finished run: %v\n%s", err, o)
	}
}

// An interrupted run says which checkpoint it left and that --resume continues; the error still
// is context.Canceled for the exit status.
func TestInterruptedMessage(t *testing.T) {
	cancelled := fmt.Errorf("step 3: %w", context.Canceled)
	err := interrupted(cancelled, &trainer.Summary{Steps: 7, Checkpoint: "out/checkpoints/step-00000007"})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "out/checkpoints/step-00000007") || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("with a checkpoint: %v", err)
	}
	err = interrupted(cancelled, &trainer.Summary{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "no new checkpoint") {
		t.Errorf("without one: %v", err)
	}
	other := errors.New("disk full")
	if err := interrupted(other, &trainer.Summary{Checkpoint: "x"}); err != other {
		t.Errorf("other error changed: %v", err)
	}
}

// Fine-tuning a HuggingFace directory exports its tokenizer's side files with tokenizer.json.
func TestFineTuneKeepsTokenizerFiles(t *testing.T) {
	src, _, _ := serveModelDir(t)
	side := []byte(`{"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512, "pad_token": "<|endoftext|>"}` + "\n")
	if err := os.WriteFile(filepath.Join(src, "tokenizer_config.json"), side, 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	data := filepath.Join(root, "train.jsonl")
	writePairs(t, data, 20)
	out := filepath.Join(root, "ft")
	if _, err := runArmap(t, "train", "--data", data, "--model", src, "--out", out, "--steps", "1", "--batch-tokens", "128", "--threads", "1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{model.TokenizerFile, "tokenizer_config.json"} {
		want, _ := os.ReadFile(filepath.Join(src, name))
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s in the export: %v (%d bytes, source %d)", name, err, len(got), len(want))
		}
	}
}

// score and tokenizer train refuse an --out that would overwrite their input or the model.
func TestOutputIsNotAnInput(t *testing.T) {
	dir, _, _ := serveModelDir(t)
	root := t.TempDir()
	req := filepath.Join(root, "req.jsonl")
	os.WriteFile(req, []byte(`{"id":"a","input_ids":[5,6]}`+"\n"), 0o644)
	trip := filepath.Join(root, "trip.jsonl")
	os.WriteFile(trip, []byte(`{"id":"t","instruction":"go","chosen":{"steps":[{"action":"a","observation":"o"}]},"rejected":{"steps":[{"action":"b","observation":"o"}]}}`+"\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"score", "--model", dir, "--data", req, "--out", req}, "is an input"},
		{[]string{"score", "--model", dir, "--data", req, "--out", filepath.Join(dir, "model.safetensors")}, "model directory"},
		{[]string{"score", "--model", dir, "--data", req, "--batch-tokens", "0"}, "batch_tokens"},
		{[]string{"score", "--model", dir, "--data", req, "--max-length", "-5"}, "max_length"},
		{[]string{"score", "--model", dir, "--data", req, "--threads", "-3"}, "threads"},
		{[]string{"tokenizer", "train", "--data", trip, "--out", trip}, "is an input"},
		{[]string{"tokenizer", "train", "--data", trip, "--out", filepath.Join(root, "tok.json"), "--min-frequency", "-3"}, "min_frequency"},
	} {
		if _, err := runArmap(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	for _, p := range []string{req, trip} {
		if data, _ := os.ReadFile(p); !strings.HasPrefix(string(data), `{"id":`) {
			t.Errorf("%s was overwritten: %.60q", p, data)
		}
	}
}
