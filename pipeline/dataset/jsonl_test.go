package dataset

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(`{"id":"a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, name, err := OpenInput(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(b) != `{"id":"a"}`+"\n" || name != path {
		t.Errorf("file: read %q, name %q, err %v", b, name, err)
	}

	r, name, err = OpenInput("-")
	if err != nil || name != "<stdin>" {
		t.Fatalf("stdin: name %q, err %v", name, err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("closing stdin's reader: %v", err)
	}
	if _, err := os.Stdin.Stat(); err != nil {
		t.Errorf("standard input was closed: %v", err)
	}

	if _, _, err := OpenInput(filepath.Join(t.TempDir(), "missing.jsonl")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestReadJSONLFileNamesTheLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "req.jsonl")
	if err := os.WriteFile(path, []byte("{\"id\":\"a\"}\n\n{\"id\":3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadJSONLFile[ScoreRequest](path, nil)
	var le *LineError
	if !errors.As(err, &le) || le.File != path || le.Line != 3 || le.Field != "id" {
		t.Fatalf("got %v, want a LineError at %s:3 field id", err, path)
	}
}
