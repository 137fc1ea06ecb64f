package dataset

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"reflect"
	"strconv"
	"strings"
	"unicode"
)

// keyCheck finds what encoding/json accepts in a line without a word though data is lost or
// misnamed: a key given twice in one object (the later value replaces the first, or is decoded
// over it) and a key that names a struct field only without regard to case ("Instruction").
//
// It reads a line that a strict decode has already accepted, so the bytes are valid JSON and
// valid UTF-8 and the scanner does not check syntax. It makes one pass, guided by the Go type
// being decoded: keys of struct objects must be a field's exact name; objects of maps and of
// free-form values (interface types, types with their own unmarshalers) are only checked for
// duplicates, at every depth. One keyCheck serves every line of a scan, so that the field tables
// and buffers are built once; it is not safe for concurrent use.
type keyCheck struct {
	b      []byte
	i      int
	tables map[reflect.Type]*keyTable
	guides map[reflect.Type]reflect.Type // guide's answers: reflect's Implements is slow per value
	// keys holds the keys of the objects open now, outermost first; each object knows where its
	// own keys start. A key is a slice of b, or of arena when it had to be unescaped.
	keys  [][]byte
	arena []byte
	path  []pathSeg
}

// keyTable is what a struct type decodes: its fields' JSON names and types.
type keyTable struct {
	names []string
	types []reflect.Type
	// promoted: the struct has embedded structs whose fields encoding/json promotes. Their
	// names are not resolved here, so every key of such an object is accepted (and only checked
	// for duplicates).
	promoted bool
}

// pathSeg is one step of the path to the value being read: a key, or an array index when key
// is nil.
type pathSeg struct {
	key   []byte
	index int
}

// keyError is a problem found by keyCheck; field is a path in FieldPath's style.
type keyError struct {
	field string
	err   error
}

// manyKeys is the number of keys in one object past which duplicates are looked up in a map
// rather than by comparing with each earlier key (a free-form object can have any number).
const manyKeys = 32

// CheckKeys reports what a strict decode of the JSON value b into a t let through: a key given
// twice in one object, or a key that names a field of t only without regard to case. field is
// where, in FieldPath's style ("steps[2]" for the object that holds a duplicate; the key's own
// path for a wrong case). b must be a value that encoding/json has already decoded into a t
// without an error (valid JSON): the scan does not check syntax. For a stream of values,
// ScanJSONLStrict runs the same check with its tables built once.
func CheckKeys(b []byte, t reflect.Type) (field string, err error) {
	var c keyCheck
	if ke := c.check(b, t); ke != nil {
		return ke.field, ke.err
	}
	return "", nil
}

// check reads the JSON value b as decoded into a t.
func (c *keyCheck) check(b []byte, t reflect.Type) *keyError {
	c.b, c.i = b, 0
	c.keys, c.arena, c.path = c.keys[:0], c.arena[:0], c.path[:0]
	err := c.value(c.guide(t))
	c.b = nil // the line's buffer belongs to the scanner
	return err
}

// guide returns the type that shapes the value read into t, or nil for a free-form value.
func (c *keyCheck) guide(t reflect.Type) reflect.Type {
	if t == nil {
		return nil
	}
	if g, ok := c.guides[t]; ok {
		return g
	}
	g := guide(t)
	if c.guides == nil {
		c.guides = make(map[reflect.Type]reflect.Type)
	}
	c.guides[t] = g
	return g
}

func guide(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Interface {
		return nil
	}
	if pt := reflect.PointerTo(t); pt.Implements(unmarshalerType) || pt.Implements(textUnmarshalerType) {
		return nil
	}
	return t
}

// leaf reports whether a value of type t (from guide) is a JSON scalar or null, never an
// object or array, once encoding/json has decoded it into t without an error.
func leaf(t reflect.Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

// value reads one value of type t, which guide has returned (nil: free-form).
func (c *keyCheck) value(t reflect.Type) *keyError {
	c.skipSpace()
	switch c.b[c.i] {
	case '{':
		return c.object(t)
	case '[':
		return c.array(t)
	case '"':
		c.i, _ = stringEnd(c.b, c.i)
	default:
		c.skipLiteral()
	}
	return nil
}

func (c *keyCheck) array(t reflect.Type) *keyError {
	c.i++ // [
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = c.guide(t.Elem())
	}
	c.skipSpace()
	if c.b[c.i] == ']' {
		c.i++
		return nil
	}
	scalars := leaf(elem) // token ids: thousands of numbers with nothing to check
	for n := 0; ; n++ {
		if scalars {
			c.skipSpace()
			if c.b[c.i] == '"' {
				c.i, _ = stringEnd(c.b, c.i)
			} else {
				c.skipLiteral()
			}
		} else {
			c.path = append(c.path, pathSeg{index: n})
			if err := c.value(elem); err != nil {
				return err
			}
			c.path = c.path[:len(c.path)-1]
		}
		c.skipSpace()
		if c.b[c.i] == ']' {
			c.i++
			return nil
		}
		c.i++ // ,
	}
}

func (c *keyCheck) object(t reflect.Type) *keyError {
	c.i++ // {
	var tab *keyTable
	var elem reflect.Type // the type of every value when t is a map; nil: free-form
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			tab = c.table(t)
		case reflect.Map:
			elem = c.guide(t.Elem())
		}
	}
	keysBase, arenaBase := len(c.keys), len(c.arena)
	var seen map[string]struct{} // only for objects with more than manyKeys keys
	c.skipSpace()
	if c.b[c.i] == '}' {
		c.i++
		return nil
	}
	for {
		c.skipSpace()
		key := c.key()
		c.skipSpace()
		c.i++ // :
		vt := elem
		if tab != nil {
			f := tab.lookup(key)
			switch {
			case f >= 0:
				vt = tab.types[f]
			case tab.promoted:
				vt = nil
			default:
				return c.wrongCase(t, key)
			}
		}
		if dup := c.seenBefore(key, keysBase, &seen); dup {
			effect := "the second value would replace the first"
			switch {
			case tab != nil && vt == nil:
				effect = "one value would replace the other or be mixed with it"
			case tab != nil && mergesOnDecode(vt):
				effect = "the second value would be decoded over the first, mixing the two"
			}
			return &keyError{field: c.pathString(nil), err: fmt.Errorf("duplicate key %q (%s)", key, effect)}
		}
		c.path = append(c.path, pathSeg{key: key})
		if err := c.value(vt); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]
		c.skipSpace()
		if c.b[c.i] == '}' {
			c.i++
			c.keys, c.arena = c.keys[:keysBase], c.arena[:arenaBase]
			return nil
		}
		c.i++ // ,
	}
}

// seenBefore reports whether key is among the keys of the current object (those from base on),
// and adds it to them.
func (c *keyCheck) seenBefore(key []byte, base int, seen *map[string]struct{}) bool {
	if *seen != nil {
		if _, ok := (*seen)[string(key)]; ok {
			return true
		}
		(*seen)[string(key)] = struct{}{}
		return false
	}
	earlier := c.keys[base:]
	for _, k := range earlier {
		if bytes.Equal(k, key) {
			return true
		}
	}
	if len(earlier) >= manyKeys {
		// Comparing with every earlier key would make a large free-form object quadratic.
		m := make(map[string]struct{}, 2*len(earlier))
		for _, k := range earlier {
			m[string(k)] = struct{}{}
		}
		m[string(key)] = struct{}{}
		*seen = m
		return false
	}
	c.keys = append(c.keys, key)
	return false
}

// key reads the string at c.i and returns it unescaped. A key without a backslash is returned as
// a slice of the line, without copying.
func (c *keyCheck) key() []byte {
	start := c.i
	end, escaped := stringEnd(c.b, start)
	c.i = end
	if !escaped {
		return c.b[start+1 : end-1]
	}
	// encoding/json's own unescaping, so that keys compare as it decodes them (a lone surrogate
	// becomes U+FFFD); escaped keys are rare enough for its allocation. The string is valid JSON.
	var text string
	_ = json.Unmarshal(c.b[start:end], &text)
	// Later keys are appended past this one, so the returned slice keeps its bytes even when
	// the arena is reallocated, until the object that holds the key ends and truncates it.
	from := len(c.arena)
	c.arena = append(c.arena, text...)
	return c.arena[from:len(c.arena):len(c.arena)]
}

// wrongCase reports a key of a struct object that encoding/json matched to a field without
// regard to case (a strict decode has refused every key that matches no field).
func (c *keyCheck) wrongCase(t reflect.Type, key []byte) *keyError {
	field := c.pathString(key)
	if f, ok := fieldFor(t, string(key)); ok {
		return &keyError{field: field, err: fmt.Errorf("key %q is written %q (names are matched exactly)", key, f.name)}
	}
	// Not reached after a strict decode succeeded; said plainly should it ever be.
	return &keyError{field: field, err: fmt.Errorf("key %q matches no field", key)}
}

// pathString names the value being read, and with key a key of it, in FieldPath's style.
func (c *keyCheck) pathString(key []byte) string {
	var b strings.Builder
	for _, s := range c.path {
		if s.key == nil {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(s.key)
	}
	if key != nil {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.Write(key)
	}
	return b.String()
}

func (c *keyCheck) skipSpace() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// skipLiteral skips a number, true, false or null.
func (c *keyCheck) skipLiteral() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return
		}
		c.i++
	}
}

// stringEnd returns the index just past the closing quote of the JSON string that starts at
// b[i], and whether the string has escapes.
func stringEnd(b []byte, i int) (end int, escaped bool) {
	i++
	for {
		i = nextQuoteOrBackslash(b, i)
		if b[i] == '"' {
			return i + 1, escaped
		}
		escaped = true
		i += 2 // the backslash and the byte it escapes (the rest of \uXXXX is plain text)
	}
}

// nextQuoteOrBackslash returns the index of the first '"' or '\\' in b from i on (valid JSON has
// one). It tests sixteen bytes a round as two words: observations escape a newline or a quote
// every few dozen bytes, too often for bytes.IndexByte's start-up cost to pay (measured on
// this package's benchmark line: 34 µs with IndexByte, 24 µs a word at a time, less unrolled).
func nextQuoteOrBackslash(b []byte, i int) int {
	for ; i+16 <= len(b); i += 16 {
		m0 := quoteOrBackslash(binary.LittleEndian.Uint64(b[i : i+8]))
		m1 := quoteOrBackslash(binary.LittleEndian.Uint64(b[i+8 : i+16]))
		if m0|m1 != 0 {
			if m0 != 0 {
				return i + bits.TrailingZeros64(m0)>>3
			}
			return i + 8 + bits.TrailingZeros64(m1)>>3
		}
	}
	for b[i] != '"' && b[i] != '\\' {
		i++
	}
	return i
}

// quoteOrBackslash flags with its high bit each byte of x (little-endian) that may be a quote or
// a backslash. The lowest flagged byte is exact (a borrow only flags bytes above a true one),
// and no such byte is missed.
func quoteOrBackslash(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, s := x^(ones*'"'), x^(ones*'\\')
	return ((q-ones)&^q | (s-ones)&^s) & highs
}

// mergesOnDecode reports whether encoding/json decodes a struct field's second value into what
// the first left (structs and maps, and arrays of them, are filled in, not reset) rather than
// replacing it. t is from guide.
func mergesOnDecode(t reflect.Type) bool {
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		t = guide(t.Elem())
	}
	return t != nil && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map)
}

func (c *keyCheck) table(t reflect.Type) *keyTable {
	if tab, ok := c.tables[t]; ok {
		return tab
	}
	tab := &keyTable{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			// encoding/json promotes the fields of an embedded struct that has no name of its
			// own in a tag, exported or not, and ignores other unexported embedded types.
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			tag := f.Tag.Get("json")
			if tag == "-" || !f.IsExported() && ft.Kind() != reflect.Struct {
				continue
			}
			if name, _, _ := strings.Cut(tag, ","); ft.Kind() == reflect.Struct && (!validTagName(name) || !f.IsExported()) {
				tab.promoted = true
				continue
			}
		}
		name, ok := jsonFieldName(f)
		if !ok {
			continue
		}
		tab.names = append(tab.names, name)
		tab.types = append(tab.types, c.guide(f.Type))
	}
	if c.tables == nil {
		c.tables = make(map[reflect.Type]*keyTable)
	}
	c.tables[t] = tab
	return tab
}

// lookup returns the index of the field named exactly key, or -1.
func (tab *keyTable) lookup(key []byte) int {
	for i, n := range tab.names {
		if n == string(key) {
			return i
		}
	}
	return -1
}

// jsonFieldName is the JSON name encoding/json gives a struct field that is not embedded, and
// false for a field it leaves out (unexported, or tagged "-").
func jsonFieldName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	if !f.IsExported() || tag == "-" { // `json:"-,"` names a field "-"
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if !validTagName(name) {
		name = f.Name
	}
	return name, true
}

// validTagName reports whether encoding/json takes name from a tag; it falls back to the Go
// field name otherwise.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", r):
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			return false
		}
	}
	return true
}
