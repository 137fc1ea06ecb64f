package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
	"github.com/armap/armap/engine/scorer"
	"github.com/armap/armap/engine/trainer"
	"github.com/armap/armap/internal/testenv"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/render"
	"github.com/armap/armap/pipeline/tokenizer"
)

const testVocab = 1024

func tinyModel(t testing.TB) *cgo.Model {
	t.Helper()
	b := testenv.CPUBackendThreads(t, 1)
	cfg, err := model.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.NewModel(cfg.Backend(), cgo.ModelOptions{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var words = strings.Fields("go to the kitchen take apple from table open fridge put it in search for red shoes under 40 dollars click buy now " +
	"add 3 and 5 multiply 8 by 3 subtract observation you see a drawer nothing happens the price is")

func sentence(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = words[r.IntN(len(words))]
	}
	return strings.Join(w, " ")
}

// testEncoder is a real byte-level BPE trained on the test's own word list (a few ms), so text
// items go through the same tokenizer code as a model directory's tokenizer.json.
func testEncoder(t testing.TB, maxLen int) *render.Encoder {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	var texts []string
	for i := 0; i < 200; i++ {
		texts = append(texts, render.Text(sentence(r, 6), []dataset.Step{{Action: sentence(r, 3), Observation: sentence(r, 5)}}, 0))
	}
	tok, err := tokenizer.Train(context.Background(), slices.Values(texts), 320, tokenizer.TrainOptions{SpecialTokens: []string{"<|endoftext|>"}})
	if err != nil {
		t.Fatal(err)
	}
	return &render.Encoder{Tok: tok, MaxLen: maxLen}
}

type fixture struct {
	m   *cgo.Model
	sc  *scorer.Scorer
	srv *Server
	enc *render.Encoder
}

func newFixture(t testing.TB, m *cgo.Model, enc *render.Encoder, maxLen int, cfg Config) *fixture {
	t.Helper()
	in := &scorer.Inputs{Vocab: testVocab, MaxLen: maxLen}
	if enc != nil {
		in.Enc = enc
	}
	sc := scorer.New(m, in, cfg.ScorerOptions())
	t.Cleanup(sc.Close)
	srv, err := New(sc, Info{ModelID: "tiny", Architecture: "BertForSequenceClassification", Backend: "cpu", Device: "cpu"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{m: m, sc: sc, srv: srv, enc: enc}
}

func post(t testing.TB, c *http.Client, url, key string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/score", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// The load test: 40 clients at once against a real listener, mixing text and token-id items and
// requests of 1 to 4 items; every answer is 200 and equals the offline score of the same
// sequence, and the metrics count what happened.
func TestLoadServedEqualsOffline(t *testing.T) {
	m := tinyModel(t)
	enc := testEncoder(t, 96)
	cfg := DefaultConfig()
	cfg.MaxBatchTokens, cfg.MaxWait = 1024, 3*time.Millisecond
	f := newFixture(t, m, enc, 96, cfg)
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()

	const clients, perClient = 40, 6
	r := rand.New(rand.NewPCG(3, 4))
	type job struct {
		items []dataset.ScoreRequest
		seqs  [][]int32 // what the items tokenize to, for the offline pass
	}
	jobs := make([][]job, clients)
	var all [][]int32
	for c := range jobs {
		for k := 0; k < perClient; k++ {
			var j job
			for i := 0; i < 1+r.IntN(4); i++ {
				id := fmt.Sprintf("c%d-r%d-i%d", c, k, i)
				if r.IntN(2) == 0 {
					ids := make([]int32, 2+r.IntN(62))
					for x := range ids {
						ids[x] = int32(r.IntN(testVocab))
					}
					j.items = append(j.items, dataset.ScoreRequest{ID: id, InputIDs: ids})
					j.seqs = append(j.seqs, ids)
				} else {
					steps := []dataset.Step{{Action: sentence(r, 3), Observation: sentence(r, 4)}}
					if r.IntN(2) == 0 {
						steps = append(steps, dataset.Step{Action: sentence(r, 2)})
					}
					it := dataset.ScoreRequest{ID: id, Instruction: sentence(r, 5), Steps: steps}
					ids, tr := enc.Encode(it.Instruction, it.Steps)
					if tr {
						t.Fatalf("test text too long for the encoder: %d tokens", len(ids))
					}
					j.items = append(j.items, it)
					j.seqs = append(j.seqs, ids)
				}
			}
			all = append(all, j.seqs...)
			jobs[c] = append(jobs[c], j)
		}
	}
	offline, err := trainer.ScoreAll(m, all, 2048)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	n := 0
	for _, js := range jobs {
		for _, j := range js {
			for _, it := range j.items {
				want[it.ID] = float64(offline[n])
				n++
			}
		}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for _, j := range jobs[c] {
				body, _ := json.Marshal(ScoreRequest{Items: j.items})
				code, data := post(t, client, ts.URL, "", body)
				var resp ScoreResponse
				if code != 200 || json.Unmarshal(data, &resp) != nil || len(resp.Scores) != len(j.items) {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("client %d: %d %s", c, code, data))
					mu.Unlock()
					continue
				}
				for i, s := range resp.Scores {
					if s.ID != j.items[i].ID || math.Abs(s.Score-want[s.ID]) > 1e-5 {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("item %d: got %s=%v, want %s=%v", i, s.ID, s.Score, j.items[i].ID, want[j.items[i].ID]))
						mu.Unlock()
					}
				}
			}
		}(c)
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %s", len(failures), failures[0])
	}

	fams := gather(t, f.srv)
	if got := counterValue(fams, "armap_items_scored_total", nil); got != float64(len(all)) {
		t.Errorf("items scored %v, want %d", got, len(all))
	}
	ntok := 0
	for _, s := range all {
		ntok += len(s)
	}
	if got := counterValue(fams, "armap_tokens_scored_total", nil); got != float64(ntok) {
		t.Errorf("tokens scored %v, want %d", got, ntok)
	}
	if got := counterValue(fams, "armap_requests_total", map[string]string{"endpoint": "score", "code": "200"}); got != clients*perClient {
		t.Errorf("requests 200: %v, want %d", got, clients*perClient)
	}
	batches := histogram(fams, "armap_batch_sequences")
	if batches.GetSampleSum() != float64(len(all)) || batches.GetSampleCount() >= uint64(len(all)) {
		t.Errorf("batch sizes: %d batches for %v sequences, want fewer batches than sequences (no batching?)", batches.GetSampleCount(), batches.GetSampleSum())
	}
	if h := histogram(fams, "armap_batch_tokens"); h.GetSampleSum() != float64(ntok) {
		t.Errorf("batch tokens sum %v, want %d", h.GetSampleSum(), ntok)
	}
	if h := histogram(fams, "armap_queue_duration_seconds"); h.GetSampleCount() != uint64(len(all)) {
		t.Errorf("queue time samples %d, want %d", h.GetSampleCount(), len(all))
	}
	if h := histogram(fams, "armap_request_duration_seconds"); h.GetSampleCount() != clients*perClient {
		t.Errorf("latency samples %d, want %d", h.GetSampleCount(), clients*perClient)
	}
}

func gather(t testing.TB, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for _, lp := range m.GetLabel() {
		if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
			return false
		}
	}
	return true
}

func counterValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	sum := 0.0
	for _, m := range fams[name].GetMetric() {
		if matches(m, labels) {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func histogram(fams map[string]*dto.MetricFamily, name string) *dto.Histogram {
	ms := fams[name].GetMetric()
	if len(ms) == 0 {
		return &dto.Histogram{}
	}
	return ms[0].GetHistogram()
}

const testKeyEnv = "ARMAP_SERVER_TEST_KEY"

func TestErrors(t *testing.T) {
	m := tinyModel(t)
	t.Setenv(testKeyEnv, "s3cret\n") // as a secret made from a file holds it
	cfg := DefaultConfig()
	cfg.MaxItems, cfg.MaxBodyBytes, cfg.MaxInputTokens, cfg.APIKeyEnv = 3, 4096, 16, testKeyEnv
	f := newFixture(t, m, testEncoder(t, 16), 64, cfg)
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	ids := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprint(i + 1)
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	long := strings.Repeat("take apple from table ", 20)
	cases := []struct {
		name, method, path, key, body string
		code                          int
		typ, contains                 string
	}{
		{"ok", "POST", "/v1/score", "s3cret", `{"items":[{"id":"a","input_ids":[1,2,3]}]}`, 200, "", `"id":"a"`},
		{"no key", "POST", "/v1/score", "", `{"items":[{"id":"a","input_ids":[1]}]}`, 401, typeAuth, "API key"},
		{"wrong key", "POST", "/v1/score", "nope", `{"items":[{"id":"a","input_ids":[1]}]}`, 401, typeAuth, "API key"},
		{"info needs key", "GET", "/info", "", "", 401, typeAuth, ""},
		{"health needs no key", "GET", "/health", "", "", 200, "", `"ok"`},
		{"wrong method", "GET", "/v1/score", "s3cret", "", 405, typeMethod, "use POST"},
		{"wrong method on health", "POST", "/health", "", "", 405, typeMethod, "use GET"},
		{"unknown path", "GET", "/v2/embed", "s3cret", "", 404, typeNotFound, "/v2/embed"},
		{"body too large", "POST", "/v1/score", "s3cret", `{"items":[{"id":"` + strings.Repeat("x", 5000) + `","input_ids":[1]}]}`, 413, typeTooLarge, "max_body_bytes 4096"},
		{"too many items", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]},{"input_ids":[1]},{"input_ids":[1]},{"input_ids":[1]}]}`, 413, typeTooLarge, "max_items 3"},
		{"empty body", "POST", "/v1/score", "s3cret", ``, 400, typeInvalid, "empty"},
		{"malformed", "POST", "/v1/score", "s3cret", `{"items":[{"id":"a",]}`, 400, typeInvalid, "malformed JSON"},
		{"truncated json", "POST", "/v1/score", "s3cret", `{"items":[{"id":"a"`, 400, typeInvalid, "unexpected end"},
		{"trailing data", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]}]} {}`, 400, typeInvalid, "after the JSON object"},
		{"no items field", "POST", "/v1/score", "s3cret", `{}`, 400, typeInvalid, `"items" is missing`},
		{"items not array", "POST", "/v1/score", "s3cret", `{"items":{"id":"a"}}`, 400, typeInvalid, `"items": expected an array`},
		{"unknown top field", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]}],"model":"x"}`, 400, typeInvalid, `unknown field "model"`},
		{"item not object", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]},[1,2]]}`, 400, typeInvalid, "items[1]: expected an object, got an array"},
		{"item null", "POST", "/v1/score", "s3cret", `{"items":[null]}`, 400, typeInvalid, "items[0]: expected an object, got null"},
		{"unknown item field", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]},{"input_id":[1]}]}`, 400, typeInvalid, `items[1]: unknown field "input_id"`},
		{"unknown step field", "POST", "/v1/score", "s3cret", `{"items":[{"steps":[{"action":"a"},{"acton":"b"}]}]}`, 400, typeInvalid, `items[0].steps[1]: unknown field "acton"`},
		{"key given twice", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]},{"steps":[{"action":"a"},{"action":"b","action":"c"}]}]}`, 400, typeInvalid, `items[1].steps[1]: duplicate key "action"`},
		{"key in another case", "POST", "/v1/score", "s3cret", `{"items":[{"Input_IDs":[1]}]}`, 400, typeInvalid, `items[0].Input_IDs: key "Input_IDs" is written "input_ids"`},
		{"items given twice", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]}],"items":[{"input_ids":[2]}]}`, 400, typeInvalid, `request body: duplicate key "items"`},
		{"items in another case", "POST", "/v1/score", "s3cret", `{"Items":[{"input_ids":[1]}]}`, 400, typeInvalid, `Items: key "Items" is written "items"`},
		{"unknown field with a dot", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]},{"steps":[{"x.y":1}]}]}`, 400, typeInvalid, `items[1].steps[0]: unknown field "x.y"`},
		{"id not string", "POST", "/v1/score", "s3cret", `{"items":[{"id":5,"input_ids":[1]}]}`, 400, typeInvalid, "items[0].id: expected a string, got number"},
		{"token not integer", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]},{"input_ids":[1,2,"x"]}]}`, 400, typeInvalid, "items[1].input_ids[2]: expected an integer token id"},
		{"token overflows int32", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1,3000000000]}]}`, 400, typeInvalid, "items[0].input_ids[1]: expected an integer token id (int32), got number 3000000000"},
		{"step action not string", "POST", "/v1/score", "s3cret", `{"items":[{"instruction":"go","steps":[{"action":"a"},{"action":7}]}]}`, 400, typeInvalid, "items[0].steps[1].action: expected a string"},
		{"steps not array", "POST", "/v1/score", "s3cret", `{"items":[{"instruction":"go","steps":"open"}]}`, 400, typeInvalid, "items[0].steps: expected an array"},
		{"empty items", "POST", "/v1/score", "s3cret", `{"items":[]}`, 422, typeValidation, "empty"},
		{"neither input", "POST", "/v1/score", "s3cret", `{"items":[{"id":"a"}]}`, 422, typeValidation, "items[0]: neither"},
		{"both inputs", "POST", "/v1/score", "s3cret", `{"items":[{"id":"a","input_ids":[1],"instruction":"go"}]}`, 422, typeValidation, "not both"},
		{"token outside vocab", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[1]},{"input_ids":[1,2,5000]}]}`, 422, typeValidation, "items[1].input_ids[2]: token id 5000 is outside the vocabulary [0, 1024)"},
		{"negative token", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":[-1]}]}`, 422, typeValidation, "items[0].input_ids[0]"},
		{"ids too long", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":` + ids(17) + `}]}`, 422, typeValidation, "items[0].input_ids: 17 tokens, more than the limit of 16"},
		{"ids at the limit", "POST", "/v1/score", "s3cret", `{"items":[{"input_ids":` + ids(16) + `}]}`, 200, "", `"score"`},
		{"text too long", "POST", "/v1/score", "s3cret", `{"items":[{"id":"t","instruction":"go","steps":[{"action":"` + long + `"}]}]}`, 422, typeValidation, "items[0]: the rendered trajectory is longer than the limit of 16"},
		{"text ok", "POST", "/v1/score", "s3cret", `{"items":[{"id":"t","instruction":"go","steps":[{"action":"open fridge"}]}]}`, 200, "", `"id":"t"`},
	}
	c := ts.Client()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, data)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			text := string(data)
			if tc.typ != "" {
				var e ErrorResponse
				if err := json.Unmarshal(data, &e); err != nil || e.Type != tc.typ || e.Error == "" {
					t.Fatalf("error body %s (%v), want type %s", data, err, tc.typ)
				}
				text = e.Error
			}
			if !strings.Contains(text, tc.contains) {
				t.Fatalf("%q does not contain %q", text, tc.contains)
			}
			switch tc.code {
			case 405:
				if resp.Header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			case 401:
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
	fams := gather(t, f.srv)
	for code, n := range map[string]int{"400": 21, "401": 2, "413": 2, "422": 7, "405": 1} {
		if got := counterValue(fams, "armap_requests_total", map[string]string{"endpoint": "score", "code": code}); got != float64(n) {
			t.Errorf("requests with code %s: %v, want %d", code, got, n)
		}
	}
	if got := counterValue(fams, "armap_request_failures_total", map[string]string{"type": typeValidation}); got != 7 {
		t.Errorf("validation failures %v, want 7", got)
	}
	// Refusals in front of the handlers count as failures too (401 on /v1/score and /info, 405 on
	// /v1/score and /health).
	for typ, n := range map[string]float64{typeAuth: 3, typeMethod: 2} {
		if got := counterValue(fams, "armap_request_failures_total", map[string]string{"type": typ}); got != n {
			t.Errorf("%s failures %v, want %v", typ, got, n)
		}
	}
	// The auth scheme is case-insensitive.
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/score", strings.NewReader(`{"items":[{"input_ids":[1]}]}`))
	req.Header.Set("Authorization", "bearer s3cret")
	if resp, err := ts.Client().Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("lowercase bearer: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	t.Run("api key env unset refuses to start", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.APIKeyEnv = "ARMAP_SERVER_TEST_UNSET_KEY"
		if _, err := New(f.sc, Info{}, cfg); err == nil || !strings.Contains(err.Error(), cfg.APIKeyEnv) {
			t.Fatalf("got %v", err)
		}
	})
}

// With truncate, over-long inputs are cut (head and tail kept) and counted, and the score is
// that of the cut sequence.
func TestTruncate(t *testing.T) {
	m := tinyModel(t)
	cfg := DefaultConfig()
	cfg.MaxInputTokens, cfg.Truncate = 10, true
	f := newFixture(t, m, testEncoder(t, 64), 64, cfg)
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	long := make([]int32, 25)
	for i := range long {
		long[i] = int32(100 + i)
	}
	text := dataset.ScoreRequest{ID: "t", Instruction: "search for red shoes", Steps: []dataset.Step{
		{Action: "go to the kitchen", Observation: "you see a drawer"}, {Action: "open fridge", Observation: "nothing happens"}}}
	body, _ := json.Marshal(ScoreRequest{Items: []dataset.ScoreRequest{{ID: "ids", InputIDs: long}, text, {ID: "short", InputIDs: long[:5]}}})
	code, data := post(t, ts.Client(), ts.URL, "", body)
	if code != 200 {
		t.Fatalf("%d %s", code, data)
	}
	var resp ScoreResponse
	json.Unmarshal(data, &resp)
	cutIDs := append(append([]int32{}, long[:5]...), long[20:]...)
	textIDs, _ := f.enc.Encode(text.Instruction, text.Steps)
	if len(textIDs) <= 10 {
		t.Fatalf("test text has only %d tokens", len(textIDs))
	}
	textIDs = cut(textIDs, 10)
	want, err := trainer.ScoreAll(m, [][]int32{cutIDs, textIDs, long[:5]}, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range resp.Scores {
		if math.Abs(s.Score-float64(want[i])) > 1e-5 {
			t.Errorf("%s: served %v, offline of the cut sequence %v", s.ID, s.Score, want[i])
		}
	}
	if got := counterValue(gather(t, f.srv), "armap_truncations_total", nil); got != 2 {
		t.Errorf("truncations %v, want 2", got)
	}
	if got := f.srv.Stats().Truncated; got != 2 {
		t.Errorf("Stats().Truncated %d, want 2 (the line serve logs when it stops)", got)
	}
}

func TestTextNeedsTokenizer(t *testing.T) {
	f := newFixture(t, tinyModel(t), nil, 64, DefaultConfig())
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	code, data := post(t, ts.Client(), ts.URL, "", []byte(`{"items":[{"input_ids":[4]},{"instruction":"go","steps":[{"action":"a"}]}]}`))
	if code != 422 || !strings.Contains(string(data), "items[1]: text items need the model's tokenizer.json") {
		t.Fatalf("%d %s", code, data)
	}
}

// Shutdown: the request in flight is answered, /health says draining meanwhile, Serve returns
// nil, and new connections are refused.
func TestShutdownDrains(t *testing.T) {
	m := tinyModel(t)
	cfg := DefaultConfig()
	// A lone request waits this long for company, which keeps it in flight during Shutdown.
	cfg.MaxWait = 400 * time.Millisecond
	f := newFixture(t, m, nil, 64, cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(l) }()

	type answer struct {
		code int
		data []byte
	}
	got := make(chan answer, 1)
	go func() {
		code, data := post(t, http.DefaultClient, url, "", []byte(`{"items":[{"id":"x","input_ids":[5,6,7]}]}`))
		got <- answer{code, data}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(gather(t, f.srv), "armap_requests_in_flight", nil) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the request never got in flight")
		}
		time.Sleep(2 * time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() { shut <- f.srv.Shutdown(context.Background()) }()
	for !f.srv.Draining() {
		time.Sleep(time.Millisecond)
	}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "draining") {
		t.Errorf("health while draining: %d %s", rec.Code, rec.Body)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) before the in-flight request was answered", err)
	case <-time.After(50 * time.Millisecond):
	}
	a := <-got
	want, _ := m.Score(&cgo.Batch{Tokens: []int32{5, 6, 7}, CuSeqlens: []int32{0, 3}})
	var resp ScoreResponse
	if a.code != 200 || json.Unmarshal(a.data, &resp) != nil || math.Abs(resp.Scores[0].Score-float64(want[0])) > 1e-5 {
		t.Fatalf("in-flight request: %d %s, want score %v", a.code, a.data, want[0])
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("new connections still accepted after Shutdown")
	}
}

// A client that goes away gets its queued work dropped, and the request counts as 499.
func TestDisconnectDropsWork(t *testing.T) {
	m := tinyModel(t)
	cfg := DefaultConfig()
	cfg.MaxWait = 300 * time.Millisecond
	f := newFixture(t, m, nil, 64, cfg)
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/score", strings.NewReader(`{"items":[{"input_ids":[1,2]},{"input_ids":[3]}]}`))
	done := make(chan error, 1)
	go func() {
		resp, err := ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(gather(t, f.srv), "armap_requests_in_flight", nil) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the request never got in flight")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled client got an answer")
	}
	for f.sc.Stats().Dropped != 2 || counterValue(gather(t, f.srv), "armap_requests_total", map[string]string{"code": "499"}) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("work not dropped: %+v, metrics 499 = %v", f.sc.Stats(), counterValue(gather(t, f.srv), "armap_requests_total", map[string]string{"code": "499"}))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := f.sc.Stats(); st.Batches != 0 {
		t.Fatalf("a forward pass ran for a gone client: %+v", st)
	}
}

func TestInfoHealthMetricsEndpoints(t *testing.T) {
	m := tinyModel(t)
	cfg := DefaultConfig()
	cfg.MaxInputTokens = 48
	f := newFixture(t, m, nil, 64, cfg)
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	get := func(path string) (int, []byte) {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	code, data := get("/health")
	if code != 200 {
		t.Fatalf("health %d %s", code, data)
	}
	code, data = get("/info")
	var info InfoResponse
	if code != 200 || json.Unmarshal(data, &info) != nil {
		t.Fatalf("info %d %s", code, data)
	}
	if info.Architecture != "BertForSequenceClassification" || info.VocabSize != testVocab || info.MaxLength != 64 ||
		info.Limits.MaxInputTokens != 48 || info.Limits.MaxBatchTokens != cfg.MaxBatchTokens || info.Limits.QueueLimit != cfg.QueueLimit || info.Version == "" {
		t.Fatalf("info %s", data)
	}
	post(t, ts.Client(), ts.URL, "", []byte(`{"items":[{"input_ids":[1,2,3]},{"input_ids":[4,5]}]}`))
	code, data = get("/metrics")
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	text := string(data)
	for _, want := range []string{
		`armap_requests_total{code="200",endpoint="score"} 1`,
		`armap_requests_total{code="200",endpoint="health"} 1`,
		`armap_items_scored_total 2`, `armap_tokens_scored_total 5`, `armap_queue_depth 0`,
		"armap_request_duration_seconds_bucket", "armap_queue_duration_seconds_count 3", // 2 items + the health probe
		"armap_batch_sequences_bucket", "armap_batch_tokens_bucket", "armap_truncations_total 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, "# ") && !strings.HasPrefix(line, "armap_") {
			t.Errorf("metric not prefixed armap_: %s", line)
		}
	}
	f.sc.Close()
	if code, data := get("/health"); code != 503 || !strings.Contains(string(data), "unhealthy") {
		t.Errorf("health with the scorer closed: %d %s", code, data)
	}
	if code, data := post(t, ts.Client(), ts.URL, "", []byte(`{"items":[{"input_ids":[1]}]}`)); code != 503 {
		t.Errorf("score with the scorer closed: %d %s", code, data)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	f := newFixture(t, tinyModel(t), nil, 64, DefaultConfig())
	h := f.srv.route("score", http.MethodGet, false, func(http.ResponseWriter, *http.Request) { panic("boom") })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/score", nil))
	var e ErrorResponse
	if rec.Code != 500 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Type != typeInternal || !strings.Contains(e.Error, "boom") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if got := counterValue(gather(t, f.srv), "armap_requests_total", map[string]string{"code": "500"}); got != 1 {
		t.Fatalf("panicked request not counted: %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"body", func(c *Config) { c.MaxBodyBytes = 0 }, "max_body_bytes"},
		{"items", func(c *Config) { c.MaxItems = -1 }, "max_items"},
		{"items over queue", func(c *Config) { c.MaxItems, c.QueueLimit = 100, 10 }, "queue_limit"},
		{"tokens", func(c *Config) { c.MaxInputTokens = -5 }, "max_input_tokens"},
		{"timeout", func(c *Config) { c.WriteTimeout = -time.Second }, "timeouts"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// A request that cannot be scored within write_timeout gets the 503 that says so. The
// connection's own write deadline runs from the end of the headers; it used to expire before
// the answer, and the client saw an empty reply while the metrics counted a 503.
func TestWriteTimeoutAnswers503(t *testing.T) {
	m := tinyModel(t)
	cfg := DefaultConfig()
	// One item waits max_wait for company before its batch runs: longer than write_timeout.
	cfg.MaxWait, cfg.WriteTimeout = 3*time.Second, 300*time.Millisecond
	f := newFixture(t, m, nil, 64, cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.srv.Serve(l)
	t.Cleanup(func() { f.srv.Shutdown(context.Background()) })
	code, body := post(t, http.DefaultClient, "http://"+l.Addr().String(), "", []byte(`{"items":[{"input_ids":[1,2]}]}`))
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "write_timeout") {
		t.Errorf("got %d %s, want 503 naming write_timeout", code, body)
	}
}

// With the queue full, a score request is refused with 429 and leaves nothing queued, /health
// says busy (200) rather than unhealthy, and the queued work is answered once the batcher moves.
func TestFullQueueIsBusyNotBroken(t *testing.T) {
	cfg := DefaultConfig()
	cfg.QueueLimit, cfg.MaxItems, cfg.MaxWait = 4, 4, 0
	f := newFixture(t, tinyModel(t), nil, 64, cfg)
	release, held := make(chan struct{}), make(chan struct{})
	var unholdOnce, holdOnce sync.Once
	unhold := func() { unholdOnce.Do(func() { close(release) }) }
	defer unhold()
	observe := f.sc.OnBatch
	f.sc.OnBatch = func(bi scorer.BatchInfo) {
		observe(bi)
		holdOnce.Do(func() { close(held); <-release })
	}
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	codes := make(chan int, 2)
	go func() { c, _ := post(t, ts.Client(), ts.URL, "", []byte(`{"items":[{"input_ids":[1]}]}`)); codes <- c }()
	<-held
	go func() {
		c, _ := post(t, ts.Client(), ts.URL, "", []byte(`{"items":[{"input_ids":[1]},{"input_ids":[2]},{"input_ids":[3]},{"input_ids":[4]}]}`))
		codes <- c
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.sc.Stats().QueueDepth != 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if code, data := post(t, ts.Client(), ts.URL, "", []byte(`{"items":[{"input_ids":[5]},{"input_ids":[6]}]}`)); code != http.StatusTooManyRequests {
		t.Errorf("score with the queue full: %d %s, want 429", code, data)
	}
	if d := f.sc.Stats().QueueDepth; d != 4 {
		t.Errorf("the refused request left the queue at %d sequences, want 4", d)
	}
	resp, err := ts.Client().Get(ts.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(data), `"busy"`) {
		t.Errorf("health with the queue full: %d %s, want 200 busy", resp.StatusCode, data)
	}
	unhold()
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("queued request answered %d, want 200", c)
		}
	}
	if n := counterValue(gather(t, f.srv), "armap_request_failures_total", map[string]string{"type": typeOverloaded}); n != 1 {
		t.Errorf("overloaded failures counted %v, want 1", n)
	}
}
