// Package streamio serves commands that answer a JSONL stream line by line (score, tokenize). A
// producer that waits for each answer (a co-process) must get it when its input stalls, not at
// EOF; a cancellation must end a read blocked on a pipe; and output cut short by an error must
// end at a line end.
package streamio

import (
	"bufio"
	"context"
	"io"
	"time"
)

// Reader reads r in a goroutine so that a read can be waited on with a deadline. When the next
// data has not come within grace, Read calls onIdle (to answer what is pending and flush) before
// it waits on; a cancelled ctx ends a waiting Read at once. The goroutine ends when r returns an
// error (EOF) or ctx is done, except while it is blocked in r's own Read: a pipe nobody closes
// keeps it until the process exits. Cancel ctx when done with the Reader, or the goroutine goes
// on reading r.
type Reader struct {
	ctx    context.Context
	ch     chan chunk
	grace  time.Duration
	onIdle func() error
	cur    []byte
	err    error
}

type chunk struct {
	b   []byte
	err error
}

// NewReader starts reading r. onIdle may be nil.
func NewReader(ctx context.Context, r io.Reader, grace time.Duration, onIdle func() error) *Reader {
	// Read ahead up to readAhead chunks, so that one long line arrives in large reads (a scanner
	// rescans its buffer after each).
	rd := &Reader{ctx: ctx, ch: make(chan chunk, readAhead), grace: grace, onIdle: onIdle}
	go func() {
		for {
			buf := make([]byte, 64<<10)
			n, err := r.Read(buf)
			select {
			case rd.ch <- chunk{buf[:n], err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return rd
}

// readAhead is how many 64 KiB chunks the goroutine may read ahead of Read.
const readAhead = 16

func (rd *Reader) Read(p []byte) (int, error) {
	for len(rd.cur) == 0 {
		if rd.err != nil {
			return 0, rd.err
		}
		c, err := rd.next()
		if err != nil {
			return 0, err
		}
		rd.cur, rd.err = c.b, c.err
	}
	n := copy(p, rd.cur)
	rd.cur = rd.cur[n:]
	// Fill the rest of p from chunks already read, without waiting.
	for n < len(p) && len(rd.cur) == 0 && rd.err == nil {
		select {
		case c := <-rd.ch:
			rd.cur, rd.err = c.b, c.err
			k := copy(p[n:], rd.cur)
			rd.cur = rd.cur[k:]
			n += k
		default:
			return n, nil
		}
	}
	return n, nil
}

func (rd *Reader) next() (chunk, error) {
	if err := rd.ctx.Err(); err != nil {
		return chunk{}, err
	}
	select {
	case c := <-rd.ch:
		return c, nil
	default:
	}
	if rd.onIdle != nil {
		t := time.NewTimer(rd.grace)
		select {
		case c := <-rd.ch:
			t.Stop()
			return c, nil
		case <-rd.ctx.Done():
			t.Stop()
			return chunk{}, rd.ctx.Err()
		case <-t.C:
			if err := rd.onIdle(); err != nil {
				return chunk{}, err
			}
		}
	}
	select {
	case c := <-rd.ch:
		return c, nil
	case <-rd.ctx.Done():
		return chunk{}, rd.ctx.Err()
	}
}

// LineWriter buffers output given to it in whole lines (one Write per line or run of lines, as
// json.Encoder does), and passes it on only at a line end: a stream cut short by an error leaves
// no half line behind.
type LineWriter struct{ bw *bufio.Writer }

// NewLineWriter buffers for w.
func NewLineWriter(w io.Writer) *LineWriter { return &LineWriter{bufio.NewWriterSize(w, 64<<10)} }

// Write takes whole lines.
func (lw *LineWriter) Write(p []byte) (int, error) {
	if lw.bw.Available() < len(p) && lw.bw.Buffered() > 0 {
		if err := lw.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return lw.bw.Write(p)
}

// Flush passes on what is buffered.
func (lw *LineWriter) Flush() error { return lw.bw.Flush() }
