package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/armap/armap/engine/scorer"
	"github.com/armap/armap/engine/server"
	"github.com/armap/armap/engine/trainer"
	"github.com/armap/armap/pipeline/dataset"
)

// benchServeReport is the JSON of `armap bench serve`.
type benchServeReport struct {
	Bench        string   `json:"bench"`
	Model        string   `json:"model"`
	Architecture string   `json:"architecture"`
	Parameters   int64    `json:"parameters"`
	Env          benchEnv `json:"env"`
	Sequences    int      `json:"sequences"`
	Tokens       int64    `json:"tokens"`
	LenMin       int      `json:"len_min"`
	LenMax       int      `json:"len_max"`
	LenMean      float64  `json:"len_mean"`
	Seed         uint64   `json:"seed"`

	Rounds  int `json:"rounds"` // each round measures offline, then served; medians are reported
	Offline struct {
		BatchTokens int       `json:"batch_tokens"`
		RoundSeqsS  []float64 `json:"round_seqs_per_s"`
		Seconds     float64   `json:"seconds"`
		SeqsPerS    float64   `json:"seqs_per_s"`
		TokensPerS  float64   `json:"tokens_per_s"`
	} `json:"offline"`

	Served struct {
		Clients        int          `json:"clients"`
		MaxBatchTokens int          `json:"max_batch_tokens"`
		MaxWaitMS      float64      `json:"max_wait_ms"`
		RoundSeqsS     []float64    `json:"round_seqs_per_s"`
		Seconds        float64      `json:"seconds"`
		SeqsPerS       float64      `json:"seqs_per_s"`
		TokensPerS     float64      `json:"tokens_per_s"`
		LatencyMS      latencyStats `json:"latency_ms"` // over the requests of every round
		Batches        int64        `json:"batches"`
		MeanBatchSeqs  float64      `json:"mean_batch_seqs"`
		Errors         int          `json:"errors"`
		MaxAbsDiff     float64      `json:"max_abs_diff"` // against the offline scores of the same sequences
	} `json:"served"`

	// ServedOverOffline is the median served throughput / the median offline throughput.
	ServedOverOffline float64 `json:"served_over_offline"`
}

func newBenchServeCmd() *cobra.Command {
	a := newApp()
	d := server.DefaultConfig()
	c := &cobra.Command{
		Use:   "serve [--model PRESET|DIR] [--clients 64] [--sequences N]",
		Short: "Served throughput and latency (64 single-trajectory clients) against offline batch scoring",
		Long: `Score the same synthetic token sequences twice with the same model: offline, packed by a token
budget in one process (trainer.ScoreAll), and through the HTTP server from --clients concurrent
clients each sending one trajectory per request (the planners' pattern). Reports throughput, the
latency percentiles of the served path, the ratio served/offline, and checks that the served
scores equal the offline ones. A preset gets from-scratch weights (the speed does not depend on
them); nothing is trained. Sequence lengths are uniform in [--min-len, --max-len].`,
		Args: cobra.NoArgs,
	}
	f := c.Flags()
	f.String("model", "tiny", "model preset or model directory")
	f.Int("clients", 64, "concurrent clients, one trajectory per request")
	f.Int("sequences", 2000, "sequences scored in each mode")
	f.Int("min-len", 32, "shortest sequence in tokens")
	f.Int("max-len", 256, "longest sequence in tokens")
	f.Int("max-batch-tokens", d.MaxBatchTokens, "server: token budget of one forward pass")
	f.Duration("max-wait", d.MaxWait, "server: how long a batch's first request waits for company")
	f.Int("batch-tokens", 0, "offline: tokens per forward pass (0 = --max-batch-tokens)")
	f.Int("rounds", 3, "alternate offline and served measurements this many times (medians are reported)")
	f.Uint64("seed", 1, "seed for the weights of a preset and the sequences")
	f.String("out", "", "write the JSON report here (atomically) instead of stdout")
	f.String("device", "cpu", "cpu or cuda")
	f.Int("threads", 0, "intra-op threads (0 = all cores)")
	a.l.bind("device", "device")
	a.l.bind("threads", "threads")
	return a.command(c, runBenchServe)
}

func runBenchServe(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
	f := cmd.Flags()
	spec, _ := f.GetString("model")
	clients, _ := f.GetInt("clients")
	n, _ := f.GetInt("sequences")
	minLen, _ := f.GetInt("min-len")
	maxLen, _ := f.GetInt("max-len")
	maxBatch, _ := f.GetInt("max-batch-tokens")
	maxWait, _ := f.GetDuration("max-wait")
	offBudget, _ := f.GetInt("batch-tokens")
	seed, _ := f.GetUint64("seed")
	rounds, _ := f.GetInt("rounds")
	out, _ := f.GetString("out")
	if offBudget <= 0 {
		offBudget = maxBatch
	}
	switch {
	case clients <= 0 || n <= 0 || rounds <= 0:
		return fmt.Errorf("bench serve: --clients, --sequences and --rounds must be positive")
	case minLen <= 0 || maxLen < minLen:
		return fmt.Errorf("bench serve: need 0 < --min-len <= --max-len, got %d and %d", minLen, maxLen)
	case maxBatch < maxLen || offBudget < maxLen:
		return fmt.Errorf("bench serve: batch budgets must hold the longest sequence (%d tokens)", maxLen)
	}
	r, err := resolveModel(spec, "", 0)
	if err != nil {
		return err
	}
	if maxLen > r.Cfg.MaxPositions {
		return fmt.Errorf("bench serve: --max-len %d is more than the model's %d positions", maxLen, r.Cfg.MaxPositions)
	}
	log := cmd.ErrOrStderr()
	b, m, err := r.buildScorer(cfg, seed, log)
	if err != nil {
		return err
	}
	defer m.Close()

	rep := &benchServeReport{Bench: "serve", Model: spec, Architecture: r.Cfg.Architecture, Parameters: r.Cfg.ParamCount(),
		Sequences: n, LenMin: minLen, LenMax: maxLen, Seed: seed}
	bi := b.Info()
	rep.Env = newBenchEnv(cfg.Device, bi.DeviceName, bi.TorchVersion, bi.Threads)
	rng := rand.New(rand.NewPCG(seed, 0x5e7e))
	seqs := make([][]int32, n)
	for i := range seqs {
		s := make([]int32, minLen+rng.IntN(maxLen-minLen+1))
		for j := range s {
			// Ids above the special range a tokenizer would use; the speed does not depend on them.
			s[j] = int32(4 + rng.IntN(r.Cfg.VocabSize-4))
		}
		seqs[i] = s
		rep.Tokens += int64(len(s))
	}
	rep.LenMean = float64(rep.Tokens) / float64(n)

	// Warm up the backend (allocator, thread pool) before either measurement.
	if _, err := trainer.ScoreAll(m, seqs[:min(n, 64)], offBudget); err != nil {
		return err
	}
	fmt.Fprintf(log, "bench serve: %s (%s), %d sequences of %d-%d tokens (%d tokens), %d rounds\n", spec, r.Cfg.Architecture, n, minLen, maxLen, rep.Tokens, rounds)

	scfg := server.DefaultConfig()
	scfg.Addr, scfg.MaxBatchTokens, scfg.MaxWait = "127.0.0.1:0", maxBatch, maxWait
	scfg.QueueLimit = max(scfg.QueueLimit, 2*clients)
	sc := scorer.New(m, &scorer.Inputs{Vocab: r.Cfg.VocabSize, MaxLen: r.Cfg.MaxPositions}, scfg.ScorerOptions())
	defer sc.Close()
	srv, err := server.New(sc, server.Info{ModelID: spec, Architecture: r.Cfg.Architecture}, scfg)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", scfg.Addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()
	url := "http://" + l.Addr().String() + "/v1/score"
	bodies := make([][]byte, n)
	for i, s := range seqs {
		bodies[i], _ = json.Marshal(server.ScoreRequest{Items: []dataset.ScoreRequest{{ID: fmt.Sprint(i), InputIDs: s}}})
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}}
	// One request per client first, so that connections are open before the clock starts.
	if _, errs := drive(ctx, log, client, url, bodies[:min(n, clients)], clients, nil); errs > 0 {
		return fmt.Errorf("bench serve: %d warm-up requests failed", errs)
	}

	// Offline and served alternate, so that a burst of other load on a shared machine
	// disturbs both sides alike; the medians are compared.
	var offline []float32
	var lat []time.Duration
	var offSec, srvSec []float64
	scores := make([]float64, n)
	errs := 0
	s := &rep.Served
	rep.Rounds = rounds
	for round := 0; round < rounds; round++ {
		t0 := time.Now()
		offline, err = trainer.ScoreAll(m, seqs, offBudget)
		if err != nil {
			return err
		}
		offSec = append(offSec, time.Since(t0).Seconds())
		before := sc.Stats()
		t0 = time.Now()
		l, e := drive(ctx, log, client, url, bodies, clients, scores)
		srvSec = append(srvSec, time.Since(t0).Seconds())
		if err := ctx.Err(); err != nil {
			return err
		}
		lat, errs = append(lat, l...), errs+e
		st := sc.Stats()
		s.Batches += st.Batches - before.Batches
		rep.Offline.RoundSeqsS = append(rep.Offline.RoundSeqsS, float64(n)/offSec[round])
		s.RoundSeqsS = append(s.RoundSeqsS, float64(n)/srvSec[round])
		for i := range scores {
			s.MaxAbsDiff = math.Max(s.MaxAbsDiff, math.Abs(scores[i]-float64(offline[i])))
		}
		fmt.Fprintf(log, "bench serve: round %d: offline %.0f seq/s, served %.0f seq/s\n", round+1, rep.Offline.RoundSeqsS[round], s.RoundSeqsS[round])
	}
	el := median(offSec)
	rep.Offline.BatchTokens, rep.Offline.Seconds = offBudget, el
	rep.Offline.SeqsPerS, rep.Offline.TokensPerS = float64(n)/el, float64(rep.Tokens)/el
	el = median(srvSec)
	s.Clients, s.MaxBatchTokens, s.MaxWaitMS = clients, maxBatch, float64(maxWait)/1e6
	s.Seconds, s.SeqsPerS, s.TokensPerS = el, float64(n)/el, float64(rep.Tokens)/el
	s.LatencyMS, s.Errors = summarizeLatency(lat), errs
	if s.Batches > 0 {
		s.MeanBatchSeqs = float64(n*rounds) / float64(s.Batches)
	}
	rep.ServedOverOffline = s.SeqsPerS / rep.Offline.SeqsPerS
	fmt.Fprintf(log, "bench serve: offline %.0f seq/s (%.0f tokens/s); served %.0f seq/s with %d clients (p50 %.1f ms, p99 %.1f ms, %.1f seqs per batch), %.2fx offline; %d errors, max |served-offline| %.2g\n",
		rep.Offline.SeqsPerS, rep.Offline.TokensPerS, s.SeqsPerS, clients, s.LatencyMS.P50, s.LatencyMS.P99, s.MeanBatchSeqs, rep.ServedOverOffline, errs, s.MaxAbsDiff)
	if err := writeBenchJSON(out, cmd.OutOrStdout(), rep); err != nil {
		return err
	}
	if errs > 0 {
		return fmt.Errorf("bench serve: %d requests failed", errs)
	}
	if s.MaxAbsDiff > 1e-4 {
		return fmt.Errorf("bench serve: served scores differ from offline ones by up to %g", s.MaxAbsDiff)
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// drive sends every body from `clients` goroutines (each takes the next body when its previous
// request is answered) and returns the latency of each request and how many failed. With scores
// non-nil, it stores the score of body i in scores[i].
func drive(ctx context.Context, log io.Writer, c *http.Client, url string, bodies [][]byte, clients int, scores []float64) ([]time.Duration, int) {
	lat := make([]time.Duration, len(bodies))
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				v, err := postOne(ctx, c, url, bodies[i])
				lat[i] = time.Since(t)
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { fmt.Fprintf(log, "bench serve: request %d: %v\n", i, err) })
					continue
				}
				if scores != nil {
					scores[i] = v
				}
			}
		}()
	}
	wg.Wait()
	return lat, int(failed.Load())
}

func postOne(ctx context.Context, c *http.Client, url string, body []byte) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	var out server.ScoreResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return 0, err
	}
	if len(out.Scores) != 1 {
		return 0, errors.New("answer without exactly one score")
	}
	return out.Scores[0].Score, nil
}
