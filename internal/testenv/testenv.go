// Package testenv holds what tests in several packages need from the machine: the CPU backend
// and the HuggingFace fixtures in shared/ beside the checkout. Tests fail, naming the missing
// piece, rather than skip: both are part of every checkout that runs `make test`.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/armap/armap/cgo"
)

// CPUBackend opens the CPU backend with one intra-op thread per core.
func CPUBackend(t testing.TB) *cgo.Backend {
	t.Helper()
	return CPUBackendThreads(t, runtime.NumCPU())
}

// CPUBackendThreads opens the CPU backend with the given number of intra-op threads. Tests that
// run many small calls beside other packages' tests ask for one: libtorch's spinning thread pool
// slows down many times over on oversubscribed cores.
func CPUBackendThreads(t testing.TB, threads int) *cgo.Backend {
	t.Helper()
	b, err := cgo.OpenDevice("cpu")
	if err != nil {
		t.Fatalf("the CPU backend is needed for this test (run `make backend`): %v", err)
	}
	if err := b.SetThreads(threads); err != nil {
		t.Fatal(err)
	}
	return b
}

// Fixtures finds shared/fixtures/hf beside the checkout, looking upwards from the test's folder.
func Fixtures(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; filepath.Dir(d) != d; d = filepath.Dir(d) {
		p := filepath.Join(d, "..", "shared", "fixtures", "hf")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
	}
	t.Fatalf("shared/fixtures/hf not found beside the checkout (looked upwards from %s)", wd)
	return ""
}
