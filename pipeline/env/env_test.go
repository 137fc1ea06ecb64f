package env_test

import (
	"testing"

	"github.com/armap/armap/pipeline/env"
	"github.com/armap/armap/pipeline/env/game24"
)

func TestCountInSplit(t *testing.T) {
	g, err := game24.New(game24.Options{})
	if err != nil {
		t.Fatal(err)
	}
	test, _ := g.Split("test")
	for _, tc := range []struct {
		split string
		tasks []int
		n     int
		ok    bool
	}{
		{"test", []int{0, 1, test[0], test[1]}, 2, true},
		{"train", []int{0, 1, test[0]}, 2, true},
		{"test", nil, 0, true},
		{"dev", []int{0}, 0, false},
	} {
		n, ok := env.CountInSplit(g, tc.split, tc.tasks)
		if n != tc.n || ok != tc.ok {
			t.Errorf("%s %v: %d, %v; want %d, %v", tc.split, tc.tasks, n, ok, tc.n, tc.ok)
		}
	}
}
