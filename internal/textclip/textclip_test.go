package textclip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijkl", 4, "abcd… (12 bytes)"},
		{"ab×cd", 3, "ab… (6 bytes)"}, // × is 2 bytes: the cut backs off to a whole character
		{"ab×cd", 4, "ab×… (6 bytes)"},
		{"xyz", 0, "… (3 bytes)"},
	} {
		got := Clip(c.s, c.n)
		if got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Clip(%q, %d) is not valid UTF-8", c.s, c.n)
		}
	}
	if got := Clip(strings.Repeat("a", 1<<20), 200); len(got) > 220 {
		t.Errorf("1 MB clipped to %d bytes", len(got))
	}
}
