// Package textclip shortens text quoted in error messages and summaries: an env or a model that
// echoes a megabyte back must not flood the terminal with it.
package textclip

import (
	"fmt"
	"unicode/utf8"
)

// Clip returns s when it is at most n bytes, else its first n bytes (fewer, to end on a whole
// UTF-8 character) followed by "… (L bytes)", L being the length of s.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}
