package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// Float32FromBF16 widens a bfloat16 bit pattern: bfloat16 is the top half of a float32, so this
// is exact and keeps NaN payloads, as PyTorch does.
func Float32FromBF16(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// BF16FromFloat32 rounds to the nearest bfloat16, ties to even, as PyTorch's
// c10::BFloat16(float) does on CPU: every NaN becomes the canonical positive quiet NaN 0x7FC0, and
// values past the largest finite bfloat16 round to infinity.
func BF16FromFloat32(f float32) uint16 {
	if f != f {
		return 0x7FC0
	}
	u := math.Float32bits(f)
	// Adding 0x7FFF plus the lowest kept bit rounds half-way cases towards the even neighbour;
	// a carry into the exponent is exactly the round-up to the next binade or to infinity.
	return uint16((u + 0x7FFF + (u>>16)&1) >> 16)
}

// Float32FromF16 widens an IEEE half bit pattern exactly: subnormals become normal float32
// values, infinities stay infinities, and NaNs keep their payload with the quiet bit set (PyTorch
// widens through a float multiply or vcvtph2ps, both of which quiet a signalling NaN).
func Float32FromF16(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1F
	man := uint32(h) & 0x3FF
	switch {
	case exp == 0x1F:
		if man == 0 {
			return math.Float32frombits(sign | 0x7F800000)
		}
		return math.Float32frombits(sign | 0x7FC00000 | man<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: value = man * 2^-24, exactly representable as a normal float32.
	f := float32(man) * (1.0 / (1 << 24))
	return math.Float32frombits(sign | math.Float32bits(f))
}

// F16FromFloat32 rounds to the nearest IEEE half, ties to even, with gradual underflow to
// subnormals and overflow to infinity, as PyTorch's c10::Half(float) does; a NaN becomes 0x7E00
// with the input's sign (PyTorch's canonical half NaN).
func F16FromFloat32(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	abs := u & 0x7FFFFFFF
	switch {
	case abs > 0x7F800000:
		return sign | 0x7E00
	case abs == 0x7F800000:
		return sign | 0x7C00
	case abs >= 0x477FF000:
		// 65520 and above round past the largest half, 65504.
		return sign | 0x7C00
	}
	if abs >= 0x38800000 {
		return sign | f16Normal(abs)
	}
	exp := int32(abs>>23) - 127
	if exp < -25 {
		// Below half the smallest subnormal (2^-25): rounds to zero.
		return sign
	}
	// Subnormal half: the full significand (with the implicit bit) shifted so that one unit is
	// 2^-24, with round-half-even on the shifted-out bits.
	mant := abs&0x7FFFFF | 0x800000
	shift := uint32(-exp - 14 + 13) // 14..24
	v := mant >> shift
	rem := mant & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && v&1 == 1) {
		v++
	}
	return sign | uint16(v)
}

// f16Normal narrows |x| in [2^-14, 65520) (float32 bits abs) to a normal half: rebias the
// exponent by 127-15 and drop 13 mantissa bits, adding 0xFFF plus the lowest kept bit first so
// that the truncation rounds half to even. A carry out of the mantissa bumps the exponent, which
// is the correct next value.
func f16Normal(abs uint32) uint16 {
	return uint16((abs - 0x38000000 + 0xFFF + (abs>>13)&1) >> 13)
}

// hostLittleEndian tells whether raw float32 data can be copied byte-for-byte.
func hostLittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// DecodeFloat32 converts raw little-endian tensor bytes of a float dtype (F32, F16, BF16, F64)
// into dst, whose length must be the element count.
func DecodeFloat32(d DType, raw []byte, dst []float32) error {
	b, _, ok := dtypeProps(d)
	if !ok || !d.IsFloat() {
		return fmt.Errorf("cannot convert dtype %s to float32 (F32, F16, BF16 and F64 can be)", d)
	}
	if len(raw)*8 != len(dst)*b {
		return fmt.Errorf("%d bytes of %s hold %d elements, destination has %d", len(raw), d, len(raw)*8/b, len(dst))
	}
	switch d {
	case F32:
		if hostLittleEndian() && len(dst) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), len(raw)), raw)
			return nil
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = Float32FromBF16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case F16:
		raw = raw[:2*len(dst)]
		for i := range dst {
			h := uint32(raw[2*i]) | uint32(raw[2*i+1])<<8
			// Normal halves (the common case) inline: rebias the exponent by 127-15.
			if e := h & 0x7C00; e != 0 && e != 0x7C00 {
				dst[i] = math.Float32frombits((h&0x8000)<<16 | ((h&0x7FFF)+0x1C000)<<13)
				continue
			}
			dst[i] = Float32FromF16(uint16(h))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	}
	return nil
}

// EncodeFloat32 converts values to the little-endian bytes of dtype d (F32, F16, BF16 or F64),
// rounding to nearest-even for the half types as PyTorch does.
func EncodeFloat32(d DType, v []float32) ([]byte, error) {
	b := d.Bits()
	if !d.IsFloat() {
		return nil, fmt.Errorf("cannot encode float32 values as dtype %q (F32, F16, BF16 and F64 can be)", string(d))
	}
	out := make([]byte, len(v)*b/8)
	encodeFloat32Into(d, v, out)
	return out, nil
}

func encodeFloat32Into(d DType, v []float32, out []byte) {
	switch d {
	case F32:
		if hostLittleEndian() && len(v) > 0 {
			copy(out, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)))
			return
		}
		for i, x := range v {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
		}
	case BF16:
		for i, x := range v {
			binary.LittleEndian.PutUint16(out[2*i:], BF16FromFloat32(x))
		}
	case F16:
		out = out[:2*len(v)]
		for i, x := range v {
			u := math.Float32bits(x)
			var h uint16
			if abs := u & 0x7FFFFFFF; abs-0x38800000 < 0x477FF000-0x38800000 {
				h = uint16(u>>16)&0x8000 | f16Normal(abs)
			} else {
				h = F16FromFloat32(x)
			}
			out[2*i], out[2*i+1] = byte(h), byte(h>>8)
		}
	case F64:
		for i, x := range v {
			binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(float64(x)))
		}
	}
}

// WriteFloat32 streams values to w as dtype d, converting in bounded chunks so that a large
// tensor is never duplicated in memory. Meant for WriteStream callbacks.
func WriteFloat32(w io.Writer, d DType, v []float32) error {
	if !d.IsFloat() {
		return fmt.Errorf("cannot encode float32 values as dtype %q (F32, F16, BF16 and F64 can be)", string(d))
	}
	if d == F32 && hostLittleEndian() {
		if len(v) == 0 {
			return nil
		}
		_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)))
		return err
	}
	const chunk = 1 << 14
	width := d.Bits() / 8
	buf := make([]byte, chunk*width)
	for len(v) > 0 {
		n := min(chunk, len(v))
		encodeFloat32Into(d, v[:n], buf)
		if _, err := w.Write(buf[:n*width]); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}
