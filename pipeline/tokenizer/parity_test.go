package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The shared folder sits beside the checkout: /work/shared next to /work/main, and in CI a copy
// of shared/ beside the fresh clone.
func fixturesDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "fixtures", "hf", "tokenizers"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		t.Fatalf("HF tokenizer fixtures not found at %s (expected shared/ beside the checkout): %v", d, err)
	}
	return d
}

type fixtureLine struct {
	Text     string   `json:"text"`
	TextPair *string  `json:"text_pair"`
	IDs      []int32  `json:"ids"`
	TypeIDs  []int32  `json:"type_ids"`
	Tokens   []string `json:"tokens"`
	Offsets  [][2]int `json:"offsets"`
	Decoded  *string  `json:"decoded"`
}

func readFixture(t testing.TB, path string) []fixtureLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fixtureLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		var l fixtureLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkLines compares our encodings with HF's for every fixture line.
func checkLines(t *testing.T, tok *Tokenizer, lines []fixtureLine) {
	for i, l := range lines {
		if l.TextPair != nil {
			e := tok.EncodePair(l.Text, *l.TextPair, true)
			if !reflect.DeepEqual(e.IDs, l.IDs) {
				t.Errorf("line %d pair %q / %q:\n got ids %v\nwant ids %v", i+1, l.Text, *l.TextPair, e.IDs, l.IDs)
			}
			if l.TypeIDs != nil && !reflect.DeepEqual(e.TypeIDs, l.TypeIDs) {
				t.Errorf("line %d pair %q: got type ids %v, want %v", i+1, l.Text, e.TypeIDs, l.TypeIDs)
			}
			continue
		}
		e := tok.Encode(l.Text, true)
		if !reflect.DeepEqual(e.IDs, l.IDs) && !(len(e.IDs) == 0 && len(l.IDs) == 0) {
			t.Errorf("line %d %q:\n got ids %v\nwant ids %v\n got tokens %q", i+1, l.Text, e.IDs, l.IDs, e.Tokens)
			continue
		}
		if ids := tok.EncodeIDs(l.Text, true); !eqIDs(ids, l.IDs) {
			t.Errorf("line %d %q: EncodeIDs\n got %v\nwant %v", i+1, l.Text, ids, l.IDs)
		}
		if l.Tokens != nil && !reflect.DeepEqual(e.Tokens, l.Tokens) && len(l.Tokens) > 0 {
			t.Errorf("line %d %q: got tokens %q, want %q", i+1, l.Text, e.Tokens, l.Tokens)
		}
		if len(l.Offsets) > 0 {
			if got := CharOffsets(l.Text, e.Offsets); !reflect.DeepEqual(got, l.Offsets) {
				t.Errorf("line %d %q: got offsets %v, want %v", i+1, l.Text, got, l.Offsets)
			}
		}
		if l.Decoded != nil {
			if got := tok.Decode(e.IDs, true); got != *l.Decoded {
				t.Errorf("line %d %q: decoded %q, want %q", i+1, l.Text, got, *l.Decoded)
			}
		}
	}
}

func TestHFParity(t *testing.T) {
	dir := fixturesDir(t)
	names := []string{"bytelevel_bpe", "wordpiece_bert", "sentencepiece_bpe"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			tok, err := Load(filepath.Join(dir, name, "tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			lines := readFixture(t, filepath.Join(dir, name, "encodings.jsonl"))
			if len(lines) < 200 {
				t.Fatalf("only %d fixture lines", len(lines))
			}
			checkLines(t, tok, lines)
		})
	}
}
