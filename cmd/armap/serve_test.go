package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/server"
	"github.com/armap/armap/internal/testenv"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/render"
	"github.com/armap/armap/pipeline/tokenizer"
)

// syncBuffer is a bytes.Buffer safe for the command's goroutine and the test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveModelDir writes a tiny model directory with a trained tokenizer.json, and returns it
// with the model loaded back for offline scores.
func serveModelDir(t *testing.T) (string, *cgo.Model, *tokenizer.Tokenizer) {
	t.Helper()
	b := testenv.CPUBackend(t)
	cfg, _ := model.Preset("tiny")
	m, err := b.NewModel(cfg.Backend(), cgo.ModelOptions{Seed: 21})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	if err := model.Save(context.Background(), m, cfg, dir); err != nil {
		t.Fatal(err)
	}
	texts := []string{"Instruction: buy red shoes\nAction: search red shoes\nObservation: 3 results", "Instruction: make 24\nAction: 4 * 6 = 24\nObservation: done"}
	tok, err := tokenizer.Train(context.Background(), slices.Values(texts), 300, tokenizer.TrainOptions{SpecialTokens: []string{"<|endoftext|>"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(filepath.Join(dir, model.TokenizerFile)); err != nil {
		t.Fatal(err)
	}
	loaded, _, _, err := model.Load(b, dir, cgo.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loaded.Close() })
	return dir, loaded, tok
}

// armap serve end to end: configuration file, text and id items against offline scores, and a
// real SIGTERM that drains and returns nil (exit status 0).
func TestServeCommand(t *testing.T) {
	dir, m, tok := serveModelDir(t)
	conf := filepath.Join(t.TempDir(), "armap.yaml")
	os.WriteFile(conf, []byte("serve:\n  max_items: 3\n  max_wait: 7ms\n  max_input_tokens: 100\n"), 0o644)
	root := newRoot()
	var stderr syncBuffer
	root.SetErr(&stderr)
	root.SetOut(io.Discard)
	root.SetArgs([]string{"serve", "--model", dir, "--addr", "127.0.0.1:0", "--config", conf, "--threads", "1"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(context.Background()) }()
	addrRE := regexp.MustCompile(`on http://(\S+),`)
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if mm := addrRE.FindStringSubmatch(stderr.String()); mm != nil {
			addr = mm[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended early: %v\n%s", err, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
	}
	url := "http://" + addr

	resp, err := http.Get(url + "/info")
	if err != nil {
		t.Fatal(err)
	}
	var info server.InfoResponse
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.Limits.MaxItems != 3 || info.Limits.MaxWaitMS != 7 || info.Limits.MaxInputTokens != 100 || info.Tokenizer == "" ||
		info.Architecture != "BertForSequenceClassification" || info.Parameters == 0 {
		t.Fatalf("info does not reflect the config file: %+v", info)
	}

	steps := []dataset.Step{{Action: "search red shoes", Observation: "3 results"}}
	body, _ := json.Marshal(server.ScoreRequest{Items: []dataset.ScoreRequest{
		{ID: "text", Instruction: "buy red shoes", Steps: steps}, {ID: "ids", InputIDs: []int32{5, 6, 7, 8}}}})
	resp, err = http.Post(url+"/v1/score", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got server.ScoreResponse
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	textIDs, _ := (&render.Encoder{Tok: tok, MaxLen: 100}).Encode("buy red shoes", steps)
	for i, ids := range [][]int32{textIDs, {5, 6, 7, 8}} {
		want, err := m.Score(&cgo.Batch{Tokens: ids, CuSeqlens: []int32{0, int32(len(ids))}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || len(got.Scores) != 2 || math.Abs(got.Scores[i].Score-float64(want[0])) > 1e-5 {
			t.Fatalf("served %d %+v, offline score of item %d %v", resp.StatusCode, got, i, want[0])
		}
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(stderr.String(), "serve: stopped") {
		t.Fatalf("no drain report:\n%s", stderr.String())
	}
}

func TestServeRefusesPreset(t *testing.T) {
	root := newRoot()
	root.SetErr(io.Discard)
	root.SetArgs([]string{"serve", "--model", "tiny"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "trained model directory") {
		t.Fatalf("got %v", err)
	}
}

func TestBenchServeSmall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	root := newRoot()
	root.SetErr(io.Discard)
	root.SetArgs([]string{"bench", "serve", "--sequences", "96", "--clients", "16", "--rounds", "1", "--min-len", "8", "--max-len", "48", "--threads", "1", "--out", out})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep benchServeReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	s := rep.Served
	if rep.Sequences != 96 || s.Errors != 0 || s.Clients != 16 || s.MaxAbsDiff > 1e-5 || rep.ServedOverOffline <= 0 ||
		s.LatencyMS.P50 <= 0 || s.LatencyMS.P50 > s.LatencyMS.P99 || s.Batches == 0 || s.Batches > 96 || rep.Tokens < 96*8 {
		t.Fatalf("report %s", data)
	}
}
