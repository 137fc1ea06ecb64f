package safetensors

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

const benchElems = 1 << 22 // 4M elements: 16 MB of F32

func benchValues() []float32 {
	rng := rand.New(rand.NewPCG(21, 22))
	v := make([]float32, benchElems)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func BenchmarkDecodeFloat32(b *testing.B) {
	v := benchValues()
	for _, d := range []DType{F32, BF16, F16, F64} {
		raw, _ := EncodeFloat32(d, v)
		dst := make([]float32, len(v))
		b.Run(string(d), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := DecodeFloat32(d, raw, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeFloat32(b *testing.B) {
	v := benchValues()
	for _, d := range []DType{F32, BF16, F16} {
		b.Run(string(d), func(b *testing.B) {
			b.SetBytes(int64(len(v) * d.Bits() / 8))
			for b.Loop() {
				if err := WriteFloat32(io.Discard, d, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Open (mmap + header validation) and reading every tensor of a 64 MB, 256-tensor file.
func BenchmarkOpenAndRead(b *testing.B) {
	v := benchValues()
	var specs []Spec
	for i := range 256 {
		specs = append(specs, Spec{Name: fmt.Sprintf("layer.%d.weight", i), DType: F32, Shape: []int{benchElems / 256}})
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	fill := func(s Spec, w io.Writer) error { return WriteFloat32(w, F32, v[:benchElems/256]) }
	if err := WriteStream(context.Background(), path, specs, nil, fill); err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, benchElems/256)
	b.SetBytes(benchElems * 4)
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range f.Names() {
			if err := f.Float32Into(n, dst); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
	}
}

// Streaming write of 16 MB through atomicfile (includes fsync).
func BenchmarkWriteStream(b *testing.B) {
	v := benchValues()
	specs := []Spec{{Name: "w", DType: BF16, Shape: []int{benchElems}}}
	path := filepath.Join(b.TempDir(), "w.safetensors")
	fill := func(s Spec, w io.Writer) error { return WriteFloat32(w, s.DType, v) }
	b.SetBytes(benchElems * 2)
	for b.Loop() {
		if err := WriteStream(context.Background(), path, specs, nil, fill); err != nil {
			b.Fatal(err)
		}
	}
}
