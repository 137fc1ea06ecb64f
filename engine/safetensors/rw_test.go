package safetensors

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func randomTensor(rng *rand.Rand, name string, d DType, shape []int) Tensor {
	size, err := ByteSize(d, shape)
	if err != nil {
		panic(err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return Tensor{Name: name, DType: d, Shape: shape, Data: data}
}

func mustOpen(t testing.TB, path string) *File {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestRoundTripEveryDType(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var tensors []Tensor
	for _, d := range DTypes() {
		shapes := [][]int{{2, 3, 4}, {}, {0, 5}, {8}}
		if d.Bits() < 8 {
			shapes = [][]int{{2, 4}, {0}, {16}} // packed types fill whole bytes only
		}
		for i, s := range shapes {
			tensors = append(tensors, randomTensor(rng, fmt.Sprintf("%s.t%d", strings.ToLower(string(d)), i), d, s))
		}
	}
	meta := map[string]string{"format": "pt", "quote\"and\\slash": "tab\tnewline\n\x01 é"}
	for _, mmap := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "all.safetensors")
		if err := Write(path, tensors, meta); err != nil {
			t.Fatal(err)
		}
		f, err := open(path, mmap)
		if err != nil {
			t.Fatal(err)
		}
		if f.Mapped() != mmap {
			t.Fatalf("Mapped() = %v, want %v", f.Mapped(), mmap)
		}
		if f.Len() != len(tensors) {
			t.Fatalf("Len %d want %d", f.Len(), len(tensors))
		}
		names := f.Names()
		if !slices.IsSorted(names) {
			t.Fatalf("Names not sorted: %v", names)
		}
		for _, want := range tensors {
			info, err := f.Info(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			if info.DType != want.DType || !slices.Equal(info.Shape, want.Shape) {
				t.Fatalf("%s: info %+v, want %s %v", want.Name, info, want.DType, want.Shape)
			}
			raw := f.Raw(want.Name)
			if raw == nil || !bytes.Equal(raw, want.Data) {
				t.Fatalf("%s: data differs", want.Name)
			}
			if want.DType.IsFloat() {
				got, err := f.Float32(want.Name)
				if err != nil {
					t.Fatal(err)
				}
				ref := make([]float32, len(got))
				if err := DecodeFloat32(want.DType, want.Data, ref); err != nil {
					t.Fatal(err)
				}
				if !bitsEqual(got, ref) {
					t.Fatalf("%s: Float32 differs", want.Name)
				}
			} else if _, err := f.Float32(want.Name); err == nil || !strings.Contains(err.Error(), want.Name) {
				t.Fatalf("%s: Float32 of %s: %v", want.Name, want.DType, err)
			}
		}
		if got := f.Metadata(); len(got) != len(meta) || got["quote\"and\\slash"] != meta["quote\"and\\slash"] {
			t.Fatalf("metadata %q", got)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func bitsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// Byte layouts that the reference implementation's own tests pin down.
func TestHeaderLayoutMatchesReference(t *testing.T) {
	f32 := func(v ...float32) []byte { b, _ := EncodeFloat32(F32, v); return b }
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		header  string
	}{
		{"no padding needed", []Tensor{{"attn.0", F32, []int{1, 2, 3}, f32(0, 1, 2, 3, 4, 5)}}, nil,
			`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`},
		{"padded with spaces", []Tensor{{"attn0", F32, []int{1, 1, 2, 3}, f32(0, 1, 2, 3, 4, 5)}}, nil,
			`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `},
		{"empty", nil, nil, `{}      `},
		{"empty with metadata", nil, map[string]string{"framework": "pt"}, `{"__metadata__":{"framework":"pt"}}     `},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "x.safetensors")
		if err := Write(path, tt.tensors, tt.meta); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		want := binary.LittleEndian.AppendUint64(nil, uint64(len(tt.header)))
		want = append(want, tt.header...)
		for _, x := range tt.tensors {
			want = append(want, x.Data...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, want)
		}
		mustOpen(t, path)
	}
}

func TestWriteOrderIsDTypeRankThenName(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	in := []Tensor{
		randomTensor(rng, "b", BF16, []int{3}),
		randomTensor(rng, "z", U8, []int{5}),
		randomTensor(rng, "a", BF16, []int{1}),
		randomTensor(rng, "m", F32, []int{2}),
		randomTensor(rng, "c", I64, []int{1}),
		randomTensor(rng, "k", F64, []int{1}),
		randomTensor(rng, "flag", BOOL, []int{3}),
	}
	path := filepath.Join(t.TempDir(), "o.safetensors")
	if err := Write(path, in, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	byOffset := f.Names()
	slices.SortFunc(byOffset, func(x, y string) int {
		a, _ := f.Info(x)
		b, _ := f.Info(y)
		return int(a.Offsets[0] - b.Offsets[0])
	})
	want := []string{"c", "k", "m", "a", "b", "z", "flag"} // I64 > F64 > F32 > BF16 > U8 > BOOL
	if !slices.Equal(byOffset, want) {
		t.Fatalf("file order %v, want %v", byOffset, want)
	}
	// Data starts 8-aligned and, with wider types first, every tensor is aligned to its width.
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		if w := int64(info.DType.Bits() / 8); (f.dataOff+info.Offsets[0])%w != 0 {
			t.Errorf("%s misaligned at %d", n, f.dataOff+info.Offsets[0])
		}
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	good := Tensor{Name: "x", DType: F32, Shape: []int{2}, Data: make([]byte, 8)}
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"data too short", []Tensor{{Name: "x", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}}, nil, `"x": F32 shape [3] needs 12 bytes, data has 8`},
		{"unknown dtype", []Tensor{{Name: "y", DType: "F12", Shape: []int{1}, Data: make([]byte, 2)}}, nil, `unknown dtype "F12"`},
		{"negative dim", []Tensor{{Name: "n", DType: U8, Shape: []int{-1}}}, nil, "negative dimension"},
		{"duplicate", []Tensor{good, good}, nil, `"x" given twice`},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: U8, Shape: []int{0}, Data: []byte{}}}, nil, "reserved"},
		{"bad utf8 name", []Tensor{{Name: "\xff", DType: U8, Shape: []int{0}, Data: []byte{}}}, nil, "UTF-8"},
		{"bad utf8 metadata", nil, map[string]string{"k": "\xfe"}, "UTF-8"},
		{"odd packed size", []Tensor{{Name: "p", DType: F4, Shape: []int{3}, Data: make([]byte, 2)}}, nil, "whole bytes"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name+".safetensors")
		err := Write(path, tt.tensors, tt.meta)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
		if _, statErr := os.Stat(path); statErr == nil {
			t.Errorf("%s: file written despite error", tt.name)
		}
	}
}

func TestWriteStreamChecksCallback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.safetensors")
	specs := []Spec{{"a", F32, []int{4}}, {"b", BF16, []int{3}}}
	vals := map[string][]float32{"a": {1, 2, 3, 4}, "b": {0.5, -1, 3.14159}}
	fill := func(s Spec, w io.Writer) error { return WriteFloat32(w, s.DType, vals[s.Name]) }
	if err := WriteStream(context.Background(), path, specs, map[string]string{"format": "pt"}, fill); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	f := mustOpen(t, path)
	b, err := f.Float32("b")
	if err != nil || b[2] != Float32FromBF16(BF16FromFloat32(3.14159)) || b[1] != -1 {
		t.Fatalf("b = %v, %v", b, err)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		fill func(Spec, io.Writer) error
		want string
	}{
		{"short", context.Background(), func(s Spec, w io.Writer) error {
			_, err := w.Write([]byte{1, 2})
			return err
		}, `tensor "a": wrote 2 of its 16 bytes`},
		{"long", context.Background(), func(s Spec, w io.Writer) error {
			_, err := w.Write(make([]byte, 100))
			return err
		}, "exceeds the 16 bytes left"},
		{"callback error", context.Background(), func(s Spec, w io.Writer) error {
			if s.Name == "b" {
				return errors.New("device lost")
			}
			return fill(s, w)
		}, `tensor "b": device lost`},
		{"cancelled", cancelled, fill, "context canceled"},
	}
	for _, tt := range tests {
		err := WriteStream(tt.ctx, path, specs, nil, tt.fill)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(before, after) {
			t.Errorf("%s: failed write changed the file", tt.name)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestFromFloat32(t *testing.T) {
	v := []float32{1, 1 + 0x1p-11, 65520, -0x1p-25}
	for _, d := range []DType{F32, F16, BF16, F64} {
		tt, err := FromFloat32("w", d, []int{2, 2}, v)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(tt.Data)) != int64(4*d.Bits()/8) {
			t.Fatalf("%s: %d bytes", d, len(tt.Data))
		}
	}
	h, _ := FromFloat32("h", F16, []int{4}, v)
	if got := binary.LittleEndian.Uint16(h.Data[2:]); got != 0x3C00 {
		t.Fatalf("f16 tie: %#04x", got)
	}
	if got := binary.LittleEndian.Uint16(h.Data[4:]); got != 0x7C00 {
		t.Fatalf("f16 65520: %#04x", got)
	}
	if _, err := FromFloat32("w", F16, []int{3}, v); err == nil || !strings.Contains(err.Error(), "3 elements, got 4") {
		t.Fatalf("shape mismatch: %v", err)
	}
	if _, err := FromFloat32("w", I32, []int{4}, v); err == nil {
		t.Fatal("I32 accepted")
	}
}

func TestCloseReleases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.safetensors")
	x, _ := FromFloat32("x", F32, []int{3}, []float32{1, 2, 3})
	if err := Write(path, []Tensor{x}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Mapped() {
		t.Fatal("regular file was not mapped")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if f.Raw("x") != nil {
		t.Fatal("Raw after Close")
	}
	if _, err := f.Float32("x"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Float32 after Close: %v", err)
	}
	if _, err := f.Info("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Info of missing: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.safetensors")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestFloat32IntoChecksLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.safetensors")
	x, _ := FromFloat32("x", BF16, []int{2, 2}, []float32{1, 2, 3, 4})
	if err := Write(path, []Tensor{x}, nil); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	dst := make([]float32, 4)
	if err := f.Float32Into("x", dst); err != nil || !slices.Equal(dst, []float32{1, 2, 3, 4}) {
		t.Fatalf("%v %v", dst, err)
	}
	if err := f.Float32Into("x", make([]float32, 3)); err == nil || !strings.Contains(err.Error(), "4 elements, destination has 3") {
		t.Fatalf("short dst: %v", err)
	}
}
