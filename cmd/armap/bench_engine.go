package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/bench"
)

// selectWorkloads keeps the named workloads ("" keeps all), each once, in the order named. A
// name is a workload's whole name, or the part before its first underscore when no workload has
// that whole name (C1 for C1_train_varlen); so T1 is T1 alone, not its variants.
func selectWorkloads(all []bench.Workload, names string) ([]bench.Workload, error) {
	if names == "" {
		return all, nil
	}
	var out []bench.Workload
	seen := map[string]bool{}
	for _, n := range splitList(names) {
		var match []bench.Workload
		for _, w := range all {
			if strings.EqualFold(w.Name, n) {
				match = []bench.Workload{w}
				break
			}
			if strings.HasPrefix(w.Name, n+"_") {
				match = append(match, w)
			}
		}
		if len(match) == 0 {
			return nil, fmt.Errorf("unknown workload %q", n)
		}
		for _, w := range match {
			if !seen[w.Name] {
				seen[w.Name] = true
				out = append(out, w)
			}
		}
	}
	return out, nil
}

// buildCommit is set at link time (make armap: -X main.buildCommit=...).
var buildCommit string

// gitCommit names the commit the binary was built from (so that a binary carried to a host
// without the repository still knows), else the checkout's HEAD.
func gitCommit() string {
	if buildCommit != "" {
		return buildCommit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) >= 7 {
			if dirty {
				return rev[:7] + "-dirty"
			}
			return rev[:7]
		}
	}
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// runWorkloads measures ws in order. A workload that fails is noted in the report and the rest
// still run (an untried kernel failing must not cost the figures already taken); the failures come
// back joined, for the caller to return after writing the report.
func runWorkloads(ctx context.Context, b *cgo.Backend, ws []bench.Workload, opt bench.Options, log func(string, ...any)) (*bench.Report, error) {
	rep := &bench.Report{Card: b.Info().DeviceName, Commit: gitCommit(), Date: time.Now().UTC().Format("2006-01-02"),
		Torch: b.Info().TorchVersion, BackendFeatures: b.Info().Features, Workloads: map[string]*bench.Entry{}}
	var errs []error
	for _, w := range ws {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		r, err := bench.Run(ctx, b, w, opt)
		if err != nil {
			log("%-18s failed: %v", w.Name, err)
			rep.Workloads[w.Name] = &bench.Entry{Note: "failed: " + err.Error()}
			errs = append(errs, err)
			continue
		}
		log("%-18s %-9s %10.0f real tok/s  %8.2f ms/step  (%s)", w.Name, w.Model, r.RealTokensPerS, r.PerStepMS(), r.Lengths)
		if r.Trace != "" {
			log("  profile %s, top by time per step:", r.Trace)
			for _, k := range r.Profile[:min(len(r.Profile), 12)] {
				log("  %8.3f ms %5.1f%% %6.1f calls  %s", k.MSPerStep, 100*k.Share, k.Calls, k.ShortName(100))
			}
		}
		if r.ProfileError != "" {
			log("  profile failed: %s", r.ProfileError)
		}
		rep.Workloads[w.Name] = &bench.Entry{Armap: r}
	}
	return rep, errors.Join(errs...)
}

// addRunFlags adds the flags that bench train and bench gpu share: the fused path for the workloads
// that do not set their own, and profiling.
func addRunFlags(a *app, c *cobra.Command) {
	c.Flags().String("fused-kernels", "auto", "the encoder's fused kernels for the workloads that do not set their own (not _unfused, _normonly): auto, on, off or norm (A/B runs)")
	c.Flags().String("profile", "", "also profile 2 steps of each workload (after the timed ones) into this folder: a Chrome trace and the top CUDA kernels (or CPU operators)")
	a.l.bind("fused-kernels", "fused_kernels")
}

// runOptions reads those flags into the workloads' options.
func runOptions(cmd *cobra.Command, cfg *Config) (bench.Options, error) {
	fused, err := fusedKernels(cfg)
	if err != nil {
		return bench.Options{}, err
	}
	prof, _ := cmd.Flags().GetString("profile")
	return bench.Options{FusedKernels: fused, ProfileDir: prof}, nil
}

// logRatios logs every row's ratio to its peer, in name order, and for a variant row (S1_cudnn,
// say) how its mean step differs from its base row's in the same run (the same batches): what
// that path changes.
func logRatios(rep *bench.Report, log func(string, ...any)) {
	for _, name := range slices.Sorted(maps.Keys(rep.Workloads)) {
		e := rep.Workloads[name]
		line := ""
		if e.Ratio != nil {
			line = fmt.Sprintf(" ratio armap/peer %.2fx", *e.Ratio)
		}
		if e.RatioFirstRun != nil {
			line += fmt.Sprintf(" (%.2fx against the peer's first run)", *e.RatioFirstRun)
		}
		baseName := bench.BaseWorkload(name)
		if base, ok := rep.Workloads[baseName]; ok && base != e && base.Armap != nil && e.Armap != nil {
			line += fmt.Sprintf("  %+.2f ms a step against %s", e.Armap.PerStepMS()-base.Armap.PerStepMS(), baseName)
		}
		if line != "" {
			log("%-18s%s", name, line)
		}
	}
}

func newBenchTrainCmd() *cobra.Command {
	a := newApp()
	c := &cobra.Command{
		Use:   "train",
		Short: "CPU training and scoring throughput on cpu_peer.py's workloads, optionally against the peer in the same run",
		Long: `Runs the workloads of shared/bench/cpu_peer.py (bert-mini; C1 train U[32,256], C3 train fixed 128,
C2 score U[32,256]) and, with --peer, runs that script with /usr/bin/python3 first so both are
measured in one run on the same machine; ratios are real tokens per second, armap / peer.`,
		Args: cobra.NoArgs,
	}
	c.Flags().String("workloads", "", "comma-separated subset (C1,C2,C3)")
	c.Flags().String("model", "", "run the workloads on this preset instead of bert-mini")
	c.Flags().String("peer", "", "path to cpu_peer.py to run side by side (needs /usr/bin/python3 with python3-torch)")
	c.Flags().String("out", "", "write the JSON report here (default stdout)")
	c.Flags().Int("threads", 0, "intra-op threads (0 = all cores)")
	addRunFlags(a, c)
	a.l.bind("threads", "threads")
	return a.command(c, func(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
		names, _ := cmd.Flags().GetString("workloads")
		opt, err := runOptions(cmd, cfg)
		if err != nil {
			return err
		}
		opt.Device, opt.Seed = cgo.CPU, cfg.Seed
		preset, _ := cmd.Flags().GetString("model")
		peer, _ := cmd.Flags().GetString("peer")
		out, _ := cmd.Flags().GetString("out")
		ws, err := selectWorkloads(bench.CPU(), names)
		if err != nil {
			return err
		}
		if preset != "" {
			for i := range ws {
				ws[i].Model = preset
			}
		}
		log := func(f string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), f+"\n", args...) }
		b, err := openBackend(cfg)
		if err != nil {
			return err
		}
		var peerOut string
		if peer != "" {
			dir, err := os.MkdirTemp("", "armap-cpu-peer-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			abs, _ := filepath.Abs(peer)
			log("peer: /usr/bin/python3 %s %d", abs, b.Info().Threads)
			pc := exec.CommandContext(ctx, "/usr/bin/python3", abs, fmt.Sprint(b.Info().Threads))
			pc.Dir, pc.Stderr = dir, cmd.ErrOrStderr()
			if err := pc.Run(); err != nil {
				return fmt.Errorf("peer %s: %w", peer, err)
			}
			peerOut = filepath.Join(dir, "cpu_peer.json")
		}
		rep, runErr := runWorkloads(ctx, b, ws, opt, log)
		rep.Card = "cpu: " + b.Info().DeviceName
		if peerOut != "" {
			if err := bench.AttachCPUPeer(rep, peerOut); err != nil {
				return err
			}
			logRatios(rep, log)
		}
		if err := writeBenchJSON(out, cmd.OutOrStdout(), rep); err != nil {
			return err
		}
		return runErr
	})
}

func newBenchGPUCmd() *cobra.Command {
	a := newApp()
	c := &cobra.Command{
		Use:   "gpu",
		Short: "Issue 6's GPU workloads (T1-T3 train, S1-S4 score) with the peers' figures from the same run",
		Long: `Runs T1 bert-base 32 pairs x 512 train, T2 llama-1b 8 pairs x 512 train, T3 bert-base 32 pairs
U[64,1024] train, S1 bert-base 256 x 512 score, S2 bert-base 1 x 256 latency, S3 bert-base 256
U[64,1024] score, S4 llama-1b 64 x 512 score, in bf16 on the device. --peer-dir points at the
outputs of shared/bench/peer_bench.py and varlen_bench.py run in the same session
(scripts/bench_gpu.sh does all of it); ratios follow issue 6. --shrink N runs smaller models
(for a CPU smoke run of the harness).`,
		Args: cobra.NoArgs,
	}
	c.Flags().String("device", "cuda", "cuda (or cpu for a smoke run with --shrink)")
	c.Flags().String("workloads", "", "comma-separated subset (T1,...,S4)")
	c.Flags().String("dtype", "bf16", "compute dtype: bf16 or f32")
	c.Flags().String("peer-dir", "", "folder with peer_bench.json and varlen_bench.json from this session")
	c.Flags().Int("shrink", 1, "divide model sizes by N (smoke runs)")
	c.Flags().Int("steps", 0, "override timed steps per workload")
	c.Flags().String("out", "", "write the JSON report here (default stdout)")
	addRunFlags(a, c)
	a.l.bind("device", "device")
	return a.command(c, func(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
		names, _ := cmd.Flags().GetString("workloads")
		dts, _ := cmd.Flags().GetString("dtype")
		opt, err := runOptions(cmd, cfg)
		if err != nil {
			return err
		}
		peerDir, _ := cmd.Flags().GetString("peer-dir")
		shrink, _ := cmd.Flags().GetInt("shrink")
		steps, _ := cmd.Flags().GetInt("steps")
		out, _ := cmd.Flags().GetString("out")
		ws, err := selectWorkloads(bench.GPU(), names)
		if err != nil {
			return err
		}
		for i := range ws {
			if steps > 0 {
				ws[i].Steps, ws[i].Warmup = steps, min(ws[i].Warmup, 1)
			}
			if shrink > 1 {
				ws[i].Count = max(ws[i].Count/shrink, 1)
				ws[i].MaxLen = max(ws[i].MaxLen/shrink, 8)
				ws[i].MinLen = max(min(ws[i].MinLen/shrink, ws[i].MaxLen), 1)
			}
		}
		dt := cgo.BF16
		if dts == "f32" {
			dt = cgo.F32
		}
		b, err := openBackend(cfg)
		if err != nil {
			return err
		}
		log := func(f string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), f+"\n", args...) }
		opt.Device, opt.DType, opt.Seed, opt.Shrink = deviceOf(cfg.Device), dt, cfg.Seed, shrink
		rep, runErr := runWorkloads(ctx, b, ws, opt, log)
		if peerDir != "" {
			if err := bench.AttachPeers(rep, peerDir); err != nil {
				return err
			}
		}
		logRatios(rep, log)
		if err := writeBenchJSON(out, cmd.OutOrStdout(), rep); err != nil {
			return err
		}
		return runErr
	})
}

func newBenchMergeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "merge REPORT",
		Short: "Attach the peer scripts' figures to a `bench gpu` report written without them",
		Long: `Reads a report of armap bench gpu, attaches the figures of peer_bench.json and
varlen_bench.json from --peer-dir with issue 6's ratios, and writes it to --out (default: in
place). scripts/bench_gpu.sh times armap first and the peers after it, so that a run cut short
still keeps armap's figures. --peer-first-run-dir adds, beside them and not in the ratios, the
figures of the peer's first process on the machine (peer_first_run, ratio_first_run).`,
		Args: cobra.ExactArgs(1),
	}
	c.Flags().String("peer-dir", "", "folder with peer_bench.json and varlen_bench.json")
	c.Flags().String("peer-first-run-dir", "", "folder with the outputs of the peer's first process on the machine (kept apart)")
	c.Flags().String("out", "", "output path (default: REPORT)")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		peerDir, _ := cmd.Flags().GetString("peer-dir")
		firstDir, _ := cmd.Flags().GetString("peer-first-run-dir")
		out, _ := cmd.Flags().GetString("out")
		if peerDir == "" {
			return fmt.Errorf("bench merge needs --peer-dir")
		}
		if out == "" {
			out = args[0]
		}
		data, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		var rep bench.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		if err := bench.AttachPeers(&rep, peerDir); err != nil {
			return err
		}
		if firstDir != "" {
			if err := bench.AttachFirstRunPeers(&rep, firstDir); err != nil {
				return fmt.Errorf("--peer-first-run-dir: %w", err)
			}
		}
		logRatios(&rep, func(f string, a ...any) { fmt.Fprintf(cmd.ErrOrStderr(), f+"\n", a...) })
		return writeBenchJSON(out, cmd.OutOrStdout(), &rep)
	}
	return c
}

func newBenchCheckCmd() *cobra.Command {
	a := newApp()
	c := &cobra.Command{
		Use:   "check",
		Short: "Correctness on a device against the CPU path: fixture and bert-base rewards (f32 1e-4, bf16 2e-2), CUDA graphs, checkpointing, training curves, cuDNN attention",
		Args:  cobra.NoArgs,
	}
	c.Flags().String("device", "cuda", "device to check against the CPU path")
	c.Flags().String("fixtures", "../shared/fixtures/hf", "folder with models/{bert,llama,qwen2}_tiny")
	a.l.bind("device", "device")
	return a.command(c, func(ctx context.Context, cmd *cobra.Command, cfg *Config) error {
		fx, _ := cmd.Flags().GetString("fixtures")
		b, err := openBackend(cfg)
		if err != nil {
			return err
		}
		dev := deviceOf(cfg.Device)
		bad := 0
		// report prints one check's line with its verdict and counts the failures.
		report := func(ok bool, format string, args ...any) {
			verdict := "ok"
			if !ok {
				verdict = "FAIL"
				bad++
			}
			fmt.Fprintf(cmd.ErrOrStderr(), format+" %s\n", append(args, verdict)...)
		}
		reportRewards := func(rs []bench.DeviceCheck) {
			for _, r := range rs {
				report(r.OK, "%-15s %-4s max rel err %.2e (tolerance %.0e)", r.Model, r.DType, r.MaxRelErr, r.Tolerance)
			}
		}
		reportCheckpointing := func(ck *bench.CheckpointCheck) {
			report(ck.OK, "%-15s checkpointing with dropout, bf16: max |loss diff| %.2e over %d steps", ck.Model, ck.MaxDiff, ck.Steps)
		}
		res, err := bench.CheckDevice(b, fx, dev)
		if err != nil {
			return err
		}
		// bert-base twice: with the device's default path (the fused kernels) and with ATen's
		// operations only.
		// The checks take no context: a signal ends the command between two of them (on CPU one can
		// run for minutes; a second signal exits at once).
		for _, f := range []cgo.Fusion{cgo.FusionOff, cgo.FusionDefault} {
			if err := ctx.Err(); err != nil {
				return err
			}
			full, err := bench.CheckPresetDevice(b, "bert-base", dev, f, cgo.AttentionDefault)
			if err != nil {
				return err
			}
			res = append(res, full...)
		}
		reportRewards(res)
		// Graphs and checkpointing with and without the fused kernels: captured inside a graph, and
		// drawing their dropout keys again in a checkpointed layer's recomputation.
		var graphs []bench.GraphCheck
		var ckpts []*bench.CheckpointCheck
		for _, f := range []cgo.Fusion{cgo.FusionOff, cgo.FusionDefault} {
			if err := ctx.Err(); err != nil {
				return err
			}
			g, err := bench.CheckGraphs(b, dev, cgo.BF16, f, 4)
			if err != nil {
				return err
			}
			graphs = append(graphs, g...)
			ck, err := bench.CheckCheckpointing(b, dev, cgo.BF16, f, cgo.AttentionDefault, 10)
			if err != nil {
				return err
			}
			ckpts = append(ckpts, ck)
		}
		for _, g := range graphs {
			report(g.OK, "%-15s bf16 CUDA graphs vs eager over %d batches: max rel err %.2e (tolerance %.0e)", g.Model, g.Batches, g.MaxRelErr, g.Tolerance)
		}
		for _, ck := range ckpts {
			reportCheckpointing(ck)
		}
		var curves []*bench.CurveCheck
		for _, c := range []struct {
			preset string
			dt     cgo.DType
			fused  cgo.Fusion
			attn   cgo.Attention
			tol    float64
		}{
			{"tiny", cgo.F32, cgo.FusionOff, 0, 1e-3}, {"tiny", cgo.BF16, cgo.FusionOff, 0, 0.05},
			{"tiny", cgo.F32, cgo.FusionDefault, 0, 1e-3}, {"tiny", cgo.BF16, cgo.FusionDefault, 0, 0.05},
			{"tiny", cgo.BF16, cgo.FusionNorm, 0, 0.05},
			{"tiny-llama", cgo.F32, cgo.FusionDefault, 0, 1e-3}, {"tiny-llama", cgo.BF16, cgo.FusionDefault, 0, 0.05},
			// cuDNN's attention (training batches of one length) last: a CUDA error there must not
			// cost the checks above.
			{"tiny", cgo.BF16, cgo.FusionDefault, cgo.AttentionCuDNN, 0.05},
			{"tiny-llama", cgo.BF16, cgo.FusionDefault, cgo.AttentionCuDNN, 0.05},
		} {
			if c.attn == cgo.AttentionCuDNN && dev != cgo.CUDA {
				continue // a CUDA kernel: the CPU runs its own attention whatever the option
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			curve, err := bench.CheckCurve(b, c.preset, dev, c.dt, c.fused, c.attn, 30, c.tol)
			if err != nil {
				// A failed run is a failed check: the other curves still run and the report is written.
				report(false, "train curve %-10s %s %s attention: %v", c.preset+c.fused.Suffix(), c.dt, c.attn, err)
				continue
			}
			report(curve.OK, "train curve %-10s %s vs CPU f32: max |loss diff| %.4f over %d steps (loss %.3f -> %.3f)",
				curve.Model, curve.DType, curve.MaxDiff, len(curve.F32), curve.F32[0], curve.F32[len(curve.F32)-1])
			curves = append(curves, curve)
		}
		// cuDNN's attention: bert-base's scores against the CPU's, and, with dropout, a checkpointed
		// layer's recomputation (autograd on) drawing the masks of its first pass (autograd off).
		// Last, as the curves with it above.
		if err := ctx.Err(); err != nil {
			return err
		}
		if dev == cgo.CUDA {
			if full, err := bench.CheckPresetDevice(b, "bert-base", dev, cgo.FusionDefault, cgo.AttentionCuDNN); err != nil {
				report(false, "bert-base+cudnn scores, bf16: %v", err)
			} else {
				reportRewards(full)
				res = append(res, full...)
			}
			ck, err := bench.CheckCheckpointing(b, dev, cgo.BF16, cgo.FusionDefault, cgo.AttentionCuDNN, 10)
			if err != nil {
				report(false, "bert-mini+cudnn checkpointing with dropout, bf16: %v", err)
			} else {
				reportCheckpointing(ck)
				ckpts = append(ckpts, ck)
			}
		}
		if err := writeBenchJSON("", cmd.OutOrStdout(), map[string]any{"rewards": res, "graphs": graphs, "checkpointing": ckpts, "train_curves": curves}); err != nil {
			return err
		}
		if bad > 0 {
			return fmt.Errorf("%d device checks failed", bad)
		}
		return nil
	})
}
