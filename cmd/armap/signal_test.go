package main

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// A signal cancels the command's context with itself as the cause, which the exit status reports
// (128 + its number: 143 for SIGTERM, 130 for SIGINT).
func TestInterruptibleNamesTheSignal(t *testing.T) {
	ctx, stop := interruptible(context.Background(), io.Discard)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	sig, ok := errors.AsType[*signalExit](context.Cause(ctx))
	if !ok || sig.sig != syscall.SIGTERM || 128+int(sig.sig) != 143 {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
}
