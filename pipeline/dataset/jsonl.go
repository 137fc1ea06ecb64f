package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"unicode/utf8"
)

// MaxLineBytes bounds one JSONL line; a longer line is an error rather than an allocation spiral.
const MaxLineBytes = 64 << 20

// LineError names the file, line and (where known) field of a bad input line.
type LineError struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *LineError) Error() string {
	loc := fmt.Sprintf("%s:%d", e.File, e.Line)
	if e.Field != "" {
		return fmt.Sprintf("%s: field %q: %v", loc, e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// decodeLine unmarshals one JSON line and turns encoding/json errors into a LineError that names
// the field where it can. strict makes errors of a field that T does not have and of what
// encoding/json lets pass: a key given twice in one object, and a key that names a field only
// without regard to case. keys is kept between the lines of one scan (nil: a new one).
func decodeLine(file string, line int, b []byte, v any, strict bool, keys *keyCheck) error {
	var err error
	if strict && !utf8.Valid(b) {
		// encoding/json would turn the bytes into U+FFFD without a word, ids included, and two
		// different ids could come back as one.
		at := 0
		for at < len(b) {
			r, size := utf8.DecodeRune(b[at:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			at += size
		}
		return &LineError{File: file, Line: line, Err: fmt.Errorf("not valid UTF-8 (byte %d)", at)}
	}
	if strict {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil {
			// What json.Unmarshal refuses too: anything after the value.
			if _, extra := dec.Token(); extra != io.EOF {
				return &LineError{File: file, Line: line, Err: fmt.Errorf("invalid JSON at byte %d: data after the value", dec.InputOffset())}
			}
			// Only now are the bytes known to be valid JSON, which the scan relies on.
			if keys == nil {
				keys = new(keyCheck)
			}
			if ke := keys.check(b, reflect.TypeOf(v).Elem()); ke != nil {
				return &LineError{File: file, Line: line, Field: ke.field, Err: ke.err}
			}
		}
	} else {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		le := &LineError{File: file, Line: line, Err: err}
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			le.Field = te.Field
			le.Err = fmt.Errorf("expected %s, got JSON %s", jsonKind(te.Type.Kind()), te.Value)
			if k := te.Type.Kind(); k >= reflect.Int && k <= reflect.Uint64 && isIntegerLiteral(strings.TrimPrefix(te.Value, "number ")) {
				// An integer out of range: say which range, not that it is no integer.
				le.Err = fmt.Errorf("expected an integer that fits %s, got JSON %s", te.Type, te.Value)
			}
			if p, key, ok := FieldPath(b, reflect.TypeOf(v).Elem(), strict); ok && key == "" && WithoutIndices(p) == te.Field {
				le.Field = p
			}
		case errors.As(err, &se):
			le.Err = fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// encoding/json has no type for it, and gives the name without its path.
			le.Field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			le.Err = errors.New("unknown field (a misspelt name would otherwise be dropped silently)")
			if hasJSONField(reflect.TypeOf(v).Elem(), "meta") {
				le.Err = errors.New("unknown field (a misspelt name would otherwise be dropped silently; free-form data goes under \"meta\")")
			}
			if p, key, ok := FieldPath(b, reflect.TypeOf(v).Elem(), strict); ok && key == le.Field && p != "" {
				le.Field = p + "." + key
			}
		}
		return le
	}
	return nil
}

// WithoutIndices drops the array indices of a FieldPath, leaving the path encoding/json names
// (to check that the two speak of the same value).
func WithoutIndices(p string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '[')
		if i < 0 {
			b.WriteString(p)
			return b.String()
		}
		b.WriteString(p[:i])
		j := strings.IndexByte(p[i:], ']')
		if j < 0 {
			return b.String()
		}
		p = p[i+j+1:]
	}
}

// jsonKind names what a Go kind is in JSON terms, for errors about input written by hand.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return k.String()
}

// utf8BOM starts files saved by some editors; it is not JSON, and not worth an error.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ScanJSONL calls fn for every non-blank line of r, decoded into a fresh T. name is used in errors.
// Blank lines are skipped (they carry no record); anything else that does not decode is an error.
// Fields that T does not have are ignored: for records that other programs extend (metrics).
func ScanJSONL[T any](r io.Reader, name string, fn func(line int, v *T) error) error {
	return scanJSONL(r, name, false, fn)
}

// ScanJSONLStrict is ScanJSONL for the data contracts (triplets, score requests): a field that T
// does not have is an error naming it, so that a misspelt "margin" is not silently dropped. So
// are a key given twice in one object (encoding/json keeps the later value, or mixes the two,
// without a word) and a key that matches a field only without regard to case ("Instruction"
// for "instruction").
func ScanJSONLStrict[T any](r io.Reader, name string, fn func(line int, v *T) error) error {
	return scanJSONL(r, name, true, fn)
}

func scanJSONL[T any](r io.Reader, name string, strict bool, fn func(line int, v *T) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), MaxLineBytes)
	line := 0
	var keys *keyCheck
	if strict {
		keys = new(keyCheck)
	}
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, utf8BOM)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		v := new(T)
		if err := decodeLine(name, line, b, v, strict, keys); err != nil {
			return err
		}
		if err := fn(line, v); err != nil {
			var le *LineError
			if errors.As(err, &le) {
				if le.File == "" {
					le.File, le.Line = name, line
				}
				return err
			}
			return &LineError{File: name, Line: line, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &LineError{File: name, Line: line + 1, Err: fmt.Errorf("line longer than %d bytes", MaxLineBytes)}
		}
		return fmt.Errorf("%s: read: %w", name, err)
	}
	return nil
}

// OpenInput opens an input file for reading, where "-" is standard input, and returns the name
// errors should use for it ("<stdin>" or path). Closing the reader leaves standard input open.
func OpenInput(path string) (io.ReadCloser, string, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), "<stdin>", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	return f, path, nil
}

// ReadJSONLFile reads every record of a JSONL file of one of the data contracts ("-" is standard
// input); fields T does not have are errors.
func ReadJSONLFile[T any](path string, check func(line int, v *T) error) ([]T, error) {
	r, name, err := OpenInput(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []T
	err = ScanJSONLStrict(r, name, func(line int, v *T) error {
		if check != nil {
			if err := check(line, v); err != nil {
				return err
			}
		}
		out = append(out, *v)
		return nil
	})
	return out, err
}

// ReadTriplets reads and validates a triplet file. Each line needs either both token-id fields or
// an instruction with steps on both sides.
func ReadTriplets(path string) ([]Triplet, error) {
	return ReadJSONLFile(path, func(line int, t *Triplet) error { return t.Validate() })
}

// Validate checks that a triplet carries what training needs.
func (t *Triplet) Validate() error {
	if (len(t.ChosenIDs) > 0) != (len(t.RejectedIDs) > 0) {
		if len(t.ChosenIDs) == 0 {
			return fieldErr("chosen_input_ids", errors.New("missing or empty while rejected_input_ids is set"))
		}
		return fieldErr("rejected_input_ids", errors.New("missing or empty while chosen_input_ids is set"))
	}
	if t.Tokenized() {
		return nil
	}
	if len(t.Chosen.Steps) == 0 {
		return fieldErr("chosen.steps", errors.New("empty (and no chosen_input_ids)"))
	}
	if len(t.Rejected.Steps) == 0 {
		return fieldErr("rejected.steps", errors.New("empty (and no rejected_input_ids)"))
	}
	return nil
}

// Validate checks that a score request carries token ids or text, not both.
func (r *ScoreRequest) Validate() error {
	text := r.Instruction != "" || len(r.Steps) > 0
	switch {
	case len(r.InputIDs) == 0 && !text:
		return fieldErr("input_ids", errors.New("neither input_ids nor instruction/steps"))
	case len(r.InputIDs) > 0 && text:
		return fieldErr("input_ids", errors.New("give either input_ids or instruction/steps, not both"))
	}
	return nil
}

func fieldErr(field string, err error) error { return &LineError{Field: field, Err: err} }

// CheckIDs checks the pre-tokenized ids of field against a model: at most maxLen of them, each
// in [0, vocab). The error names the field, and for a bad id its element.
func CheckIDs(field string, ids []int32, vocab, maxLen int) error {
	if len(ids) > maxLen {
		return fieldErr(field, fmt.Errorf("%d tokens, more than max_length %d (the model's positions unless set lower)", len(ids), maxLen))
	}
	for i, id := range ids {
		if id < 0 || int(id) >= vocab {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), fmt.Errorf("token id %d is outside the vocabulary [0, %d)", id, vocab))
		}
	}
	return nil
}

// hasJSONField reports whether struct type t has a field decoded from JSON key name.
func hasJSONField(t reflect.Type, name string) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name || tag == "" && f.Name == name {
			return true
		}
	}
	return false
}

// isIntegerLiteral reports whether a JSON number is written as an integer ("-12", not "1.5" or "1e3").
func isIntegerLiteral(v string) bool {
	v = strings.TrimPrefix(v, "-")
	return v != "" && strings.Trim(v, "0123456789") == ""
}
