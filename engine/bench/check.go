package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
)

// DeviceCheck compares one fixture model on a device against the CPU path of the same backend.
type DeviceCheck struct {
	Model     string  `json:"model"`
	DType     string  `json:"dtype"`
	MaxRelErr float64 `json:"max_rel_err"`
	Tolerance float64 `json:"tolerance"`
	OK        bool    `json:"ok"`
}

// CheckDevice scores the HuggingFace fixture models (shared/fixtures/hf/models) on dev in float32
// and bf16 and compares with the CPU path: float32 within 1e-4 relative, bf16 within 2e-2.
func CheckDevice(b *cgo.Backend, fixtures string, dev cgo.Device) ([]DeviceCheck, error) {
	var out []DeviceCheck
	for _, name := range []string{"bert_tiny", "llama_tiny", "qwen2_tiny"} {
		dir := filepath.Join(fixtures, "models", name)
		var ref struct {
			InputIDs      [][]int32 `json:"input_ids"`
			AttentionMask [][]int32 `json:"attention_mask"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, &ref); err != nil {
			return nil, err
		}
		batch := &cgo.Batch{CuSeqlens: []int32{0}}
		for i, ids := range ref.InputIDs {
			for j, id := range ids {
				if ref.AttentionMask[i][j] == 1 {
					batch.Tokens = append(batch.Tokens, id)
				}
			}
			batch.CuSeqlens = append(batch.CuSeqlens, int32(len(batch.Tokens)))
		}
		score := func(d cgo.Device, dt cgo.DType) ([]float32, error) {
			m, _, _, err := model.Load(b, dir, cgo.ModelOptions{Device: d, ComputeDType: dt})
			if err != nil {
				return nil, err
			}
			defer m.Close()
			return m.Score(batch)
		}
		want, err := score(cgo.CPU, cgo.F32)
		if err != nil {
			return nil, err
		}
		for _, c := range []struct {
			dt  cgo.DType
			tol float64
		}{{cgo.F32, 1e-4}, {cgo.BF16, 2e-2}} {
			got, err := score(dev, c.dt)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", name, dtypeName(c.dt), err)
			}
			worst := 0.0
			for i := range want {
				worst = math.Max(worst, math.Abs(float64(got[i]-want[i]))/math.Max(1, math.Abs(float64(want[i]))))
			}
			out = append(out, DeviceCheck{Model: name, DType: dtypeName(c.dt), MaxRelErr: worst, Tolerance: c.tol, OK: worst <= c.tol})
		}
	}
	return out, nil
}
