package eval

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestGains(t *testing.T) {
	res := &Results{Envs: map[string]*EnvResult{
		"game24": {Methods: map[string]MethodResult{"sampling": {SuccessRate: 0.17}, "best-of-n": {SuccessRate: 0.27}, "mcts": {SuccessRate: 0.26}}},
		"shop":   {Methods: map[string]MethodResult{"sampling": {SuccessRate: 0.24}, "best-of-n": {SuccessRate: 0.58}, "mcts": {SuccessRate: 0.74}}},
	}}
	gs, err := Gains(res, []string{"best-of-n", "mcts"}, "sampling", 0.10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"game24/best-of-n": true, "game24/mcts": false, "shop/best-of-n": true, "shop/mcts": true}
	if len(gs) != 4 {
		t.Fatalf("%d gains", len(gs))
	}
	for _, g := range gs {
		if want[g.Env+"/"+g.Method] != g.OK {
			t.Errorf("%s", g)
		}
	}
	if _, err := Gains(res, []string{"beam"}, "sampling", 0.1); err == nil {
		t.Fatal("missing method accepted")
	}
	// A check that could not fail is refused: no methods, or a margin that compares false.
	for _, tc := range []struct {
		methods []string
		gain    float64
	}{{nil, 0.1}, {[]string{"mcts"}, math.NaN()}, {[]string{"mcts"}, math.Inf(-1)}, {[]string{"mcts"}, 2}} {
		if _, err := Gains(res, tc.methods, "sampling", tc.gain); err == nil {
			t.Errorf("methods %v, min gain %v accepted", tc.methods, tc.gain)
		}
	}
}

// Data after the results object is refused: a merge would drop it without a word.
func TestLoadResultsRefusesTrailingData(t *testing.T) {
	path := filepath.Join(t.TempDir(), ResultsJSON)
	good := `{"envs": {"game24": {"methods": {"sampling": {"success_rate": 0.2}}}}}`
	for _, tc := range []struct {
		text string
		ok   bool
	}{{good, true}, {good + "\n\n", true}, {good + "\nGARBAGE {", false}, {good + good, false}} {
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadResults(path); (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.text, err)
		}
	}
}
