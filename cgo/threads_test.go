package cgo

import (
	"runtime"
	"testing"
)

// osThread runs functions on one OS thread of its own, as the Go runtime may run any call.
type osThread chan func()

func newOSThread(t *testing.T) osThread {
	th := make(osThread)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		for f := range th {
			f()
		}
	}()
	t.Cleanup(func() { close(th) })
	return th
}

func (th osThread) threads(t *testing.T, b *Backend) int {
	t.Helper()
	var n int
	var err error
	done := make(chan struct{})
	th <- func() { n, err = b.Threads(); close(done) }
	<-done
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// libtorch keeps its thread count per OS thread, so a count set from one thread used to leave
// threads that had already run libtorch at their old one, and a call's thread count (and the
// rounding of its products) depended on where it landed.
func TestSetThreadsHoldsOnEveryOSThread(t *testing.T) {
	b := openCPU(t) // 2 threads
	ths := []osThread{newOSThread(t), newOSThread(t), newOSThread(t)}
	for i, th := range ths {
		if n := th.threads(t, b); n != 2 {
			t.Fatalf("thread %d: %d threads before any change, want 2", i, n)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := b.SetThreads(1); err != nil {
		t.Fatal(err)
	}
	for i, th := range ths {
		if n := th.threads(t, b); n != 1 {
			t.Errorf("thread %d: %d threads after SetThreads(1) on another thread", i, n)
		}
	}
	// And back, set from one of them this time.
	done := make(chan error)
	ths[0] <- func() { done <- b.SetThreads(2) }
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, err := b.Threads(); err != nil || n != 2 {
		t.Errorf("the test's own thread: %d threads (%v) after SetThreads(2) elsewhere", n, err)
	}
	for i, th := range ths[1:] {
		if n := th.threads(t, b); n != 2 {
			t.Errorf("thread %d: %d threads after SetThreads(2)", i+1, n)
		}
	}
}

// Info may be read while another goroutine sets the thread count (run with -race).
func TestInfoWhileSettingThreads(t *testing.T) {
	b := openCPU(t)
	before, _ := b.Threads()
	defer b.SetThreads(before)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			if err := b.SetThreads(1 + i%2); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 50 {
		if n := b.Info().Threads; n < 1 {
			t.Errorf("Info().Threads = %d", n)
		}
	}
	<-done
}
