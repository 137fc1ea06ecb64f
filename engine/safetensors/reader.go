package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header, as the reference implementation does (100 MB): a larger
// length is taken as corruption rather than an allocation to attempt.
const MaxHeaderSize = 100_000_000

const metadataKey = "__metadata__"

// FormatError reports a file that is not valid safetensors, naming the file and, where the
// problem belongs to one tensor, the tensor.
type FormatError struct {
	Path   string
	Tensor string // empty when the problem is not about one tensor
	Msg    string
}

func (e *FormatError) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("safetensors %s: tensor %q: %s", e.Path, e.Tensor, e.Msg)
	}
	return fmt.Sprintf("safetensors %s: %s", e.Path, e.Msg)
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	DType DType
	Shape []int
	// Offsets are [begin, end) in bytes, relative to the start of the data section.
	Offsets [2]int64
}

// NumElements is the product of the shape.
func (t TensorInfo) NumElements() int64 {
	n, _ := NumElements(t.Shape) // validated when the file was opened
	return n
}

// File is an open safetensors file. Its methods are safe for concurrent use, except Close,
// which must come after every other call has returned and every Raw view is dropped.
type File struct {
	path    string
	buf     []byte // the whole file: a read-only mapping, or a heap copy when mmap was not possible
	mapped  bool
	dataOff int64 // 8 + header length
	tensors map[string]TensorInfo
	names   []string // sorted
	meta    map[string]string
	closed  bool
}

// Open maps path read-only and validates its header completely: header length within the file
// and the 100 MB limit, UTF-8 JSON object, known dtypes, non-negative shapes whose byte size
// equals the span of data_offsets, and offsets that tile the data section exactly (no overlap, no
// gap, nothing out of range, nothing left over). Every error is a *FormatError naming the file
// and, where it applies, the tensor. When mmap fails (e.g. on a filesystem that does not support
// it) the file is read into memory instead.
//
// The mapping is released by Close; there is no finalizer. A file truncated by another process
// while mapped makes reads of the lost pages fault (SIGBUS), as with any mmap reader.
func Open(path string) (*File, error) {
	return open(path, true)
}

func open(path string, allowMmap bool) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := st.Size()
	var buf []byte
	mapped := false
	if allowMmap && st.Mode().IsRegular() && size >= 8 && size <= math.MaxInt {
		if b, err := mmapFile(fd, int(size)); err == nil {
			buf, mapped = b, true
		}
	}
	if !mapped {
		if st.Mode().IsRegular() && size <= math.MaxInt {
			buf = make([]byte, size)
			_, err = io.ReadFull(fd, buf)
		} else {
			buf, err = io.ReadAll(fd)
		}
		if err != nil {
			return nil, fmt.Errorf("safetensors: read %s: %w", path, err)
		}
	}
	f, err := parse(path, buf)
	if err != nil {
		if mapped {
			munmap(buf)
		}
		return nil, err
	}
	f.mapped = mapped
	return f, nil
}

// parse validates a whole file held in buf. It never reads outside buf and never panics, whatever
// the bytes.
func parse(path string, buf []byte) (*File, error) {
	bad := func(tensor, format string, args ...any) error {
		return &FormatError{Path: path, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
	}
	if len(buf) < 8 {
		return nil, bad("", "file is %d bytes, too short for the 8-byte header length", len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	rest := uint64(len(buf) - 8)
	if n > MaxHeaderSize {
		return nil, bad("", "header length %d exceeds the %d-byte limit (corrupt, or not a safetensors file?)", n, MaxHeaderSize)
	}
	if n > rest {
		return nil, bad("", "header length %d runs past the end of the file (%d bytes after the length field; truncated?)", n, rest)
	}
	header := buf[8 : 8+n]
	dataLen := int64(rest - n)

	tensors, meta, err := parseHeader(header)
	if err != nil {
		var te *tensorErr
		if errors.As(err, &te) {
			return nil, bad(te.name, "%s", te.msg)
		}
		return nil, bad("", "header: %v", err)
	}

	// Check each tensor's own consistency, then that the ranges tile [0, dataLen).
	type span struct {
		name       string
		begin, end int64
	}
	spans := make([]span, 0, len(tensors))
	for name, t := range tensors {
		size, err := ByteSize(t.DType, t.Shape)
		if err != nil {
			return nil, bad(name, "%v", err)
		}
		b, e := t.Offsets[0], t.Offsets[1]
		if e < b {
			return nil, bad(name, "data_offsets [%d, %d] end before they begin", b, e)
		}
		if e-b != size {
			return nil, bad(name, "%s shape %v needs %d bytes but data_offsets [%d, %d] span %d", t.DType, t.Shape, size, b, e, e-b)
		}
		spans = append(spans, span{name, b, e})
	}
	slices.SortFunc(spans, func(x, y span) int {
		if x.begin != y.begin {
			return cmpInt64(x.begin, y.begin)
		}
		if x.end != y.end {
			return cmpInt64(x.end, y.end)
		}
		return strings.Compare(x.name, y.name)
	})
	pos := int64(0)
	prev := ""
	for _, s := range spans {
		if s.begin < pos {
			return nil, bad(s.name, "data_offsets [%d, %d] overlap tensor %q, which ends at %d", s.begin, s.end, prev, pos)
		}
		if s.begin > pos {
			return nil, bad(s.name, "data_offsets start at %d but the previous tensor ends at %d: bytes [%d, %d) of the data section belong to no tensor", s.begin, pos, pos, s.begin)
		}
		if s.end > dataLen {
			return nil, bad(s.name, "data_offsets [%d, %d] run past the end of the data section (%d bytes; file truncated?)", s.begin, s.end, dataLen)
		}
		pos, prev = s.end, s.name
	}
	if pos != dataLen {
		return nil, bad("", "tensors cover %d bytes of data but the data section holds %d: %d trailing bytes belong to no tensor", pos, dataLen, dataLen-pos)
	}

	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	return &File{path: path, buf: buf, dataOff: 8 + int64(n), tensors: tensors, names: names, meta: meta}, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type tensorErr struct{ name, msg string }

func (e *tensorErr) Error() string { return e.name + ": " + e.msg }

// parseHeader decodes the JSON header. Top-level keys are read one by one so that a duplicated
// name is caught instead of silently overwriting the first; field names inside an entry are
// matched exactly (encoding/json's struct matching would accept "DTYPE").
func parseHeader(header []byte) (map[string]TensorInfo, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, jsonErr(err, dec)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("not a JSON object (starts with %v)", tok)
	}
	tensors := make(map[string]TensorInfo)
	var meta map[string]string
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, jsonErr(err, dec)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("expected a tensor name, got %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if name == metadataKey {
				return nil, nil, fmt.Errorf("%s: %v", metadataKey, jsonErr(err, dec))
			}
			return nil, nil, &tensorErr{name, jsonErr(err, dec).Error()}
		}
		if name == metadataKey {
			if seenMeta {
				return nil, nil, fmt.Errorf("%s appears twice", metadataKey)
			}
			seenMeta = true
			if string(raw) == "null" {
				continue
			}
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("%s must be an object of string values: %v", metadataKey, err)
			}
			continue
		}
		if _, dup := tensors[name]; dup {
			return nil, nil, &tensorErr{name, "appears twice in the header"}
		}
		info, msg := parseEntry(raw)
		if msg != "" {
			return nil, nil, &tensorErr{name, msg}
		}
		tensors[name] = info
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, jsonErr(err, dec)
	}
	// Only padding may follow the object (the format pads with spaces; JSON allows any
	// whitespace there, as serde_json does).
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, jsonErr(err, dec)
		}
		return nil, nil, fmt.Errorf("unexpected %v after the header object", tok)
	}
	return tensors, meta, nil
}

func jsonErr(err error, dec *json.Decoder) error {
	if err == io.EOF {
		return errors.New("invalid JSON: unexpected end of header")
	}
	return fmt.Errorf("invalid JSON near byte %d: %v", dec.InputOffset(), err)
}

func parseEntry(raw json.RawMessage) (TensorInfo, string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return TensorInfo{}, fmt.Sprintf("entry must be an object with dtype, shape and data_offsets, got %s", clip(raw))
	}
	var t TensorInfo
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		v, ok := fields[k]
		if !ok || string(v) == "null" {
			return t, fmt.Sprintf("missing field %q", k)
		}
	}
	var dt string
	if err := json.Unmarshal(fields["dtype"], &dt); err != nil {
		return t, fmt.Sprintf("dtype must be a string, got %s", clip(fields["dtype"]))
	}
	t.DType = DType(dt)
	if !t.DType.Valid() {
		return t, fmt.Sprintf("unknown dtype %q", dt)
	}
	shape, ok := naturals(fields["shape"])
	if !ok {
		return t, fmt.Sprintf("shape must be an array of non-negative integers, got %s", clip(fields["shape"]))
	}
	t.Shape = make([]int, len(shape))
	for i, d := range shape {
		if d > math.MaxInt {
			return t, fmt.Sprintf("shape dimension %d is too large", d)
		}
		t.Shape[i] = int(d)
	}
	offs, ok := naturals(fields["data_offsets"])
	if !ok || len(offs) != 2 {
		return t, fmt.Sprintf("data_offsets must be [begin, end] with non-negative integers, got %s", clip(fields["data_offsets"]))
	}
	if offs[0] > math.MaxInt64 || offs[1] > math.MaxInt64 {
		return t, fmt.Sprintf("data_offsets %v are out of range", offs)
	}
	t.Offsets = [2]int64{int64(offs[0]), int64(offs[1])}
	return t, ""
}

// naturals decodes a JSON array of integers >= 0 (no fractions, no exponents).
func naturals(raw json.RawMessage) ([]uint64, bool) {
	var v []uint64
	if err := json.Unmarshal(raw, &v); err != nil || v == nil {
		return nil, false
	}
	return v, true
}

func clip(raw []byte) string {
	const max = 80
	if len(raw) > max {
		return string(raw[:max]) + "..."
	}
	return string(raw)
}

// Path is the file name given to Open.
func (f *File) Path() string { return f.path }

// Len is the number of tensors.
func (f *File) Len() int { return len(f.names) }

// Names lists the tensor names in byte order of the names (sorted), independent of their order
// in the file.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Has reports whether the file holds a tensor of that name.
func (f *File) Has(name string) bool {
	_, ok := f.tensors[name]
	return ok
}

// Info describes a tensor; the error names the file when it has no such tensor.
func (f *File) Info(name string) (TensorInfo, error) {
	t, ok := f.tensors[name]
	if !ok {
		return TensorInfo{}, fmt.Errorf("safetensors %s: no tensor named %q", f.path, name)
	}
	t.Shape = slices.Clone(t.Shape)
	return t, nil
}

// Raw is the tensor's little-endian bytes, a view of the mapped file: valid until Close, and must
// not be written to (the mapping is read-only; writing faults). In files whose header is padded
// to 8 bytes (this package's, transformers') the view is aligned to the element size. nil when there is no such tensor
// or the file is closed; a tensor with no elements gives an empty, non-nil slice.
func (f *File) Raw(name string) []byte {
	t, ok := f.tensors[name]
	if !ok || f.closed {
		return nil
	}
	b := f.dataOff + t.Offsets[0]
	e := f.dataOff + t.Offsets[1]
	return f.buf[b:e:e]
}

// Float32 converts a float tensor (F32, F16, BF16 or F64) to a new []float32, exactly as
// PyTorch's .float() does.
func (f *File) Float32(name string) ([]float32, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, fmt.Errorf("safetensors %s: no tensor named %q", f.path, name)
	}
	dst := make([]float32, t.NumElements())
	if err := f.Float32Into(name, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// Float32Into is Float32 into a caller's buffer, whose length must equal the element count.
func (f *File) Float32Into(name string, dst []float32) error {
	t, ok := f.tensors[name]
	if !ok {
		return fmt.Errorf("safetensors %s: no tensor named %q", f.path, name)
	}
	if f.closed {
		return fmt.Errorf("safetensors %s: tensor %q: file is closed", f.path, name)
	}
	if n := t.NumElements(); int64(len(dst)) != n {
		return fmt.Errorf("safetensors %s: tensor %q: shape %v has %d elements, destination has %d", f.path, name, t.Shape, n, len(dst))
	}
	if err := DecodeFloat32(t.DType, f.Raw(name), dst); err != nil {
		return fmt.Errorf("safetensors %s: tensor %q: %w", f.path, name, err)
	}
	return nil
}

// Metadata is a copy of the header's __metadata__ map (nil when the file has none).
func (f *File) Metadata() map[string]string {
	if f.meta == nil {
		return nil
	}
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// Mapped reports whether the data is memory-mapped (false after the read fallback).
func (f *File) Mapped() bool { return f.mapped }

// Close releases the mapping. Raw views obtained before become invalid. Closing twice is a no-op.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	buf := f.buf
	f.buf = nil
	if f.mapped {
		if err := munmap(buf); err != nil {
			return fmt.Errorf("safetensors %s: munmap: %w", f.path, err)
		}
	}
	return nil
}
