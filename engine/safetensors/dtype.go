// Package safetensors reads and writes the HuggingFace safetensors format in pure Go.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON (padded with spaces),
// then the data section. The JSON maps each tensor name to {"dtype", "shape", "data_offsets"},
// offsets being [begin, end) byte positions relative to the start of the data section, plus an
// optional "__metadata__" object of string values. Tensors are row-major, little-endian, and
// together cover the data section exactly, without gaps or overlaps.
//
// Reading memory-maps the file and validates the whole header before any tensor is handed out;
// tensor bytes are zero-copy views of the mapping, valid until Close. Writing matches the Rust
// reference implementation byte for byte (tensor order, JSON layout, space padding), goes through
// engine/atomicfile, and can stream tensor bytes so a multi-gigabyte model never sits in memory
// twice.
package safetensors

import (
	"fmt"
	"math"
	"math/bits"
)

// DType is a safetensors element type, spelled as in the header ("F32", "BF16", ...).
type DType string

// The element types of the format, in the reference implementation's order (increasing
// alignment), which is also the order the writer sorts by.
const (
	BOOL   DType = "BOOL"
	F4     DType = "F4"
	F6E2M3 DType = "F6_E2M3"
	F6E3M2 DType = "F6_E3M2"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	F8E8M0 DType = "F8_E8M0"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	C64    DType = "C64"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
)

// dtypeProps: bit width and rank in the reference enum. The writer sorts tensors by descending
// rank, then name, as the Rust library does, so a file written here is byte-identical to one
// written by safetensors.torch.save_file for the same tensors and metadata.
func dtypeProps(d DType) (bitsPer, rank int, ok bool) {
	switch d {
	case BOOL:
		return 8, 0, true
	case F4:
		return 4, 1, true
	case F6E2M3:
		return 6, 2, true
	case F6E3M2:
		return 6, 3, true
	case U8:
		return 8, 4, true
	case I8:
		return 8, 5, true
	case F8E5M2:
		return 8, 6, true
	case F8E4M3:
		return 8, 7, true
	case F8E8M0:
		return 8, 8, true
	case I16:
		return 16, 9, true
	case U16:
		return 16, 10, true
	case F16:
		return 16, 11, true
	case BF16:
		return 16, 12, true
	case I32:
		return 32, 13, true
	case U32:
		return 32, 14, true
	case F32:
		return 32, 15, true
	case C64:
		return 64, 16, true
	case F64:
		return 64, 17, true
	case I64:
		return 64, 18, true
	case U64:
		return 64, 19, true
	}
	return 0, 0, false
}

// Valid reports whether d is a dtype of the format.
func (d DType) Valid() bool {
	_, _, ok := dtypeProps(d)
	return ok
}

// Bits is the width of one element in bits (4 and 6 for the packed micro-float types), 0 when d
// is unknown.
func (d DType) Bits() int {
	b, _, _ := dtypeProps(d)
	return b
}

// IsFloat reports whether Float32 can convert tensors of this dtype.
func (d DType) IsFloat() bool {
	switch d {
	case F16, BF16, F32, F64:
		return true
	}
	return false
}

// DTypes lists every dtype in the reference enum order.
func DTypes() []DType {
	return []DType{BOOL, F4, F6E2M3, F6E3M2, U8, I8, F8E5M2, F8E4M3, F8E8M0, I16, U16, F16, BF16,
		I32, U32, F32, C64, F64, I64, U64}
}

// NumElements is the product of shape (1 for a scalar), or an error on a negative dimension or
// overflow of int64.
func NumElements(shape []int) (int64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v has more than 2^63 elements", shape)
		}
		n = lo
	}
	return int64(n), nil
}

// ByteSize is the number of data bytes a tensor of this dtype and shape occupies. Packed
// sub-byte types must fill whole bytes, as the reference implementation requires.
func ByteSize(d DType, shape []int) (int64, error) {
	b, _, ok := dtypeProps(d)
	if !ok {
		return 0, fmt.Errorf("unknown dtype %q", string(d))
	}
	n, err := NumElements(shape)
	if err != nil {
		return 0, err
	}
	hi, lo := bits.Mul64(uint64(n), uint64(b))
	if hi != 0 || lo/8 > math.MaxInt64 {
		return 0, fmt.Errorf("shape %v of %s overflows the byte count", shape, d)
	}
	if lo%8 != 0 {
		return 0, fmt.Errorf("%d elements of %d-bit %s do not fill whole bytes", n, b, d)
	}
	return int64(lo / 8), nil
}
