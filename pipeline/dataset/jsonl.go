package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
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
// the field where it can.
func decodeLine(file string, line int, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		le := &LineError{File: file, Line: line, Err: err}
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			le.Field = te.Field
			le.Err = fmt.Errorf("expected %s, got JSON %s", te.Type, te.Value)
		case errors.As(err, &se):
			le.Err = fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
		}
		return le
	}
	return nil
}

// ScanJSONL calls fn for every non-blank line of r, decoded into a fresh T. name is used in errors.
// Blank lines are skipped (they carry no record); anything else that does not decode is an error.
func ScanJSONL[T any](r io.Reader, name string, fn func(line int, v *T) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		v := new(T)
		if err := decodeLine(name, line, b, v); err != nil {
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

// ReadJSONLFile reads every record of a JSONL file ("-" is standard input).
func ReadJSONLFile[T any](path string, check func(line int, v *T) error) ([]T, error) {
	r, name, err := OpenInput(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []T
	err = ScanJSONL(r, name, func(line int, v *T) error {
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

// Validate checks that a score request carries token ids or text.
func (r *ScoreRequest) Validate() error {
	if len(r.InputIDs) == 0 && r.Instruction == "" && len(r.Steps) == 0 {
		return fieldErr("input_ids", errors.New("request has neither input_ids nor instruction/steps"))
	}
	return nil
}

func fieldErr(field string, err error) error { return &LineError{Field: field, Err: err} }
