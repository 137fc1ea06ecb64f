package streamio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// A stalled producer gets onIdle before the reader waits on; the data arrives whole.
func TestReaderCallsOnIdleWhenInputStalls(t *testing.T) {
	pr, pw := io.Pipe()
	idle := make(chan struct{}, 8)
	rd := NewReader(context.Background(), pr, 10*time.Millisecond, func() error { idle <- struct{}{}; return nil })
	go func() {
		pw.Write([]byte("one\n"))
		<-idle // the reader went idle after the first line: send the rest
		pw.Write([]byte("two\n"))
		pw.Close()
	}()
	got, err := io.ReadAll(rd)
	if err != nil || string(got) != "one\ntwo\n" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// A read blocked on a producer that never writes ends when ctx is cancelled.
func TestReaderCancelledWhileBlocked(t *testing.T) {
	pr, _ := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	rd := NewReader(ctx, pr, time.Millisecond, nil)
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := rd.Read(make([]byte, 10))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// An error from onIdle is the read's error.
func TestReaderIdleError(t *testing.T) {
	pr, _ := io.Pipe()
	boom := errors.New("boom")
	rd := NewReader(context.Background(), pr, time.Millisecond, func() error { return boom })
	if _, err := rd.Read(make([]byte, 1)); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

// writes records every write that reaches it.
type writes struct{ got [][]byte }

func (w *writes) Write(p []byte) (int, error) {
	w.got = append(w.got, bytes.Clone(p))
	return len(p), nil
}

// What reaches the underlying writer always ends at a line end, lines longer than the buffer
// included.
func TestLineWriterPassesWholeLines(t *testing.T) {
	var w writes
	lw := NewLineWriter(&w)
	for i := range 3000 {
		n := 10 + i%97
		if i%500 == 0 {
			n = 100 << 10 // longer than the buffer
		}
		if _, err := lw.Write([]byte(strings.Repeat("x", n) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.got) < 2 {
		t.Fatalf("%d writes: the buffer never filled", len(w.got))
	}
	for i, p := range w.got {
		if p[len(p)-1] != '\n' {
			t.Fatalf("write %d of %d bytes ends mid-line", i, len(p))
		}
	}
}

// One long line arrives in large reads: Read fills its buffer from the chunks read ahead, not one
// 64 KiB chunk at a time (a scanner rescans its buffer after each read).
func TestReaderFillsFromReadAhead(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1<<20)
	rd := NewReader(context.Background(), bytes.NewReader(data), time.Second, nil)
	time.Sleep(50 * time.Millisecond) // let the goroutine read ahead
	p := make([]byte, 1<<20)
	n, err := rd.Read(p)
	if err != nil || n <= 64<<10 {
		t.Fatalf("read %d bytes (%v), want more than one chunk", n, err)
	}
	rest, err := io.ReadAll(rd)
	if err != nil || n+len(rest) != len(data) {
		t.Fatalf("%d + %d bytes, want %d (%v)", n, len(rest), len(data), err)
	}
}

// One 16 MB line through bufio.Scanner, straight from memory and through a Reader.
func BenchmarkLongLine(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 16<<20), '\n')
	scan := func(r io.Reader) {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
		for sc.Scan() {
		}
		if sc.Err() != nil {
			b.Fatal(sc.Err())
		}
	}
	b.Run("plain", func(b *testing.B) {
		for range b.N {
			scan(bytes.NewReader(line))
		}
	})
	b.Run("reader", func(b *testing.B) {
		for range b.N {
			ctx, cancel := context.WithCancel(context.Background())
			scan(NewReader(ctx, bytes.NewReader(line), time.Second, nil))
			cancel()
		}
	})
}
