package envs

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/env/game24"
	httpenv "github.com/armap/armap/pipeline/env/http"
)

func TestFactory(t *testing.T) {
	ctx := context.Background()
	srv, err := httpenv.NewServer(game24.NewFactory(game24.Options{}), httpenv.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	cases := []struct {
		kind     string
		opts     Options
		wantName string
		wantErr  string
	}{
		{kind: "game24", wantName: "game24"},
		{kind: "shop", opts: Options{Seed: 7}, wantName: "shop"},
		{kind: "household", opts: Options{Seed: 7}, wantName: "household"},
		{kind: "http", opts: Options{HTTP: httpenv.Options{BaseURL: ts.URL}}, wantName: "game24"}, // asked from /info
		{kind: "http", opts: Options{HTTP: httpenv.Options{BaseURL: ts.URL, Name: "remote"}}, wantName: "remote"},
		{kind: "http", wantErr: "http env"},
		{kind: "chess", wantErr: `unknown env "chess" (want game24, shop, household, http)`},
	}
	for _, c := range cases {
		f, err := Factory(ctx, c.kind, c.opts)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", c.kind, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.kind, err)
			continue
		}
		e, err := f()
		if err != nil {
			t.Errorf("%s: make env: %v", c.kind, err)
			continue
		}
		if got := e.Name(); got != c.wantName {
			t.Errorf("%s: env name %q, want %q", c.kind, got, c.wantName)
		}
		if e.NumTasks() < 1 {
			t.Errorf("%s: %d tasks", c.kind, e.NumTasks())
		}
		e.Close()
	}
}
