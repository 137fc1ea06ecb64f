package dataset

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// FieldPath finds the value of the JSON text b that decoding it into a t fails on, the first in
// document order as encoding/json meets them, and names it with array indices
// ("chosen.steps[3].action", "input_ids[7]"), which encoding/json's errors leave out. For a key
// that t does not have (an error only when strict), path names the object that holds it
// ("chosen.steps[1]", "" at the top) and unknownKey is the key. ok is false when b decodes into t
// without a type error or unknown key, or is not JSON.
//
// It runs only after a decode has failed, reading b again token by token. It follows
// encoding/json's rules for the types of the data contracts: keys match a field's name exactly or
// else without regard to case, null fits every type, an integer field refuses fractions and
// numbers out of its range, elements past a fixed array's length are dropped, and a map value is
// named by the map (as encoding/json does). Embedded structs, the ",string" option and types with
// their own unmarshalers are not looked into; callers compare the path with encoding/json's own
// before trusting it.
func FieldPath(b []byte, t reflect.Type, strict bool) (path, unknownKey string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	w := pathWalker{dec: dec, strict: strict}
	path, unknownKey, ok = w.value(t, "")
	if w.err != nil {
		return "", "", false
	}
	return strings.TrimPrefix(path, "."), unknownKey, ok
}

type pathWalker struct {
	dec    *json.Decoder
	strict bool
	err    error // malformed JSON: no path to give
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value reads one value of type t at path; it reports the first failing path below it.
func (w *pathWalker) value(t reflect.Type, path string) (string, string, bool) {
	tok, err := w.dec.Token()
	if err != nil {
		w.err = err
		return "", "", false
	}
	if tok == nil {
		return "", "", false
	}
	if t = guide(t); t == nil { // free-form: nothing to name inside
		w.skipRest(tok)
		return "", "", false
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch {
		case tok == '{' && t.Kind() == reflect.Struct:
			return w.object(path, func(key string) (reflect.Type, string, bool) {
				f, ok := fieldFor(t, key)
				if !ok {
					return nil, "", false
				}
				return f.Type, f.name, true
			})
		case tok == '{' && t.Kind() == reflect.Map:
			return w.object(path, func(string) (reflect.Type, string, bool) { return t.Elem(), "", true })
		case tok == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			for i := 0; w.dec.More(); i++ {
				if t.Kind() == reflect.Array && i >= t.Len() {
					w.skipRest(w.token())
					continue
				}
				if p, u, ok := w.value(t.Elem(), path+"["+strconv.Itoa(i)+"]"); ok || w.err != nil {
					return p, u, ok
				}
			}
			w.token() // ]
			return "", "", false
		}
		w.skipRest(tok)
		return path, "", true
	case string:
		return path, "", t.Kind() != reflect.String
	case bool:
		return path, "", t.Kind() != reflect.Bool
	case json.Number:
		return path, "", !numberFits(string(tok), t)
	}
	return path, "", true
}

// object reads the members of an object whose '{' was read; field maps a key to the type and
// name of its value ("": the value is named by the object's path), false for a key the type does
// not have.
func (w *pathWalker) object(path string, field func(key string) (reflect.Type, string, bool)) (string, string, bool) {
	for w.dec.More() {
		kt := w.token()
		key, _ := kt.(string)
		if w.err != nil {
			return "", "", false
		}
		ft, name, known := field(key)
		if !known {
			if w.strict {
				return path, key, true
			}
			w.skipRest(w.token())
			continue
		}
		vp := path
		if name != "" {
			vp += "." + name
		}
		if p, u, ok := w.value(ft, vp); ok || w.err != nil {
			return p, u, ok
		}
	}
	w.token() // }
	return "", "", false
}

func (w *pathWalker) token() json.Token {
	tok, err := w.dec.Token()
	if err != nil && w.err == nil {
		w.err = err
	}
	return tok
}

// skipRest reads the rest of a value whose first token was tok.
func (w *pathWalker) skipRest(tok json.Token) {
	if d, ok := tok.(json.Delim); !ok || (d != '{' && d != '[') {
		return
	}
	for depth := 1; depth > 0 && w.err == nil; {
		if d, ok := w.token().(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
}

// numberFits reports whether encoding/json stores the number s in a t without an error.
func numberFits(s string, t reflect.Type) bool {
	var err error
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		_, err = strconv.ParseInt(s, 10, t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err = strconv.ParseUint(s, 10, t.Bits())
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(s, t.Bits())
	default:
		return false
	}
	return err == nil
}

type jsonField struct {
	reflect.StructField
	name string
}

// fieldFor finds the field that encoding/json decodes key into: the exact name first, then a
// name equal without regard to case.
func fieldFor(t reflect.Type, key string) (jsonField, bool) {
	var fold jsonField
	found := false
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			continue
		}
		name, ok := jsonFieldName(f)
		if !ok {
			continue
		}
		if name == key {
			return jsonField{f, name}, true
		}
		if !found && strings.EqualFold(name, key) {
			fold, found = jsonField{f, name}, true
		}
	}
	return fold, found
}
