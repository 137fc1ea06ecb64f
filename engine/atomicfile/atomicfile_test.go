package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.jsonl")
	if err := WriteFile(p, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half of the new")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("want boom, got %v", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "old\n" {
		t.Fatalf("failed write changed the file: %q", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary file left behind: %v", ents)
	}
	if err := WriteFile(p, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(got) != "new\n" || st.Mode().Perm() != 0o600 {
		t.Fatalf("got %q mode %v", got, st.Mode())
	}
}

func TestCheckTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path, want string // want: a part of the error, "" for none
	}{
		{"new file", filepath.Join(dir, "new.jsonl"), ""},
		{"existing file", file, ""},
		{"a folder", dir, "is a folder"},
		{"missing folders", filepath.Join(dir, "nope", "deeper", "x.jsonl"), ""},
		{"a file as folder", filepath.Join(file, "x.jsonl"), "not a folder"},
		{"a file as a folder further up", filepath.Join(file, "sub", "x.jsonl"), "not a folder"},
	} {
		err := CheckTarget(c.path)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("CheckTarget wrote into %s: %d entries", dir, len(ents))
	}
}

// Write creates the folders the path needs.
func TestWriteCreatesFolders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "out.jsonl")
	if err := WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "x\n" {
		t.Fatalf("read back %q, %v", got, err)
	}
}

// A failed write removes the folders it made, and only those.
func TestFailedWriteRemovesItsFolders(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "out.jsonl")
	boom := errors.New("boom")
	if err := Write(path, 0o644, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the folders made for the write stayed (%v)", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("the folder that was there before is gone: %v", err)
	}
}
