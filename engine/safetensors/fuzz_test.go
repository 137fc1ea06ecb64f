package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen: whatever the bytes, Open returns a file or an error, never panics or reads out of
// bounds; and what it accepts is self-consistent and survives a rewrite unchanged.
func FuzzOpen(f *testing.F) {
	f.Add(rawFile(`{}`, 0))
	f.Add(rawFile(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, 4))
	f.Add(rawFile(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}`, 12))
	f.Add(rawFile(`{"w":{"dtype":"BF16","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, 8))
	f.Add(rawFile(`{"q":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}}`, 2))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'})
	{
		dir := f.TempDir()
		p := filepath.Join(dir, "seed.safetensors")
		a, _ := FromFloat32("a", F32, []int{2, 2}, []float32{1, -2, 3.5, 0})
		b, _ := FromFloat32("b", BF16, []int{3}, []float32{1, 2, 3})
		if err := Write(p, []Tensor{a, b}, map[string]string{"format": "pt"}); err != nil {
			f.Fatal(err)
		}
		raw, _ := os.ReadFile(p)
		f.Add(raw)
		f.Add(raw[:len(raw)-1])
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp, err := os.CreateTemp(dir, "fuzz-*.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		path := tmp.Name()
		defer os.Remove(path)
		tmp.Write(data)
		tmp.Close()

		file, err := Open(path)
		if err != nil {
			return
		}
		defer file.Close()
		var tensors []Tensor
		total := 0
		for _, n := range file.Names() {
			info, err := file.Info(n)
			if err != nil {
				t.Fatal(err)
			}
			raw := file.Raw(n)
			size, err := ByteSize(info.DType, info.Shape)
			if err != nil || int64(len(raw)) != size {
				t.Fatalf("%s: %d bytes for %s %v (%v)", n, len(raw), info.DType, info.Shape, err)
			}
			total += len(raw)
			if info.DType.IsFloat() && info.NumElements() < 1<<20 {
				if _, err := file.Float32(n); err != nil {
					t.Fatal(err)
				}
			}
			tensors = append(tensors, Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: raw})
		}
		if int64(total)+file.dataOff != int64(len(data)) {
			t.Fatalf("tensors cover %d bytes, data section is %d", total, int64(len(data))-file.dataOff)
		}
		out := filepath.Join(dir, "rewrite.safetensors")
		defer os.Remove(out)
		if err := Write(out, tensors, file.Metadata()); err != nil {
			t.Fatalf("rewrite of an accepted file failed: %v", err)
		}
		again, err := Open(out)
		if err != nil {
			t.Fatalf("rewrite does not open: %v", err)
		}
		defer again.Close()
		for _, tt := range tensors {
			if !bytes.Equal(again.Raw(tt.Name), tt.Data) {
				t.Fatalf("%s changed in the rewrite", tt.Name)
			}
		}
	})
}
