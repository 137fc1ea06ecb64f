package safetensors

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shardFixture: 10 tensors of known sizes, fill from a map.
func shardFixture(seed uint64) ([]Spec, map[string][]byte, func(Spec, io.Writer) error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	shapes := []struct {
		name  string
		dtype DType
		shape []int
	}{
		{"embed.weight", F32, []int{50, 8}}, // 1600 bytes: bigger than the shard limit below
		{"layers.0.w", F32, []int{8, 8}},    // 256
		{"layers.0.b", BF16, []int{8}},      // 16
		{"layers.1.w", F32, []int{8, 8}},
		{"layers.1.b", BF16, []int{8}},
		{"layers.2.w", F16, []int{8, 8}}, // 128
		{"layers.2.b", BF16, []int{8}},
		{"norm.weight", F32, []int{8}}, // 32
		{"head.weight", F32, []int{1, 8}},
		{"step", I64, []int{}},
	}
	var specs []Spec
	data := map[string][]byte{}
	for _, s := range shapes {
		tt := randomTensor(rng, s.name, s.dtype, s.shape)
		specs = append(specs, tt.Spec())
		data[s.name] = tt.Data
	}
	fill := func(s Spec, w io.Writer) error {
		_, err := w.Write(data[s.Name])
		return err
	}
	return specs, data, fill
}

func TestShardedRoundTrip(t *testing.T) {
	specs, data, fill := shardFixture(5)
	dir := t.TempDir()
	files, err := WriteSharded(context.Background(), dir, specs, map[string]string{"format": "pt"}, 600, fill)
	if err != nil {
		t.Fatal(err)
	}
	// Greedy in spec order with a 600-byte limit: embed alone (too big), then
	// [l0.w l0.b l1.w l1.b] = 544, [l2.w l2.b norm head step] = 128+16+32+32+8 = 216.
	want := []string{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", IndexFileName}
	if !slices.Equal(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	var idx struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	raw, _ := os.ReadFile(filepath.Join(dir, IndexFileName))
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, b := range data {
		total += int64(len(b))
	}
	if idx.Metadata["total_size"] != total || len(idx.WeightMap) != len(specs) {
		t.Fatalf("index %s", raw)
	}
	if idx.WeightMap["embed.weight"] != want[0] || idx.WeightMap["layers.1.b"] != want[1] || idx.WeightMap["step"] != want[2] {
		t.Fatalf("assignment %v", idx.WeightMap)
	}

	set, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if set.Len() != len(specs) || len(set.Files()) != 3 {
		t.Fatalf("%d tensors in %d files", set.Len(), len(set.Files()))
	}
	if !slices.IsSorted(set.Names()) {
		t.Fatal("names not sorted")
	}
	for _, s := range specs {
		info, err := set.Info(s.Name)
		if err != nil || info.DType != s.DType || !slices.Equal(info.Shape, s.Shape) {
			t.Fatalf("%s: %+v %v", s.Name, info, err)
		}
		if !bytes.Equal(set.Raw(s.Name), data[s.Name]) {
			t.Fatalf("%s: bytes differ", s.Name)
		}
	}
	if v, err := set.Float32("layers.2.w"); err != nil || len(v) != 64 {
		t.Fatalf("Float32: %v", err)
	}
	if set.Metadata()["format"] != "pt" {
		t.Fatalf("metadata %v", set.Metadata())
	}
	if _, err := set.Info("nope"); err == nil || !strings.Contains(err.Error(), "3 shards") {
		t.Fatalf("missing tensor: %v", err)
	}
}

func TestShardedSaveReplacesEarlierLayout(t *testing.T) {
	specs, data, fill := shardFixture(9)
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := WriteSharded(ctx, dir, specs, nil, 600, fill); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("{}"), 0o644) // not ours: must survive
	// Unlimited: one file, and the shards and index of the earlier save go.
	files, err := WriteSharded(ctx, dir, specs, nil, 0, fill)
	if err != nil || !slices.Equal(files, []string{SingleFileName}) {
		t.Fatalf("%v %v", files, err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"config.json", SingleFileName}) {
		t.Fatalf("directory holds %v", names)
	}
	// Back to shards: the single file, which would shadow the index, goes.
	if _, err := WriteSharded(ctx, dir, specs, nil, 1000, fill); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, SingleFileName)); !os.IsNotExist(err) {
		t.Fatalf("stale %s left: %v", SingleFileName, err)
	}
	set, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	for n, b := range data {
		if !bytes.Equal(set.Raw(n), b) {
			t.Fatalf("%s differs", n)
		}
	}
}

func TestShardedErrors(t *testing.T) {
	specs, _, fill := shardFixture(11)
	write := func(t *testing.T) string {
		dir := t.TempDir()
		if _, err := WriteSharded(context.Background(), dir, specs, nil, 600, fill); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	editIndex := func(t *testing.T, dir string, edit func(m map[string]string)) {
		p := filepath.Join(dir, IndexFileName)
		var idx shardIndex
		raw, _ := os.ReadFile(p)
		if err := json.Unmarshal(raw, &idx); err != nil {
			t.Fatal(err)
		}
		edit(idx.WeightMap)
		raw, _ = json.Marshal(idx)
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"missing shard", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model-00002-of-00003.safetensors"))
		}, "shard model-00002-of-00003.safetensors is missing"},
		{"tensor claimed but absent", func(t *testing.T, dir string) {
			editIndex(t, dir, func(m map[string]string) { m["ghost.weight"] = "model-00003-of-00003.safetensors" })
		}, `tensor "ghost.weight" is assigned to shard model-00003-of-00003.safetensors, which does not hold it`},
		{"tensor in the wrong shard", func(t *testing.T, dir string) {
			editIndex(t, dir, func(m map[string]string) { m["step"] = "model-00002-of-00003.safetensors" })
		}, `tensor "step" is assigned to shard model-00002-of-00003.safetensors`},
		{"tensor not in the index", func(t *testing.T, dir string) {
			editIndex(t, dir, func(m map[string]string) { delete(m, "norm.weight") })
		}, `holds tensor "norm.weight" but the index does not list it`},
		{"shard outside the folder", func(t *testing.T, dir string) {
			editIndex(t, dir, func(m map[string]string) { m["step"] = "../x.safetensors" })
		}, "not a path inside"},
		{"corrupt shard", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model-00001-of-00003.safetensors")
			raw, _ := os.ReadFile(p)
			os.WriteFile(p, raw[:len(raw)-1], 0o644)
		}, `tensor "embed.weight": data_offsets`},
		{"bad index JSON", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map": [`), 0o644)
		}, "invalid JSON"},
		{"empty weight map", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"metadata": {}}`), 0o644)
		}, "weight_map is missing or empty"},
		{"nothing there", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, IndexFileName))
		}, "holds neither model.safetensors nor model.safetensors.index.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := write(t)
			tt.setup(t, dir)
			set, err := OpenDir(dir)
			if err == nil {
				set.Close()
				t.Fatal("opened a broken checkpoint")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestOpenDirPrefersSingleFile(t *testing.T) {
	specs, _, fill := shardFixture(13)
	dir := t.TempDir()
	if _, err := WriteSharded(context.Background(), dir, specs, nil, 600, fill); err != nil {
		t.Fatal(err)
	}
	x, _ := FromFloat32("only", F32, []int{1}, []float32{7})
	if err := Write(filepath.Join(dir, SingleFileName), []Tensor{x}, nil); err != nil {
		t.Fatal(err)
	}
	set, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if !slices.Equal(set.Names(), []string{"only"}) {
		t.Fatalf("transformers loads model.safetensors first; got %v", set.Names())
	}
}

func TestIndexPathsAreCleaned(t *testing.T) {
	specs, data, fill := shardFixture(17)
	dir := t.TempDir()
	if _, err := WriteSharded(context.Background(), dir, specs, nil, 600, fill); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, IndexFileName)
	var idx shardIndex
	raw, _ := os.ReadFile(p)
	json.Unmarshal(raw, &idx)
	idx.WeightMap["step"] = "./" + idx.WeightMap["step"]
	raw, _ = json.Marshal(idx)
	os.WriteFile(p, raw, 0o644)
	set, err := OpenDir(dir)
	if err != nil {
		t.Fatalf("./shard not taken as the same shard: %v", err)
	}
	defer set.Close()
	if !bytes.Equal(set.Raw("step"), data["step"]) {
		t.Fatal("step differs")
	}
}
