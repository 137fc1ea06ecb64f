package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/armap/armap/pipeline/dataset"
)

// Error types of the JSON error body (the "type" field).
const (
	typeInvalid    = "invalid_request"
	typeAuth       = "unauthorized"
	typeNotFound   = "not_found"
	typeMethod     = "method_not_allowed"
	typeTooLarge   = "payload_too_large"
	typeValidation = "validation"
	typeOverloaded = "overloaded"
	typeBackend    = "backend"
	typeInternal   = "internal"
	typeUnhealthy  = "unhealthy"
)

// apiError is an answer other than 200.
type apiError struct {
	Status int
	Type   string
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

func errorf(status int, typ, format string, a ...any) *apiError {
	return &apiError{Status: status, Type: typ, Msg: fmt.Sprintf(format, a...)}
}

// ScoreRequest is the body of POST /v1/score.
type ScoreRequest struct {
	Items []dataset.ScoreRequest `json:"items"`
}

// ScoreResponse is its answer.
type ScoreResponse struct {
	Scores []dataset.ScoreResult `json:"scores"`
}

// ErrorResponse is the body of every non-200 answer.
type ErrorResponse struct {
	Error string `json:"error"`
	Type  string `json:"type"`
}

// decodeItems reads the body. Items are decoded one by one from raw JSON so that an error names
// the item's index, the field, and for arrays the element.
func decodeItems(r io.Reader, maxItems int) ([]dataset.ScoreRequest, *apiError) {
	// Read whole (max_body_bytes bounds it) so that the key check below can scan the body: the
	// items are held as raw JSON until decoded anyway.
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, bodyError(err, "")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var body struct {
		Items *[]json.RawMessage `json:"items"`
	}
	if err := dec.Decode(&body); err != nil {
		return nil, bodyError(err, "")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, bodyError(err, "")
		}
		return nil, errorf(http.StatusBadRequest, typeInvalid, "unexpected data after the JSON object")
	}
	if body.Items == nil {
		return nil, errorf(http.StatusBadRequest, typeInvalid, `field "items" is missing (want {"items": [{"id", "input_ids"} | {"id", "instruction", "steps"}, ...]})`)
	}
	raws := *body.Items
	if len(raws) == 0 {
		return nil, errorf(http.StatusUnprocessableEntity, typeValidation, `"items" is empty`)
	}
	if len(raws) > maxItems {
		return nil, errorf(http.StatusRequestEntityTooLarge, typeTooLarge, "%d items, more than max_items %d per request; split the request", len(raws), maxItems)
	}
	items := make([]dataset.ScoreRequest, len(raws))
	for i, raw := range raws {
		where := fmt.Sprintf("items[%d]", i)
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
			return nil, errorf(http.StatusBadRequest, typeInvalid, "%s: expected an object, got %s", where, jsonKind(t))
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&items[i]); err != nil {
			return nil, bodyError(err, where+fieldPath(raw, err))
		}
	}
	// encoding/json keeps the last of a key given twice (a second "items" would drop the first
	// list) and takes "Steps" for "steps": the same refusals as a strict JSONL file, over the
	// whole body now that it is known to decode.
	type scoreBody struct {
		Items []dataset.ScoreRequest `json:"items"`
	}
	if field, err := dataset.CheckKeys(data, reflect.TypeFor[scoreBody]()); err != nil {
		where := "request body"
		if field != "" {
			where = field
		}
		return nil, errorf(http.StatusBadRequest, typeInvalid, "%s: %v", where, err)
	}
	return items, nil
}

// bodyError turns a decoding error into a 400 (or 413) naming where it happened.
func bodyError(err error, where string) *apiError {
	prefix := "request body"
	if where != "" {
		prefix = where
	}
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, typeTooLarge, "request body is larger than max_body_bytes %d", mbe.Limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, typeInvalid, "empty request body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, typeInvalid, "%s: malformed JSON: unexpected end of input", prefix)
	case errors.As(err, &se):
		return errorf(http.StatusBadRequest, typeInvalid, "%s: malformed JSON at byte %d: %v", prefix, se.Offset, se)
	case errors.As(err, &te):
		if where == "" {
			return errorf(http.StatusBadRequest, typeInvalid, "field %q: expected %s, got %s", te.Field, typeName(te.Type), te.Value)
		}
		return errorf(http.StatusBadRequest, typeInvalid, "%s: expected %s, got %s", where, typeName(te.Type), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if where == "" {
			return errorf(http.StatusBadRequest, typeInvalid, "request body: unknown field %s (the body has only \"items\")", f)
		}
		return errorf(http.StatusBadRequest, typeInvalid, "%s: unknown field %s (items take id, instruction, steps or input_ids; steps take action, observation)", where, f)
	}
	return errorf(http.StatusBadRequest, typeInvalid, "%s: %v", prefix, err)
}

// fieldPath names where inside an item decoding failed, with the element index for arrays
// (".input_ids[7]", ".steps[2].action"), which encoding/json leaves out; for an unknown field,
// the object that holds it (".steps[1]"), the message naming the field. It runs only on the
// error path, reading the item again.
func fieldPath(raw []byte, err error) string {
	var te *json.UnmarshalTypeError
	isType := errors.As(err, &te)
	p, key, ok := dataset.FieldPath(raw, reflect.TypeFor[dataset.ScoreRequest](), true)
	switch {
	case isType && ok && key == "" && dataset.WithoutIndices(p) == te.Field:
		return "." + p
	case isType:
		return "." + te.Field
	case ok && key != "" && p != "":
		return "." + p
	}
	return ""
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int32:
		return "an integer token id (int32)"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.String()
}

func jsonKind(t []byte) string {
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
