package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Off a terminal the bar writes plain lines, at most one per Interval, and a final line.
func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "train", 10)
	b.Interval = time.Hour
	for i := 1; i <= 10; i++ {
		b.Set(i, "loss 0.5")
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote before the interval: %q", buf.String())
	}
	b.Log("checkpoint %d", 3)
	b.Finish()
	b.Finish()
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "checkpoint 3" || !strings.HasPrefix(lines[1], "train 10/10") || !strings.Contains(lines[1], "loss 0.5") {
		t.Fatalf("output %q", out)
	}
	if strings.Contains(out, "\r") || strings.Contains(out, "\033") {
		t.Fatalf("terminal control codes off a terminal: %q", out)
	}
	b.Interval = 0
	b.Set(5, "")
	if !strings.Contains(buf.String(), "train 5/10") {
		t.Fatalf("no line once the interval passed: %q", buf.String())
	}
}
