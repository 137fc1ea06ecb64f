package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestFieldPath(t *testing.T) {
	triplet := reflect.TypeFor[Triplet]()
	type other struct {
		Pair  [2]int         `json:"pair"`
		Count map[string]int `json:"count"`
	}
	for _, c := range []struct {
		name, in string
		typ      reflect.Type
		strict   bool
		path     string
		key      string
		ok       bool
	}{
		{"valid", `{"id":"a","chosen":{"steps":[{"action":"x"}]},"chosen_input_ids":[1,2]}`, triplet, true, "", "", false},
		{"not JSON", `{"id":`, triplet, true, "", "", false},
		{"unknown key, strict", `{"meta":{"x":1},"chosen":{"steps":[{},{"obs":"y"}]}}`, triplet, true, "chosen.steps[1]", "obs", true},
		{"unknown key at the top", `{"margn":1}`, triplet, true, "", "margn", true},
		{"unknown key with a dot", `{"chosen":{"steps":[{"x.y":1}]}}`, triplet, true, "chosen.steps[0]", "x.y", true},
		{"unknown key skipped, lenient", `{"chosen":{"steps":[{"obs":{"a":[1]}}]},"margin":"2"}`, triplet, false, "margin", "", true},
		{"object for a string", `{"instruction":{"a":1}}`, triplet, true, "instruction", "", true},
		{"array for a struct", `{"chosen":[1]}`, triplet, true, "chosen", "", true},
		{"pointer to float", `{"rejected":{"env_reward":true}}`, triplet, true, "rejected.env_reward", "", true},
		{"past a fixed array's end", `{"pair":[1,2,"x"]}`, reflect.TypeFor[other](), true, "", "", false},
		{"in a fixed array", `{"pair":[1,"x"]}`, reflect.TypeFor[other](), true, "pair[1]", "", true},
		{"a map value is named by its map", `{"count":{"k":"x"}}`, reflect.TypeFor[other](), true, "count", "", true},
	} {
		path, key, ok := FieldPath([]byte(c.in), c.typ, c.strict)
		if path != c.path || key != c.key || ok != c.ok {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q, %v)", c.name, path, key, ok, c.path, c.key, c.ok)
		}
		// What encoding/json says of the same input, where it names a field.
		var te *json.UnmarshalTypeError
		if err := json.Unmarshal([]byte(c.in), reflect.New(c.typ).Interface()); errors.As(err, &te) && ok && key == "" && WithoutIndices(path) != te.Field {
			t.Errorf("%s: encoding/json names %q, FieldPath %q", c.name, te.Field, path)
		}
	}
}

// FieldPath must find exactly the value encoding/json fails on: random damage to a valid
// triplet (values of other types, numbers out of range, unknown keys) is decoded both ways.
func TestFieldPathAgreesWithEncodingJSON(t *testing.T) {
	base := `{"id":"t1","env":"shop","instruction":"buy","chosen":{"steps":[{"action":"a","observation":"o"},{"action":"b","observation":"p"}],"env_reward":1},"rejected":{"steps":[{"action":"c","observation":"q"}]},"meta":{"k":1},"chosen_input_ids":[1,2,3],"rejected_input_ids":[4],"margin":0.5}`
	junk := []any{"s", 1.5, 7, 4294967296, -1, true, nil, []any{1, "x"}, map[string]any{"z": 1}}
	rng := rand.New(rand.NewPCG(3, 5))
	// damage replaces or adds values at random places in v.
	var damage func(v any) any
	damage = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k := range x {
				if rng.IntN(6) == 0 {
					x[k] = junk[rng.IntN(len(junk))]
				} else {
					x[k] = damage(x[k])
				}
			}
			if rng.IntN(12) == 0 {
				x["extra"] = 1
			}
		case []any:
			for i := range x {
				if rng.IntN(6) == 0 {
					x[i] = junk[rng.IntN(len(junk))]
				} else {
					x[i] = damage(x[i])
				}
			}
		}
		return v
	}
	failures := 0
	for range 3000 {
		var v any
		if err := json.Unmarshal([]byte(base), &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(damage(v))
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err := dec.Decode(new(Triplet))
		path, key, ok := FieldPath(b, reflect.TypeFor[Triplet](), true)
		var te *json.UnmarshalTypeError
		switch {
		case err == nil:
			if ok {
				t.Fatalf("%s decodes, FieldPath says %q", b, path)
			}
			continue
		case errors.As(err, &te):
			if !ok || key != "" || WithoutIndices(path) != te.Field {
				t.Fatalf("%s: encoding/json: field %q (%v); FieldPath: %q key=%q ok=%v", b, te.Field, err, path, key, ok)
			}
		default: // unknown field
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			if !ok || key != name {
				t.Fatalf("%s: encoding/json: %v; FieldPath: %q key=%q ok=%v", b, err, path, key, ok)
			}
		}
		failures++
	}
	if failures < 1000 {
		t.Errorf("only %d of 3000 damaged triplets failed to decode; the test is not testing much", failures)
	}
}
