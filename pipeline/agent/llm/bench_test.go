package llmpolicy

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkSnap snaps a near-miss command onto an ALFWorld-sized admissible list (~50 entries),
// the per-candidate cost a planner pays at each expansion.
func BenchmarkSnap(b *testing.B) {
	var adm []string
	for i := 1; i <= 12; i++ {
		adm = append(adm, fmt.Sprintf("go to cabinet %d", i), fmt.Sprintf("go to drawer %d", i))
	}
	for i := 1; i <= 20; i++ {
		adm = append(adm, fmt.Sprintf("take object%d 1 from countertop 1", i))
	}
	adm = append(adm, "put mug 1 in/on coffeemachine 1", "examine countertop 1", "inventory", "look")
	b.ReportAllocs()
	for b.Loop() {
		if a, ok := Snap("put the mug 1 in coffeemachine 1", adm, DefaultMinSimilarity); !ok || a != "put mug 1 in/on coffeemachine 1" {
			b.Fatal(a)
		}
	}
}

func BenchmarkParseAction(b *testing.B) {
	completion := "Thought: the mug must be clean first.\n```\n> Action: Clean Mug 1 with SinkBasin 1.\n```"
	b.ReportAllocs()
	for b.Loop() {
		if a, err := ParseAction("household", completion); a == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseActionRunaway is a completion that never stopped thinking aloud: a megabyte on one
// line before the action.
func BenchmarkParseActionRunaway(b *testing.B) {
	completion := strings.Repeat("I am thinking very hard about this. ", 30000) + "\ngo to desk 1"
	b.SetBytes(int64(len(completion)))
	for b.Loop() {
		if a, err := ParseAction("household", completion); a != "go to desk 1" {
			b.Fatal(a, err)
		}
	}
}
