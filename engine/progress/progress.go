// Package progress reports the advance of a long job: a redrawn bar on a terminal, plain log
// lines (at most every Interval) anywhere else, so CI logs stay readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar tracks done/total with a short status text. Safe for concurrent use.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	label    string
	total    int
	done     int
	status   string
	start    time.Time
	last     time.Time
	Interval time.Duration // between plain log lines (default 10 s)
	finished bool
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New starts a bar writing to w; it draws in place only when w is a terminal.
func New(w io.Writer, label string, total int) *Bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = IsTerminal(f)
	}
	now := time.Now()
	return &Bar{w: w, tty: tty, label: label, total: total, start: now, last: now, Interval: 10 * time.Second}
}

// Set moves the bar to done with a status text ("loss 0.41 acc 0.83").
func (b *Bar) Set(done int, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done, b.status = done, status
	now := time.Now()
	if b.tty {
		if now.Sub(b.last) >= 100*time.Millisecond || done >= b.total {
			b.last = now
			fmt.Fprintf(b.w, "\r\033[K%s", b.line(now))
		}
		return
	}
	if now.Sub(b.last) >= b.Interval {
		b.last = now
		fmt.Fprintln(b.w, b.line(now))
	}
}

// Add advances the bar by n.
func (b *Bar) Add(n int, status string) {
	b.mu.Lock()
	d := b.done + n
	b.mu.Unlock()
	b.Set(d, status)
}

// Log prints a line without disturbing the bar.
func (b *Bar) Log(format string, a ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K")
	}
	fmt.Fprintf(b.w, format+"\n", a...)
	if b.tty && !b.finished {
		fmt.Fprintf(b.w, "%s", b.line(time.Now()))
	}
}

// Finish prints the final state once.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s\n", b.line(time.Now()))
	} else {
		fmt.Fprintln(b.w, b.line(time.Now()))
	}
}

func (b *Bar) line(now time.Time) string {
	el := now.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el
	}
	eta := ""
	if rate > 0 && b.total > b.done {
		eta = fmt.Sprintf(" eta %s", (time.Duration(float64(b.total-b.done)/rate) * time.Second).Round(time.Second))
	}
	bar := ""
	if b.tty && b.total > 0 {
		const width = 24
		fill := min(width, b.done*width/b.total)
		bar = "[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "] "
	}
	s := fmt.Sprintf("%s %s%d/%d (%.1f/s, %s%s)", b.label, bar, b.done, b.total, rate, time.Duration(el*float64(time.Second)).Round(time.Second), eta)
	if b.status != "" {
		s += " " + b.status
	}
	return s
}
