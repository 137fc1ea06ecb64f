package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Entry is one workload of a results file: armap's figure, the peer's, and armap / peer.
type Entry struct {
	Armap *Result        `json:"armap"`
	Peer  map[string]any `json:"peer,omitempty"`
	Ratio *float64       `json:"ratio,omitempty"` // real tokens per second, armap / peer (S2: peer latency / armap latency)
	Note  string         `json:"note,omitempty"`
	// PeerFirstRun and RatioFirstRun are the peer's figure from its first run in the call, kept
	// beside the merged one and not used for the ratio: on a fresh machine that run is the first
	// process to use some kernels, and their first-use cost lands in its timed steps
	// (bench/NOTES.md, the run at 78a0b95).
	PeerFirstRun  map[string]any `json:"peer_first_run,omitempty"`
	RatioFirstRun *float64       `json:"ratio_first_run,omitempty"`
}

// Report is bench/results/<date>-<card>.json.
type Report struct {
	Card   string `json:"card"`
	Commit string `json:"commit"`
	Date   string `json:"date"`
	Torch  string `json:"torch,omitempty"`
	// BackendFeatures are the optional parts built into the backend that ran (cgo.Info.Features):
	// without fused_linear, say, the fused rows ran ATen's linear layers.
	BackendFeatures []string          `json:"backend_features,omitempty"`
	Workloads       map[string]*Entry `json:"workloads"`
	Peer            map[string]any    `json:"peer_versions,omitempty"`
}

// peerFile reads one of the peer scripts' JSON outputs from dir ("" and missing files give nil).
func peerFile(dir, name string) (map[string]any, error) {
	if dir == "" {
		return nil, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

func num(m map[string]any, k string) float64 {
	v, _ := m[k].(float64)
	return v
}

// findRun picks the peer_bench.json row of a kind/shape.
func findRun(rows any, match func(map[string]any) bool) map[string]any {
	list, _ := rows.([]any)
	for _, r := range list {
		if m, ok := r.(map[string]any); ok && match(m) {
			return m
		}
	}
	return nil
}

// peerPicks reads the peer scripts' outputs in dir (peer_bench.json, varlen_bench.json) and
// gives, per base workload, the function that picks its peer figure as issue 6 defines it: T1
// against the torch.compile figure, T3 and S3 against the better of the padded and the
// length-grouped figure, S2 by latency. pb is peer_bench.json (nil when absent).
func peerPicks(dir string) (map[string]func() (map[string]any, float64), map[string]any, error) {
	pb, err := peerFile(dir, "peer_bench.json")
	if err != nil {
		return nil, nil, err
	}
	vb, err := peerFile(dir, "varlen_bench.json")
	if err != nil {
		return nil, nil, err
	}
	if pb == nil && vb == nil {
		return nil, nil, fmt.Errorf("no peer_bench.json or varlen_bench.json in %q", dir)
	}
	pick := map[string]func() (map[string]any, float64){
		"T1": func() (map[string]any, float64) {
			r := findRun(pb["train"], func(m map[string]any) bool { return m["kind"] == "bert-base" && m["compile"] == true })
			return r, num(r, "tokens_per_s")
		},
		"T2": func() (map[string]any, float64) {
			r := findRun(pb["train"], func(m map[string]any) bool { return m["kind"] == "llama-1b" })
			return r, num(r, "tokens_per_s")
		},
		"T3": func() (map[string]any, float64) {
			a, _ := vb["train_varlen_bert_base"].(map[string]any)
			g, _ := vb["train_varlen_bert_base_grouped"].(map[string]any)
			if num(g, "real_tokens_per_s") > num(a, "real_tokens_per_s") {
				return g, num(g, "real_tokens_per_s")
			}
			return a, num(a, "real_tokens_per_s")
		},
		"S1": func() (map[string]any, float64) {
			r := findRun(pb["score"], func(m map[string]any) bool { return m["kind"] == "bert-base" && num(m, "batch") == 256 })
			return r, num(r, "tokens_per_s")
		},
		"S2": func() (map[string]any, float64) {
			r := findRun(pb["score"], func(m map[string]any) bool { return m["kind"] == "bert-base" && num(m, "batch") == 1 })
			return r, num(r, "latency_ms")
		},
		"S3": func() (map[string]any, float64) {
			a, _ := vb["score_varlen_bert_base"].(map[string]any)
			g, _ := vb["score_varlen_bert_base_grouped"].(map[string]any)
			if num(g, "real_tokens_per_s") > num(a, "real_tokens_per_s") {
				return g, num(g, "real_tokens_per_s")
			}
			return a, num(a, "real_tokens_per_s")
		},
		"S4": func() (map[string]any, float64) {
			r := findRun(pb["score"], func(m map[string]any) bool { return m["kind"] == "llama-1b" && num(m, "batch") == 64 })
			return r, num(r, "tokens_per_s")
		},
	}
	return pick, pb, nil
}

// ratioTo is armap's figure over the peer's v (S2: the peer's latency over armap's).
func ratioTo(base string, a *Result, v float64) float64 {
	if base == "S2" {
		return v / a.LatencyMS
	}
	return a.RealTokensPerS / v
}

// AttachPeers fills each workload's peer figure and ratio from the peer scripts' outputs in dir
// (peerPicks says which figure).
func AttachPeers(rep *Report, dir string) error {
	pick, pb, err := peerPicks(dir)
	if err != nil {
		return err
	}
	if pb != nil {
		rep.Peer = map[string]any{"torch": pb["torch"], "transformers": pb["transformers"], "gpu": pb["gpu"]}
	}
	for name, e := range rep.Workloads {
		// A variant (_unfused, _normonly, _serial, _cudnn, or an older report's _fused) is the same
		// workload on another code path: the same peer figure.
		base := BaseWorkload(name)
		f, ok := pick[base]
		if !ok || e.Armap == nil {
			continue
		}
		// A report merged before gets this dir's figures only (AttachFirstRunPeers adds the first
		// run's again when there is one).
		e.Peer, e.Ratio, e.Note, e.PeerFirstRun, e.RatioFirstRun = nil, nil, "", nil, nil
		peer, v := f()
		if peer == nil || v == 0 {
			e.Note = "no peer figure in " + dir
			continue
		}
		e.Peer = peer
		ratio := ratioTo(base, e.Armap, v)
		e.Ratio = &ratio
	}
	return nil
}

// AttachFirstRunPeers records, beside the merged figures, those of the peer's first process on
// the machine from dir: the workloads it has a figure for get PeerFirstRun and RatioFirstRun,
// and the others lose any they had.
func AttachFirstRunPeers(rep *Report, dir string) error {
	pick, _, err := peerPicks(dir)
	if err != nil {
		return err
	}
	for name, e := range rep.Workloads {
		e.PeerFirstRun, e.RatioFirstRun = nil, nil
		base := BaseWorkload(name)
		f, ok := pick[base]
		if !ok || e.Armap == nil {
			continue
		}
		if peer, v := f(); peer != nil && v != 0 {
			ratio := ratioTo(base, e.Armap, v)
			e.PeerFirstRun, e.RatioFirstRun = peer, &ratio
		}
	}
	return nil
}

// AttachCPUPeer fills peer figures from a cpu_peer.py output file (same workload names).
func AttachCPUPeer(rep *Report, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep.Peer = map[string]any{"torch": m["torch"], "threads": m["threads"], "model": m["model"]}
	for name, e := range rep.Workloads {
		p, _ := m[name].(map[string]any)
		if p == nil || e.Armap == nil || num(p, "real_tokens_per_s") == 0 {
			continue
		}
		e.Peer = p
		r := e.Armap.RealTokensPerS / num(p, "real_tokens_per_s")
		e.Ratio = &r
	}
	return nil
}

// BaseWorkload is the workload a variant row is a variant of, whose peer figure it is measured
// against: the name without its variant suffix (_unfused, _normonly, _serial, _cudnn, _fused).
// S2_eager has none of them: the peer has no figure for scoring without graphs.
func BaseWorkload(name string) string {
	for _, v := range []string{"_unfused", "_normonly", "_serial", "_cudnn", "_fused"} {
		if b, ok := strings.CutSuffix(name, v); ok {
			return b
		}
	}
	return name
}
