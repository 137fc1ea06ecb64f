package dataset

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// The data contracts are read strictly: a misspelt field is an error naming it, not a value
// silently left at its zero. Other records (metrics) keep fields they do not know.
func TestScanJSONLStrictness(t *testing.T) {
	scan := func(strict bool, input string) (*Triplet, error) {
		var got *Triplet
		fn := func(line int, v *Triplet) error { got = v; return nil }
		var err error
		if strict {
			err = ScanJSONLStrict(strings.NewReader(input), "d.jsonl", fn)
		} else {
			err = ScanJSONL(strings.NewReader(input), "d.jsonl", fn)
		}
		return got, err
	}
	for _, c := range []struct {
		name, input string
		field, msg  string // "" field and msg: no error
	}{
		{"known fields", `{"id":"a","margin":2,"chosen":{"steps":[{"action":"x","observation":"y"}]},"meta":{"anything":1}}`, "", ""},
		{"misspelt top-level field", `{"id":"a","margn":5}`, "margn", "unknown field"},
		{"misspelt nested field", `{"id":"a","chosen":{"steps":[{"action":"x"},{"acton":"x"}]}}`, "chosen.steps[1].acton", "unknown field"},
		{"unknown field with a dot", `{"id":"a","chosen":{"steps":[{"x.y":1}]}}`, "chosen.steps[0].x.y", "unknown field"},
		{"wrong type in an array element", `{"id":"a","rejected":{"steps":[{"action":"x"},{},{"action":3}]}}`, "rejected.steps[2].action", "expected a string, got JSON number"},
		{"token id out of int32", `{"id":"a","chosen_input_ids":[1,2,4294967296]}`, "chosen_input_ids[2]", "expected an integer that fits int32, got JSON number 4294967296"},
		{"invalid UTF-8", "{\"id\":\"q\xff1\"}", "", "not valid UTF-8 (byte 8)"},
		{"fraction for an integer", `{"id":"a","rejected_input_ids":[1.5]}`, "rejected_input_ids[0]", "expected an integer"},
		{"first problem in document order", `{"id":"a","chosen":{"steps":[{"action":1}]},"margn":1}`, "chosen.steps[0].action", "expected a string"},
		{"case-insensitive key, then a bad value", `{"ID":"a","Chosen":{"Steps":[{"Action":"x","observation":[]}]}}`, "chosen.steps[0].observation", "expected a string, got JSON array"},
		{"meta takes anything, null fits all", `{"id":null,"meta":{"k":[1,{"x":null}]},"margin":null,"chosen":{"steps":null}}`, "", ""},
		{"data after the value", `{"id":"a"} {"id":"b"}`, "", "data after the value"},
		{"wrong type", `{"id":"a","chosen":{"steps":"x"}}`, "chosen.steps", "expected an array, got JSON string"},
		{"byte order mark on the first line", "\uFEFF" + `{"id":"a"}`, "", ""},
	} {
		_, err := scan(true, c.input)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var le *LineError
		if !errors.As(err, &le) || le.File != "d.jsonl" || le.Line != 1 || le.Field != c.field || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want d.jsonl:1 field %q with %q", c.name, err, c.field, c.msg)
		}
	}
	if got, err := scan(false, `{"id":"a","margn":5}`); err != nil || got.ID != "a" {
		t.Errorf("lenient scan: %+v, %v", got, err)
	}
}

func TestScoreRequestValidate(t *testing.T) {
	steps := []Step{{Action: "a"}}
	for _, c := range []struct {
		name string
		r    ScoreRequest
		ok   bool
	}{
		{"ids", ScoreRequest{InputIDs: []int32{1}}, true},
		{"text", ScoreRequest{Instruction: "i", Steps: steps}, true},
		{"neither", ScoreRequest{ID: "x"}, false},
		{"both", ScoreRequest{InputIDs: []int32{1}, Steps: steps}, false},
	} {
		if err := c.r.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// The hint about "meta" is given only for records that have it.
func TestUnknownFieldHintNamesMetaOnlyWhereItExists(t *testing.T) {
	err := ScanJSONLStrict(strings.NewReader(`{"id":"a","meta":{}}`), "r.jsonl", func(int, *ScoreRequest) error { return nil })
	if err == nil || strings.Contains(err.Error(), "goes under") {
		t.Errorf("score request with meta: %v, want an unknown-field error without the meta hint", err)
	}
	err = ScanJSONLStrict(strings.NewReader(`{"id":"a","extra":1}`), "t.jsonl", func(int, *Triplet) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `goes under "meta"`) {
		t.Errorf("triplet: %v, want the meta hint", err)
	}
}
