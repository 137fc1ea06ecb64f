package dataset

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// benchTripletLine is a triplet as synthesis writes it: 20 steps a side, observations of a few
// hundred bytes with newlines and quotes (escaped in JSON), and some free-form meta.
func benchTripletLine(tb testing.TB) []byte {
	rng := rand.New(rand.NewPCG(11, 13))
	words := []string{"search", "results", "price", "$12.99", "size", "medium", "color", "blue", "\"Buy Now\"", "page", "item", "back", "next", "rating", "4.5", "stars"}
	text := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(8) == 0 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		return b.String()
	}
	side := func() Side {
		steps := make([]Step, 20)
		for i := range steps {
			steps[i] = Step{Action: fmt.Sprintf("click[%s]", text(20)), Observation: text(200 + rng.IntN(400))}
		}
		r := rng.Float64()
		return Side{Steps: steps, EnvReward: &r}
	}
	margin := 0.5
	t := Triplet{
		ID: "shop-00417-3", Env: "shop", Instruction: text(120),
		Chosen: side(), Rejected: side(),
		Meta: map[string]any{
			"source": "synth", "seed": 7, "reward_gap": 0.42, "tags": []string{"expert", "mutated"},
			"judge": map[string]any{"model": "gpt-x", "score": 0.8, "notes": text(80)},
		},
		Margin: &margin,
	}
	b, err := json.Marshal(t)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkDecodeLineTriplet(b *testing.B) {
	line := benchTripletLine(b)
	for _, strict := range []bool{false, true} {
		name := "lenient"
		if strict {
			name = "strict"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			keys := new(keyCheck) // one per scan, as scanJSONL keeps it
			for b.Loop() {
				if err := decodeLine("b.jsonl", 1, line, new(Triplet), strict, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The key check alone, on a line a strict decode has accepted.
func BenchmarkStrictKeysTriplet(b *testing.B) {
	line := benchTripletLine(b)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	keys := new(keyCheck)
	typ := reflect.TypeFor[Triplet]()
	for b.Loop() {
		if err := keys.check(line, typ); err != nil {
			b.Fatal(err)
		}
	}
}
