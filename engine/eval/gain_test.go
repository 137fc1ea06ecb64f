package eval

import "testing"

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
}
