package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/armap/armap/pipeline/tokenizer"
)

// tokenize answers each line while the producer waits for it, and an interruption while it waits
// on stdin ends it with the cancellation (it used to wait for EOF, then exit 0).
func TestTokenizeStreams(t *testing.T) {
	tok, err := tokenizer.Train(context.Background(), slices.Values([]string{"make 24 from four numbers", "buy red shoes"}), 300, tokenizer.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tok.Save(path); err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot()
	root.SetIn(inR)
	root.SetOut(outW)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"tokenize", "--tokenizer", path})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); outW.Close() }()
	answers := bufio.NewReader(outR)
	for _, text := range []string{"make 24", "red shoes"} {
		if _, err := inW.Write([]byte(`{"text":"` + text + `"}` + "\n")); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() { l, _ := answers.ReadString('\n'); got <- l }()
		select {
		case l := <-got:
			if !strings.HasPrefix(l, `{"ids":[`) {
				t.Fatalf("%q: answer %q", text, l)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: no answer while the producer waits for it", text)
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted while waiting on stdin: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tokenize still waiting on stdin 5 s after the interruption")
	}
}
