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
	for _, c := range []struct {
		name, in string
		strict   bool
		path     string
		unknown  bool
		ok       bool
	}{
		{"valid", `{"id":"a","chosen":{"steps":[{"action":"x"}]},"chosen_input_ids":[1,2]}`, true, "", false, false},
		{"not JSON", `{"id":`, true, "", false, false},
		{"unknown key, strict", `{"meta":{"x":1},"chosen":{"steps":[{},{"obs":"y"}]}}`, true, "chosen.steps[1].obs", true, true},
		{"unknown key skipped, lenient", `{"chosen":{"steps":[{"obs":{"a":[1]}}]},"margin":"2"}`, false, "margin", false, true},
		{"object for a string", `{"instruction":{"a":1}}`, true, "instruction", false, true},
		{"array for a struct", `{"chosen":[1]}`, true, "chosen", false, true},
		{"pointer to float", `{"rejected":{"env_reward":true}}`, true, "rejected.env_reward", false, true},
	} {
		path, unknown, ok := FieldPath([]byte(c.in), triplet, c.strict)
		if path != c.path || unknown != c.unknown || ok != c.ok {
			t.Errorf("%s: got (%q, %v, %v), want (%q, %v, %v)", c.name, path, unknown, ok, c.path, c.unknown, c.ok)
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
		path, unknown, ok := FieldPath(b, reflect.TypeFor[Triplet](), true)
		var te *json.UnmarshalTypeError
		switch {
		case err == nil:
			if ok {
				t.Fatalf("%s decodes, FieldPath says %q", b, path)
			}
			continue
		case errors.As(err, &te):
			if !ok || unknown || withoutIndices(path) != te.Field {
				t.Fatalf("%s: encoding/json: field %q (%v); FieldPath: %q unknown=%v ok=%v", b, te.Field, err, path, unknown, ok)
			}
		default: // unknown field
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			if !ok || !unknown || lastKey(path) != name {
				t.Fatalf("%s: encoding/json: %v; FieldPath: %q unknown=%v ok=%v", b, err, path, unknown, ok)
			}
		}
		failures++
	}
	if failures < 1000 {
		t.Errorf("only %d of 3000 damaged triplets failed to decode; the test is not testing much", failures)
	}
}
