package main

import (
	"encoding/json"
	"io"
	"runtime"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/armap/armap/engine/atomicfile"
)

// newBenchCmd is the parent of the benchmark commands. Each subcommand measures one part of the
// engine against a reference measured in the same run on the same machine, and prints one JSON
// document (to --out or stdout) with the ratio, plus a human summary on stderr.
func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks that compare the engine with a reference measured in the same run",
		Args:  cobra.NoArgs,
	}
	for _, mk := range []func() *cobra.Command{
		newBenchServeCmd,
		newBenchTrainCmd,
		newBenchGPUCmd,
		newBenchMergeCmd,
		newBenchCheckCmd,
	} {
		c.AddCommand(mk())
	}
	return c
}

// benchEnv is what every benchmark reports about where it ran.
type benchEnv struct {
	Device       string `json:"device"`
	DeviceName   string `json:"device_name"`
	TorchVersion string `json:"torch_version"`
	Threads      int    `json:"threads"`
	CPUs         int    `json:"cpus"`
	GoVersion    string `json:"go"`
	Time         string `json:"time"`
}

func newBenchEnv(device, deviceName, torch string, threads int) benchEnv {
	return benchEnv{Device: device, DeviceName: deviceName, TorchVersion: torch, Threads: threads, CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), Time: time.Now().UTC().Format(time.RFC3339)}
}

// latencyStats summarizes request latencies in milliseconds.
type latencyStats struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

func summarizeLatency(d []time.Duration) latencyStats {
	if len(d) == 0 {
		return latencyStats{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	// Nearest-rank percentile: the smallest value with at least q of the samples at or below it.
	pct := func(q float64) float64 {
		k := int(q*float64(len(s))+0.999999999) - 1
		return ms(s[min(max(k, 0), len(s)-1)])
	}
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return latencyStats{Mean: ms(sum / time.Duration(len(s))), P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// writeBenchJSON writes the report, indented, to out (atomically) or to w when out is "".
func writeBenchJSON(out string, w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if out == "" {
		_, err = w.Write(data)
		return err
	}
	return atomicfile.WriteFile(out, data, 0o644)
}
