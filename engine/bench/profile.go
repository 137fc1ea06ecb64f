package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/armap/armap/cgo"
)

// KernelTime is one line of a profile's breakdown: a CUDA kernel (its time on the device) or, in a
// CPU profile, an operator (its self time: its children's time is theirs).
type KernelTime struct {
	Name      string  `json:"name"`
	Calls     float64 `json:"calls_per_step"`
	MSPerStep float64 `json:"ms_per_step"`
	Share     float64 `json:"share"` // of all kernel (or operator self) time in the profile
}

// ShortName is the name cut to n bytes: CUDA kernels are named by their full template signature.
func (k KernelTime) ShortName(n int) string {
	if len(k.Name) <= n {
		return k.Name
	}
	return k.Name[:n] + "..."
}

// profileSteps runs steps under the backend's Kineto profiler, saves the Chrome trace as
// dir/<name>.trace.json and returns its path with the top entries of its breakdown. drain
// finishes what step left launched (pipelined training steps) before the profiler stops.
func profileSteps(b *cgo.Backend, dir, name string, cuda bool, bs []*cgo.Batch, step func(*cgo.Batch) error, drain func() error,
	top int) (string, []KernelTime, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, name+".trace.json")
	// The profiler records the operators of the thread that started it, and must be stopped there.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := b.StartProfile(cuda); err != nil {
		return "", nil, err
	}
	var stepErr error
	for _, bt := range bs {
		if stepErr = step(bt); stepErr != nil {
			break
		}
	}
	if stepErr == nil {
		stepErr = drain()
	}
	if err := b.StopProfile(path); err != nil {
		return "", nil, err
	}
	if stepErr != nil {
		return "", nil, stepErr
	}
	kt, err := SummarizeTrace(path, len(bs), top)
	return path, kt, err
}

type traceEvent struct {
	Ph   string          `json:"ph"`
	Cat  string          `json:"cat"`
	Name string          `json:"name"`
	Pid  json.RawMessage `json:"pid"`
	Tid  json.RawMessage `json:"tid"`
	Ts   float64         `json:"ts"`  // microseconds
	Dur  float64         `json:"dur"` // microseconds
}

// SummarizeTrace reads a Chrome trace from the profiler and returns the top entries by time, per
// step over steps steps: the CUDA kernels when the trace has any, else the CPU operators by self
// time.
func SummarizeTrace(path string, steps, top int) ([]KernelTime, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tr struct {
		TraceEvents []traceEvent `json:"traceEvents"`
	}
	if err := json.Unmarshal(data, &tr); err != nil {
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	var kernels, ops []traceEvent
	for _, e := range tr.TraceEvents {
		if e.Ph != "X" {
			continue
		}
		switch strings.ToLower(e.Cat) {
		case "kernel":
			kernels = append(kernels, e)
		case "cpu_op", "operator":
			ops = append(ops, e)
		}
	}
	times := map[string]float64{}
	calls := map[string]int{}
	if len(kernels) > 0 {
		for _, e := range kernels {
			times[e.Name] += e.Dur
			calls[e.Name]++
		}
	} else {
		for _, s := range selfTimes(ops) {
			times[s.name] += s.self
			calls[s.name]++
		}
	}
	if len(times) == 0 {
		return nil, fmt.Errorf("trace %s: no kernel or operator events", path)
	}
	total := 0.0
	for _, t := range times {
		total += t
	}
	steps = max(steps, 1)
	out := make([]KernelTime, 0, len(times))
	for name, t := range times {
		out = append(out, KernelTime{Name: name, Calls: float64(calls[name]) / float64(steps), MSPerStep: t / 1e3 / float64(steps), Share: t / total})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].MSPerStep != out[j].MSPerStep {
			return out[i].MSPerStep > out[j].MSPerStep
		}
		return out[i].Name < out[j].Name
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out, nil
}

type selfTime struct {
	name string
	self float64
}

// selfTimes subtracts from each operator the time of the operators it called: on one thread,
// an event that starts inside another and ends by its end is its child.
func selfTimes(ops []traceEvent) []selfTime {
	byThread := map[string][]int{}
	for i, e := range ops {
		k := string(e.Pid) + "/" + string(e.Tid)
		byThread[k] = append(byThread[k], i)
	}
	out := make([]selfTime, len(ops))
	for i, e := range ops {
		out[i] = selfTime{name: e.Name, self: e.Dur}
	}
	for _, idx := range byThread {
		sort.SliceStable(idx, func(a, b int) bool {
			ea, eb := ops[idx[a]], ops[idx[b]]
			if ea.Ts != eb.Ts {
				return ea.Ts < eb.Ts
			}
			return ea.Dur > eb.Dur // a parent and its first child can start together
		})
		var stack []int
		for _, i := range idx {
			e := ops[i]
			for len(stack) > 0 {
				p := ops[stack[len(stack)-1]]
				if e.Ts >= p.Ts+p.Dur {
					stack = stack[:len(stack)-1]
					continue
				}
				break
			}
			if len(stack) > 0 {
				out[stack[len(stack)-1]].self -= e.Dur
			}
			stack = append(stack, i)
		}
	}
	for i := range out {
		out[i].self = max(out[i].self, 0)
	}
	return out
}
