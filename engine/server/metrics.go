package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/armap/armap/engine/scorer"
)

// metrics live in the server's own registry (no package globals), so two servers in one process
// (tests, the bench) count separately.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec // by endpoint and status code
	latency    prometheus.Histogram   // POST /v1/score, from headers read to response written
	inFlight   prometheus.Gauge
	queueWait  prometheus.Histogram // per sequence, submission to the start of its forward pass
	batchSeqs  prometheus.Histogram
	batchToks  prometheus.Histogram
	compute    prometheus.Histogram
	items      prometheus.Counter
	tokens     prometheus.Counter
	truncated  prometheus.Counter
	failures   *prometheus.CounterVec // score requests refused, by error type
	healthFail prometheus.Counter
}

// doubling returns buckets from start, doubling until one reaches top.
func doubling(start, top float64) []float64 {
	b := []float64{start}
	for b[len(b)-1] < top {
		b = append(b, 2*b[len(b)-1])
	}
	return b
}

// noDeadlineTop is the longest time the histograms resolve when write_timeout is off.
const noDeadlineTop = 10 * time.Minute

func newMetrics(sc *scorer.Scorer, maxBatchTokens int, writeTimeout time.Duration) *metrics {
	r := prometheus.NewRegistry()
	m := &metrics{reg: r}
	// Times reach up to write_timeout, which bounds a request's scoring: the buckets go that far,
	// so that a slow tail is not lumped into +Inf.
	top := writeTimeout.Seconds()
	if writeTimeout <= 0 {
		top = noDeadlineTop.Seconds()
	}
	tokBuckets := doubling(16, float64(maxBatchTokens))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "armap_requests_total",
		Help: "HTTP requests answered, by endpoint and status code (499: the client went away)."}, []string{"endpoint", "code"})
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "armap_request_duration_seconds",
		Help: "Latency of POST /v1/score requests answered 200, validation and scoring included.", Buckets: doubling(0.0005, top)})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "armap_requests_in_flight", Help: "POST /v1/score requests being handled."})
	m.queueWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "armap_queue_duration_seconds",
		Help: "Time a sequence waited in the batching queue before its forward pass started.", Buckets: doubling(0.0001, top)})
	m.batchSeqs = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "armap_batch_sequences",
		Help: "Sequences per forward pass.", Buckets: doubling(1, float64(maxBatchTokens))})
	m.batchToks = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "armap_batch_tokens",
		Help: "Tokens per forward pass (packed, no padding).", Buckets: tokBuckets})
	m.compute = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "armap_batch_duration_seconds",
		Help: "Wall time of one forward pass.", Buckets: doubling(0.0001, top)})
	m.items = prometheus.NewCounter(prometheus.CounterOpts{Name: "armap_items_scored_total", Help: "Items scored and returned to clients."})
	m.tokens = prometheus.NewCounter(prometheus.CounterOpts{Name: "armap_tokens_scored_total", Help: "Tokens of the items scored and returned."})
	m.truncated = prometheus.NewCounter(prometheus.CounterOpts{Name: "armap_truncations_total", Help: "Items cut to the length limit (truncate: true)."})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "armap_request_failures_total",
		Help: "POST /v1/score requests refused or failed, by error type (the type field of the JSON error)."}, []string{"type"})
	m.healthFail = prometheus.NewCounter(prometheus.CounterOpts{Name: "armap_health_failures_total", Help: "Health probes that found the model not answering."})
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "armap_queue_depth", Help: "Sequences waiting in the batching queue."},
		func() float64 { return float64(sc.Stats().QueueDepth) })
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "armap_sequences_dropped_total",
		Help: "Queued sequences dropped before their forward pass because the client went away or the request failed."},
		func() float64 { return float64(sc.Stats().Dropped) })
	r.MustRegister(m.requests, m.latency, m.inFlight, m.queueWait, m.batchSeqs, m.batchToks, m.compute, m.items,
		m.tokens, m.truncated, m.failures, m.healthFail, depth, dropped)
	return m
}

func (m *metrics) observeBatch(bi scorer.BatchInfo) {
	m.batchSeqs.Observe(float64(bi.Seqs))
	m.batchToks.Observe(float64(bi.Tokens))
	m.compute.Observe(bi.Compute.Seconds())
	for _, w := range bi.QueueWait {
		m.queueWait.Observe(w.Seconds())
	}
}
