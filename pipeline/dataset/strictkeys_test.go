package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// Strict reading refuses what encoding/json lets pass: a key given twice in one object and a
// key that names a field only without regard to case.
func TestScanJSONLStrictKeys(t *testing.T) {
	const replace = "(the second value would replace the first)"
	many := func(dupAt int) string { // a free-form object past manyKeys, with one duplicate
		var b strings.Builder
		b.WriteString(`{"id":"a","meta":{`)
		for i := range 3 * manyKeys {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		if dupAt >= 0 {
			fmt.Fprintf(&b, `"k%d":0,`, dupAt)
		}
		b.WriteString(`"last":1}}`)
		return b.String()
	}
	for _, c := range []struct {
		name, input string
		field, msg  string // "" msg: the line must pass
	}{
		// Duplicates: the field is the object that holds the key ("" at the top).
		{"duplicate at the top", `{"id":"a","instruction":"x","id":"b"}`, "", `duplicate key "id" ` + replace},
		{"duplicate in an array element", `{"id":"a","chosen":{"steps":[{"action":"x"},{"action":"y"},{"action":"y","observation":"o","action":"z"}]}}`, "chosen.steps[2]", `duplicate key "action" ` + replace},
		{"duplicate object field is mixed", `{"id":"a","chosen":{"steps":[{"action":"x"}]},"chosen":{"env_reward":1}}`, "", `duplicate key "chosen" (the second value would be decoded over the first, mixing the two)`},
		{"duplicate meta is mixed", `{"meta":{"a":1},"id":"a","meta":{"b":2}}`, "", `duplicate key "meta" (the second value would be decoded over the first, mixing the two)`},
		{"duplicate in meta", `{"id":"a","meta":{"k":1,"j":2,"k":3}}`, "meta", `duplicate key "k" ` + replace},
		{"duplicate deep in meta", `{"id":"a","meta":{"judge":{"runs":[{"s":1},{"s":2,"t":[],"s":3}]}}}`, "meta.judge.runs[1]", `duplicate key "s" ` + replace},
		{"duplicate after many keys", many(5), "meta", `duplicate key "k5" ` + replace},
		{"duplicate among many keys", many(2 * manyKeys), "meta", fmt.Sprintf(`duplicate key "k%d" `, 2*manyKeys) + replace},
		{"escaped duplicate", `{"instruction":"a","\u0069nstruction":"b"}`, "", `duplicate key "instruction" ` + replace},
		{"duplicate escaped two ways", `{"meta":{"a\"b":1,"a\u0022b":2}}`, "meta", `duplicate key "a\"b" ` + replace},
		{"duplicate with a surrogate pair", `{"meta":{"😀":1,"\ud83d\ude00":2}}`, "meta", `duplicate key "😀" ` + replace},
		{"duplicate token ids", `{"chosen_input_ids":[1],"rejected_input_ids":[2],"chosen_input_ids":[3]}`, "", `duplicate key "chosen_input_ids" ` + replace},
		// Wrong case: the field is the key itself, as written.
		{"wrong case at the top", `{"id":"a","Instruction":"x"}`, "Instruction", `key "Instruction" is written "instruction" (names are matched exactly)`},
		{"wrong case nested", `{"id":"a","rejected":{"steps":[{"action":"x"},{"action":"y","OBSERVATION":"o"}]}}`, "rejected.steps[1].OBSERVATION", `key "OBSERVATION" is written "observation"`},
		{"wrong case of an object", `{"id":"a","Chosen":{"steps":[]}}`, "Chosen", `key "Chosen" is written "chosen"`},
		{"wrong case, escaped", `{"\u0049nstruction":"x"}`, "Instruction", `key "Instruction" is written "instruction"`},
		{"wrong case before a duplicate", `{"id":"a","Id":"b"}`, "Id", `key "Id" is written "id"`},

		{"keys in any order", `{"margin":1,"rejected":{"env_reward":0,"steps":[{"observation":"o","action":"a"}]},"meta":{"z":1,"a":2},"chosen":{"steps":[{"observation":"p","action":"b"}]},"instruction":"i","env":"e","id":"x"}`, "", ""},
		{"same key in sibling elements", `{"chosen":{"steps":[{"action":"a"},{"action":"a"},{"action":"a"}]},"rejected":{"steps":[{"action":"a"}]}}`, "", ""},
		{"unicode keys and values", `{"id":"тест","meta":{"ключ":"значение","键":"值","ключ2":1,"😀":"🙂","e\u0301":1,"é":2}}`, "", ""},
		{"escapes in values", `{"id":"a\"b","instruction":"\\","chosen":{"steps":[{"action":"say \"hi\", {}[]:","observation":"\\\"\u0022\n\t\\n\\"}]},"meta":{"q":"\"","r":"\\\\\""}}`, "", ""},
		{"keys differing only by escapes", `{"meta":{"a\\b":1,"a\\\\b":2,"a/b":3,"a\/\/b":4}}`, "", ""},
		{"empty objects and arrays", `{"id":"a","chosen":{"steps":[]},"rejected":{},"meta":{"a":{},"b":[],"c":[{},[],[[]]]}}`, "", ""},
		{"a closed object's key in its parent", `{"id":"a","meta":{"x":{"k":1,"id":2},"k":2,"id":3}}`, "", ""},
		{"same key at different depths", `{"id":"a","meta":{"id":{"id":{"id":1}},"j":[{"id":1},{"id":{"id":2}}],"k":{"j":1}}}`, "", ""},
		{"nulls, numbers, whitespace", "{ \"id\" : null , \"margin\" : -1.5e-3 ,\t\"meta\" : { \"n\" : [ 1 , 2.0E+5 , true , false , null ] } ,\r\t\"chosen_input_ids\" : [ 1 , 2 ] }", "", ""},
		{"many keys", many(-1), "", ""},
		{"a realistic triplet", string(benchTripletLine(t)), "", ""},
	} {
		err := ScanJSONLStrict(strings.NewReader(c.input), "d.jsonl", func(int, *Triplet) error { return nil })
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var le *LineError
		if !errors.As(err, &le) || le.File != "d.jsonl" || le.Line != 1 || le.Field != c.field || !strings.Contains(le.Err.Error(), c.msg) {
			t.Errorf("%s: got %v, want d.jsonl:1 field %q with %q", c.name, err, c.field, c.msg)
		}
	}
}

// The line number is the line's in the file, and the other contracts are checked the same way;
// lenient reading is unchanged (the last value wins, names match without regard to case).
func TestStrictKeysLinesAndLenientReading(t *testing.T) {
	in := "{\"id\":\"a\",\"input_ids\":[1]}\n\n{\"id\":\"b\",\"steps\":[{\"action\":\"x\",\"action\":\"y\"}]}\n"
	err := ScanJSONLStrict(strings.NewReader(in), "r.jsonl", func(int, *ScoreRequest) error { return nil })
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 || le.Field != "steps[0]" || !strings.Contains(err.Error(), `duplicate key "action"`) {
		t.Errorf("score request: %v, want r.jsonl:3 field steps[0] duplicate key", err)
	}

	var got *Triplet
	err = ScanJSONL(strings.NewReader(`{"id":"a","id":"b","Instruction":"x"}`), "m.jsonl", func(_ int, v *Triplet) error { got = v; return nil })
	if err != nil || got.ID != "b" || got.Instruction != "x" {
		t.Errorf("lenient: %+v, %v", got, err)
	}
}

type keysInner struct {
	Name string `json:"name"`
}

type keysFree struct{ v any }

func (f *keysFree) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &f.v) }

// Types other than the contracts: embedded structs are not resolved (any key passes but a
// duplicate), values with their own decoding and map values are only checked for duplicates,
// and names come from tags as encoding/json takes them.
func TestStrictKeysGuidedByType(t *testing.T) {
	type embeds struct {
		keysInner
		ID string `json:"id"`
	}
	type others struct {
		Raw   json.RawMessage `json:"raw"`
		Own   *keysFree       `json:"own"`
		Steps map[string]Step `json:"steps"`
		//lint:ignore SA5008 the field named "-", an edge of encoding/json's naming under test
		Dash string `json:"-,"`
		//lint:ignore SA5008 not a name encoding/json takes, so the field is "Bad": under test
		Bad   string    `json:"a\"b"`
		Skip  string    `json:"-"`
		Pairs [2][]Step `json:"pairs"`
	}
	for _, c := range []struct {
		name, input string
		v           any
		field, msg  string
	}{
		{"embedded field", `{"name":"n","id":"a"}`, new(embeds), "", ""},
		{"embedded: case not resolved", `{"NAME":"n","ID":"a"}`, new(embeds), "", ""},
		{"embedded: duplicate", `{"id":"a","name":"n","id":"b"}`, new(embeds), "", `duplicate key "id"`},
		{"raw message: duplicate", `{"raw":{"a":[{"x":1,"x":2}]}}`, new(others), "raw.a[0]", `duplicate key "x"`},
		{"raw message: any case", `{"raw":{"A":1,"a":2}}`, new(others), "", ""},
		{"own unmarshaler: duplicate", `{"own":{"a":1,"a":2}}`, new(others), "own", `duplicate key "a"`},
		{"map of structs: wrong case in a value", `{"steps":{"k":{"Action":"x"}}}`, new(others), "steps.k.Action", `key "Action" is written "action"`},
		{"map of structs: duplicate key", `{"steps":{"k":{},"k":{}}}`, new(others), "steps", `duplicate key "k" (the second value would replace the first)`},
		{"names from tags", `{"-":"d","Bad":"b"}`, new(others), "", ""},
		{"wrong case of a Go name", `{"bad":"b"}`, new(others), "bad", `key "bad" is written "Bad"`},
		{"array of slices", `{"pairs":[[{"action":"a"}],[{"action":"a","action":"b"}]]}`, new(others), "pairs[1][0]", `duplicate key "action"`},
		{"free-form top", `[{"a":1},{"b":{"c":1,"c":2}}]`, new(any), "[1].b", `duplicate key "c"`},
	} {
		err := decodeLine("t.jsonl", 4, []byte(c.input), c.v, true, nil)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var le *LineError
		if !errors.As(err, &le) || le.File != "t.jsonl" || le.Line != 4 || le.Field != c.field || !strings.Contains(le.Err.Error(), c.msg) {
			t.Errorf("%s: got %v, want t.jsonl:4 field %q with %q", c.name, err, c.field, c.msg)
		}
	}
}

// On free-form JSON the scan must find exactly the duplicates a walk over encoding/json's tokens
// finds, with keys written in every way JSON allows (escapes, surrogate pairs, backslashes
// before quotes) and values the scanner has to skip correctly.
func TestStrictKeysAgreeWithTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	alphabet := []rune{'a', 'b', '"', '\\', '/', '\n', 'é', '😀', '\u2028', '{', ']', ':', ','}
	word := func() string {
		r := make([]rune, rng.IntN(4))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	// quote writes s as a JSON string, escaping at random what may be escaped.
	quote := func(b *strings.Builder, s string) {
		b.WriteByte('"')
		for _, r := range s {
			switch {
			case r == '"' || r == '\\':
				if rng.IntN(2) == 0 {
					b.WriteByte('\\')
					b.WriteRune(r)
				} else {
					fmt.Fprintf(b, `\u%04x`, r)
				}
			case r == '\n':
				b.WriteString([]string{`\n`, `\u000a`, `\u000A`}[rng.IntN(3)])
			case r == '/' && rng.IntN(2) == 0:
				b.WriteString(`\/`)
			case r > 0xFFFF && rng.IntN(2) == 0:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04X\u%04x`, r1, r2)
			case rng.IntN(4) == 0:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	}
	var gen func(b *strings.Builder, depth int)
	gen = func(b *strings.Builder, depth int) {
		space := func() {
			if rng.IntN(5) == 0 {
				b.WriteString(" \t\r\n"[:1+rng.IntN(4)])
			}
		}
		space()
		switch k := rng.IntN(7); {
		case k == 0 && depth < 4:
			b.WriteByte('{')
			n := rng.IntN(5)
			keys := []string{}
			for i := range n {
				if i > 0 {
					b.WriteByte(',')
				}
				key := word()
				if len(keys) > 0 && rng.IntN(6) == 0 {
					key = keys[rng.IntN(len(keys))]
				}
				keys = append(keys, key)
				space()
				quote(b, key)
				space()
				b.WriteByte(':')
				gen(b, depth+1)
			}
			space()
			b.WriteByte('}')
		case k == 1 && depth < 4:
			b.WriteByte('[')
			for i := range rng.IntN(4) {
				if i > 0 {
					b.WriteByte(',')
				}
				gen(b, depth+1)
			}
			space()
			b.WriteByte(']')
		case k == 2:
			quote(b, word()+word())
		default:
			b.WriteString([]string{"0", "-12.5e+3", "true", "false", "null", "1E2"}[rng.IntN(6)])
		}
		space()
	}
	found := 0
	for range 4000 {
		var b strings.Builder
		b.WriteByte('{')
		quote(&b, "k")
		b.WriteByte(':')
		gen(&b, 0)
		b.WriteByte('}')
		line := []byte(b.String())
		if err := json.Unmarshal(line, new(any)); err != nil {
			t.Fatalf("generator wrote invalid JSON %s: %v", line, err)
		}
		wantPath, wantKey := tokenDuplicate(t, line)
		var got, gotPath string
		if ke := new(keyCheck).check(line, reflect.TypeFor[any]()); ke != nil {
			got, gotPath = ke.err.Error(), ke.field
		}
		want := ""
		if wantKey != nil {
			want = fmt.Sprintf("duplicate key %q (the second value would replace the first)", *wantKey)
			found++
		}
		if got != want || gotPath != wantPath {
			t.Fatalf("%s:\n scan:   %q at %q\n tokens: %q at %q", line, got, gotPath, want, wantPath)
		}
	}
	if found < 200 {
		t.Errorf("only %d of 4000 lines had a duplicate; the test is not testing much", found)
	}
}

// tokenDuplicate finds the first duplicate key in document order by walking encoding/json's
// tokens, which unescape keys: the path of the object that holds it, and the key.
func tokenDuplicate(t *testing.T, b []byte) (string, *string) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	tok := func() json.Token {
		tk, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	var walk func(path string) (string, *string, bool)
	walk = func(path string) (string, *string, bool) {
		switch tok() {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k := tok().(string)
				if seen[k] {
					return path, &k, true
				}
				seen[k] = true
				p := k
				if path != "" {
					p = path + "." + k
				}
				if dp, dk, ok := walk(p); ok {
					return dp, dk, true
				}
			}
			tok()
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if dp, dk, ok := walk(path + "[" + strconv.Itoa(i) + "]"); ok {
					return dp, dk, true
				}
			}
			tok()
		}
		return "", nil, false
	}
	p, k, _ := walk("")
	return p, k
}
