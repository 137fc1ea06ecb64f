//go:build unix

package safetensors

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A pipe cannot be mapped: Open must fall back to reading it whole.
func TestOpenReadsWhatCannotBeMapped(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.safetensors")
	x, _ := FromFloat32("x", F16, []int{2}, []float32{0.5, -3})
	if err := Write(src, []Tensor{x}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(src)
	fifo := filepath.Join(dir, "pipe.safetensors")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write(raw)
		w.Close()
	}()
	f, err := Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Mapped() {
		t.Fatal("a pipe reported as mapped")
	}
	v, err := f.Float32("x")
	if err != nil || v[0] != 0.5 || v[1] != -3 {
		t.Fatalf("%v %v", v, err)
	}
}
