package safetensors

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/armap/armap/engine/atomicfile"
)

// Spec names a tensor to write and its layout; the bytes come separately (Tensor.Data, or a
// WriteStream callback).
type Spec struct {
	Name  string
	DType DType
	Shape []int
}

// Tensor is a tensor to write with its little-endian, row-major bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Spec drops the data.
func (t Tensor) Spec() Spec { return Spec{Name: t.Name, DType: t.DType, Shape: t.Shape} }

// FromFloat32 builds a tensor of dtype d (F32, F16, BF16 or F64) from values, rounding to nearest
// even for the half types exactly as PyTorch's .to(dtype) does on CPU.
func FromFloat32(name string, d DType, shape []int, values []float32) (Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	if n != int64(len(values)) {
		return Tensor{}, fmt.Errorf("tensor %q: shape %v has %d elements, got %d values", name, shape, n, len(values))
	}
	data, err := EncodeFloat32(d, values)
	if err != nil {
		return Tensor{}, fmt.Errorf("tensor %q: %w", name, err)
	}
	return Tensor{Name: name, DType: d, Shape: slices.Clone(shape), Data: data}, nil
}

// plan is the header and data layout of one file.
type plan struct {
	header []byte // including the 8-byte length and the space padding
	order  []Spec // file order
	sizes  []int64
	total  int64 // data bytes
}

// fileOrder sorts as the reference writer does: descending dtype alignment rank, then name, so
// that tensors of wider types come first and stay aligned.
func fileOrder(specs []Spec) []Spec {
	out := slices.Clone(specs)
	slices.SortStableFunc(out, func(a, b Spec) int {
		_, ra, _ := dtypeProps(a.DType)
		_, rb, _ := dtypeProps(b.DType)
		if ra != rb {
			return rb - ra
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

func makePlan(specs []Spec, metadata map[string]string) (*plan, error) {
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		switch {
		case !utf8.ValidString(s.Name):
			return nil, fmt.Errorf("tensor name %q is not valid UTF-8", s.Name)
		case s.Name == metadataKey:
			return nil, fmt.Errorf("tensor name %q is reserved for metadata", s.Name)
		case seen[s.Name]:
			return nil, fmt.Errorf("tensor %q given twice", s.Name)
		case !s.DType.Valid():
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", s.Name, string(s.DType))
		}
		seen[s.Name] = true
	}
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("metadata %q: %q is not valid UTF-8", k, v)
		}
	}
	p := &plan{order: fileOrder(specs)}
	var h []byte
	h = append(h, '{')
	if metadata != nil {
		h = appendJSONString(h, metadataKey)
		h = append(h, ":{"...)
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		// The reference writer uses a hash map here, so its order is arbitrary; sorting keeps
		// ours reproducible.
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendJSONString(h, k)
			h = append(h, ':')
			h = appendJSONString(h, metadata[k])
		}
		h = append(h, '}')
	}
	for i, s := range p.order {
		size, err := ByteSize(s.DType, s.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", s.Name, err)
		}
		if i > 0 || metadata != nil {
			h = append(h, ',')
		}
		h = appendJSONString(h, s.Name)
		h = append(h, `:{"dtype":`...)
		h = appendJSONString(h, string(s.DType))
		h = append(h, `,"shape":[`...)
		for j, d := range s.Shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendInt(h, p.total, 10)
		h = append(h, ',')
		p.total += size
		h = strconv.AppendInt(h, p.total, 10)
		h = append(h, "]}"...)
		p.sizes = append(p.sizes, size)
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	if len(h) > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the %d-byte limit readers accept", len(h), MaxHeaderSize)
	}
	p.header = binary.LittleEndian.AppendUint64(make([]byte, 0, 8+len(h)), uint64(len(h)))
	p.header = append(p.header, h...)
	return p, nil
}

// appendJSONString escapes like serde_json (the reference writer): quote, backslash and control
// characters only, \u00xx in lower-case hex for controls without a short form, UTF-8 kept as is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// Write writes tensors to path atomically (temporary file, fsync, rename). Tensors are laid out
// as the reference implementation lays them out, by descending dtype width then name, so the
// file is byte-identical to safetensors.torch.save_file's for the same input (metadata keys are
// sorted). A nil metadata map writes no __metadata__ entry; transformers writes {"format": "pt"}.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	specs := make([]Spec, len(tensors))
	data := make(map[string][]byte, len(tensors))
	for i, t := range tensors {
		specs[i] = t.Spec()
		size, err := ByteSize(t.DType, t.Shape)
		if err != nil {
			return fmt.Errorf("safetensors write %s: tensor %q: %w", path, t.Name, err)
		}
		if int64(len(t.Data)) != size {
			return fmt.Errorf("safetensors write %s: tensor %q: %s shape %v needs %d bytes, data has %d", path, t.Name, t.DType, t.Shape, size, len(t.Data))
		}
		data[t.Name] = t.Data
	}
	return WriteStream(context.Background(), path, specs, metadata, func(s Spec, w io.Writer) error {
		_, err := w.Write(data[s.Name])
		return err
	})
}

// WriteStream writes a file whose tensor bytes come from fill, called once per tensor in file
// order (see Write) with a writer that accepts exactly that tensor's byte size; writing more, or
// returning having written less, is an error. Only one tensor's bytes need to exist at a time,
// so a model larger than memory can be saved from device buffers. The write is atomic: on any
// error, or when ctx is cancelled between tensors, the target is left untouched.
func WriteStream(ctx context.Context, path string, specs []Spec, metadata map[string]string, fill func(s Spec, w io.Writer) error) error {
	p, err := makePlan(specs, metadata)
	if err != nil {
		return fmt.Errorf("safetensors write %s: %w", path, err)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return p.emit(ctx, path, w, fill)
	})
}

func (p *plan) emit(ctx context.Context, path string, w io.Writer, fill func(Spec, io.Writer) error) error {
	if _, err := w.Write(p.header); err != nil {
		return fmt.Errorf("safetensors write %s: %w", path, err)
	}
	for i, s := range p.order {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("safetensors write %s: %w", path, err)
		}
		ew := &exactWriter{w: w, left: p.sizes[i]}
		if err := fill(s, ew); err != nil {
			return fmt.Errorf("safetensors write %s: tensor %q: %w", path, s.Name, err)
		}
		if ew.left != 0 {
			return fmt.Errorf("safetensors write %s: tensor %q: wrote %d of its %d bytes", path, s.Name, p.sizes[i]-ew.left, p.sizes[i])
		}
	}
	return nil
}

// exactWriter refuses bytes beyond the tensor's size, so a buggy callback cannot shift every
// following tensor.
type exactWriter struct {
	w    io.Writer
	left int64
}

func (e *exactWriter) Write(b []byte) (int, error) {
	if int64(len(b)) > e.left {
		return 0, fmt.Errorf("write of %d bytes exceeds the %d bytes left for the tensor", len(b), e.left)
	}
	n, err := e.w.Write(b)
	e.left -= int64(n)
	return n, err
}
