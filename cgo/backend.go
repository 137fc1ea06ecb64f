// Package cgo is the Go binding of armap's C ABI (kernels/include/armap.h). It dlopens a backend
// library at run time (libarmap_cpu.so or libarmap_cuda.so), so the Go binary links only libc
// and packages that do not score or train build and test without libtorch.
//
// Every native object (Model, Trainer) is released by its Close method; nothing relies on Go
// finalizers, which run too late and too rarely for GPU memory.
//
// armap.h here is a link to kernels/include/armap.h: the go command hashes the header files in a
// package's own folder into its build cache key, not those it finds through -I, so without the
// link a changed ABI header would leave a cached binding that speaks the old ABI.
package cgo

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include "armap.h"
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Status mirrors armap_status.
type Status int

const (
	StatusOK              Status = C.ARMAP_OK
	StatusInvalidArgument Status = C.ARMAP_ERR_INVALID_ARGUMENT
	StatusNotFound        Status = C.ARMAP_ERR_NOT_FOUND
	StatusOutOfMemory     Status = C.ARMAP_ERR_OUT_OF_MEMORY
	StatusUnsupported     Status = C.ARMAP_ERR_UNSUPPORTED
	StatusInternal        Status = C.ARMAP_ERR_INTERNAL
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusInvalidArgument:
		return "invalid argument"
	case StatusNotFound:
		return "not found"
	case StatusOutOfMemory:
		return "out of memory"
	case StatusUnsupported:
		return "unsupported"
	case StatusInternal:
		return "internal error"
	}
	return fmt.Sprintf("status %d", int(s))
}

// Error is a failed backend call: which call, the status and the backend's message.
type Error struct {
	Op     string
	Status Status
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %s", e.Op, e.Status, e.Msg) }

// Is lets errors.Is(err, cgo.ErrInvalidArgument) and friends match on the status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Msg == "" && t.Status == e.Status
}

// Sentinels for errors.Is.
var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrNotFound        = &Error{Status: StatusNotFound}
	ErrOutOfMemory     = &Error{Status: StatusOutOfMemory}
	ErrUnsupported     = &Error{Status: StatusUnsupported}
)

// ErrClosed is returned by any call on a closed handle.
var ErrClosed = errors.New("cgo: use of a closed handle")

func check(op string, st C.armap_status, e *C.armap_error) error {
	if st == C.ARMAP_OK {
		return nil
	}
	return &Error{Op: op, Status: Status(st), Msg: C.GoString(&e.msg[0])}
}

// Backend is a loaded backend library.
type Backend struct {
	path    string
	fns     *C.armap_fns // C memory: function pointers resolved by dlsym
	info    Info
	threads atomic.Int64 // info.Threads, set by SetThreads while others may read Info
}

// errNotOpened is what a zero Backend answers instead of calling through a null function table.
var errNotOpened = errors.New("cgo: backend not opened (use Open or OpenDevice)")

func (b *Backend) ready() error {
	if b == nil || b.fns == nil {
		return errNotOpened
	}
	return nil
}

// Info describes a backend: what `armap info` prints.
type Info struct {
	Path              string `json:"path"`
	Backend           string `json:"backend"`
	TorchVersion      string `json:"torch_version"`
	CUDAAvailable     bool   `json:"cuda_available"`
	CUDADeviceCount   int    `json:"cuda_device_count"`
	DeviceName        string `json:"device_name"`
	Threads           int    `json:"threads"`
	ABIVersion        int    `json:"abi_version"`
	BindingABIVersion int    `json:"binding_abi_version"`
	// Features are the optional parts built into the backend (fused_linear, cudnn_attention,
	// add_norm_kernels, colsum_kernels, profiler); a CUDA build lacks those whose source fell
	// back to kernels/fallback/.
	Features []string `json:"features"`
}

// Has reports whether the backend was built with an optional part (Info.Features).
func (i Info) Has(feature string) bool {
	return slices.Contains(i.Features, feature)
}

// LibraryName is the file name of the backend for a device ("cpu" or "cuda").
func LibraryName(device string) string {
	if device == "cuda" {
		return "libarmap_cuda.so"
	}
	return "libarmap_cpu.so"
}

// Find locates the backend library for device. Order: $ARMAP_BACKEND (a file, or a folder that
// holds the library), the folder of the running binary, its ../build and ../lib, then build/ in
// the current folder or any folder above it (so `go test` in a package folder finds the
// library `make build` made at the repository root).
func Find(device string) (string, error) {
	name := LibraryName(device)
	var tried []string
	try := func(p string) bool {
		tried = append(tried, p)
		st, err := os.Stat(p)
		return err == nil && !st.IsDir()
	}
	if env := os.Getenv("ARMAP_BACKEND"); env != "" {
		if st, err := os.Stat(env); err == nil && st.IsDir() {
			env = filepath.Join(env, name)
		} else if device == "cuda" && filepath.Base(env) == LibraryName("cpu") {
			// ARMAP_BACKEND names the CPU library (as `make test` sets it): look for the CUDA
			// one beside it.
			env = filepath.Join(filepath.Dir(env), name)
		}
		if try(env) {
			return env, nil
		}
		return "", fmt.Errorf("ARMAP_BACKEND=%s: no backend library %s there", os.Getenv("ARMAP_BACKEND"), name)
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		for _, d := range []string{dir, filepath.Join(dir, "..", "build"), filepath.Join(dir, "..", "lib")} {
			if p := filepath.Join(d, name); try(p) {
				return filepath.Clean(p), nil
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if p := filepath.Join(d, "build", name); try(p) {
				return p, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("backend library %s not found (build it with `make build`%s, or set ARMAP_BACKEND); looked in: %s",
		name, map[bool]string{true: " and scripts/build_cuda.sh", false: ""}[device == "cuda"], strings.Join(tried, ", "))
}

// Open loads the backend library at path and checks that its ABI matches this binding.
func Open(path string) (*Backend, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	fns := (*C.armap_fns)(C.calloc(1, C.sizeof_armap_fns))
	var cerr [512]C.char
	if rc := C.armap_load(cpath, fns, &cerr[0], C.int(len(cerr))); rc != 0 {
		C.free(unsafe.Pointer(fns))
		return nil, fmt.Errorf("load backend %s: %s", path, C.GoString(&cerr[0]))
	}
	b := &Backend{path: path, fns: fns}
	if v := int(C.call_abi_version(fns)); v != C.ARMAP_ABI_VERSION {
		C.free(unsafe.Pointer(fns)) // the library stays loaded: nothing of it is called again
		return nil, fmt.Errorf("load backend %s: ABI version %d, this binary speaks %d: rebuild the backend", path, v, C.ARMAP_ABI_VERSION)
	}
	var info C.armap_backend_info
	var e C.armap_error
	if err := check("armap_get_backend_info", C.call_get_backend_info(fns, &info, &e), &e); err != nil {
		C.free(unsafe.Pointer(fns))
		return nil, err
	}
	b.info = Info{
		Path:              path,
		Backend:           C.GoString(&info.backend[0]),
		TorchVersion:      C.GoString(&info.torch_version[0]),
		CUDAAvailable:     info.cuda_available != 0,
		CUDADeviceCount:   int(info.cuda_device_count),
		DeviceName:        C.GoString(&info.device_name[0]),
		Threads:           int(info.num_threads),
		ABIVersion:        int(info.abi_version),
		BindingABIVersion: C.ARMAP_ABI_VERSION,
		Features:          strings.Fields(C.GoString(&info.features[0])),
	}
	return b, nil
}

// OpenDevice finds and opens the backend for device ("cpu" or "cuda").
func OpenDevice(device string) (*Backend, error) {
	if device != "cpu" && device != "cuda" {
		return nil, fmt.Errorf("unknown device %q (want cpu or cuda)", device)
	}
	p, err := Find(device)
	if err != nil {
		return nil, err
	}
	b, err := Open(p)
	if err != nil {
		return nil, err
	}
	if device == "cuda" && (!b.info.CUDAAvailable || b.info.CUDADeviceCount == 0) {
		return nil, fmt.Errorf("backend %s: no CUDA device is visible", p)
	}
	return b, nil
}

// Info reports the backend's build and runtime.
func (b *Backend) Info() Info {
	info := b.info
	if n := b.threads.Load(); n > 0 {
		info.Threads = int(n)
	}
	return info
}

// Threads is the intra-op thread count that a call made from the calling OS thread runs with.
func (b *Backend) Threads() (int, error) {
	if err := b.ready(); err != nil {
		return 0, err
	}
	var info C.armap_backend_info
	var e C.armap_error
	if err := check("armap_get_backend_info", C.call_get_backend_info(b.fns, &info, &e), &e); err != nil {
		return 0, err
	}
	return int(info.num_threads), nil
}

// Path is the library file.
func (b *Backend) Path() string { return b.path }

// StartProfile starts recording, with Kineto, the operators the calling OS thread runs and, with
// cuda, every CUDA kernel. The caller holds its goroutine on one thread (runtime.LockOSThread)
// until StopProfile, which must run on the same thread. One profile at a time per process.
func (b *Backend) StartProfile(cuda bool) error {
	if err := b.ready(); err != nil {
		return err
	}
	var e C.armap_error
	return check("armap_profile_start", C.call_profile_start(b.fns, b2i(cuda), &e), &e)
}

// StopProfile ends the profile and writes it to path as a Chrome trace (JSON).
func (b *Backend) StopProfile(path string) error {
	if err := b.ready(); err != nil {
		return err
	}
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var e C.armap_error
	return check("armap_profile_stop", C.call_profile_stop(b.fns, cs, &e), &e)
}

// SetThreads sets libtorch's intra-op thread count for every later call, whichever OS thread it
// runs on (libtorch keeps the count per thread; the backend brings each one up to date).
func (b *Backend) SetThreads(n int) error {
	if err := b.ready(); err != nil {
		return err
	}
	var e C.armap_error
	if err := check("armap_set_num_threads", C.call_set_num_threads(b.fns, C.int32_t(n), &e), &e); err != nil {
		return err
	}
	b.threads.Store(int64(n))
	return nil
}
