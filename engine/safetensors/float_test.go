package safetensors

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

func TestFloat32FromF16Table(t *testing.T) {
	tests := []struct {
		h    uint16
		want uint32 // float32 bits
	}{
		{0x0000, 0x00000000},           // +0
		{0x8000, 0x80000000},           // -0
		{0x3C00, math.Float32bits(1)},  // 1
		{0xC000, math.Float32bits(-2)}, // -2
		{0x3555, math.Float32bits(0.33325195)},
		{0x7BFF, math.Float32bits(65504)},   // largest finite
		{0x0400, math.Float32bits(0x1p-14)}, // smallest normal
		{0x0001, math.Float32bits(0x1p-24)}, // smallest subnormal
		{0x8001, math.Float32bits(-0x1p-24)},
		{0x03FF, math.Float32bits(1023 * 0x1p-24)}, // largest subnormal
		{0x0200, math.Float32bits(0x1p-15)},
		{0x7C00, 0x7F800000}, // +inf
		{0xFC00, 0xFF800000}, // -inf
		{0x7E00, 0x7FC00000}, // quiet NaN
		{0xFE00, 0xFFC00000}, // negative quiet NaN
		{0x7C01, 0x7FC02000}, // signalling NaN: payload kept, quieted
		{0x7DFF, 0x7FFFE000},
	}
	for _, tt := range tests {
		if got := math.Float32bits(Float32FromF16(tt.h)); got != tt.want {
			t.Errorf("Float32FromF16(%#04x) = %#08x, want %#08x", tt.h, got, tt.want)
		}
	}
}

// Every finite half, checked against its value computed from the IEEE definition in float64,
// and round-tripped.
func TestF16ExhaustiveWidening(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		exp := int(h>>10) & 0x1F
		man := float64(h & 0x3FF)
		f := Float32FromF16(h)
		if exp == 0x1F {
			if (h&0x3FF == 0) != math.IsInf(float64(f), 0) || (h&0x3FF != 0) != (f != f) {
				t.Fatalf("%#04x: got %v", h, f)
			}
			continue
		}
		var want float64
		if exp == 0 {
			want = math.Ldexp(man, -24)
		} else {
			want = math.Ldexp(1024+man, exp-25)
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) {
			t.Fatalf("Float32FromF16(%#04x) = %v, want %v", h, f, want)
		}
		if back := F16FromFloat32(f); back != h {
			t.Fatalf("F16FromFloat32(Float32FromF16(%#04x)) = %#04x", h, back)
		}
	}
}

func TestF16FromFloat32Table(t *testing.T) {
	tests := []struct {
		name string
		f    float32
		want uint16
	}{
		{"one", 1, 0x3C00},
		{"tie 1+2^-11 to even", 1 + 0x1p-11, 0x3C00},
		{"tie 1+3*2^-11 to even", 1 + 3*0x1p-11, 0x3C02},
		{"above tie", math.Nextafter32(1+0x1p-11, 2), 0x3C01},
		{"65504", 65504, 0x7BFF},
		{"just below 65520", math.Nextafter32(65520, 0), 0x7BFF},
		{"65520 ties to inf", 65520, 0x7C00},
		{"1e6 overflows", 1e6, 0x7C00},
		{"-1e6 overflows", -1e6, 0xFC00},
		{"max float32", math.MaxFloat32, 0x7C00},
		{"smallest subnormal", 0x1p-24, 0x0001},
		{"half of smallest subnormal ties to zero", 0x1p-25, 0x0000},
		{"above half of smallest subnormal", math.Nextafter32(0x1p-25, 1), 0x0001},
		{"1.5*2^-24 ties to even 2", 1.5 * 0x1p-24, 0x0002},
		{"2.5*2^-24 ties to even 2", 2.5 * 0x1p-24, 0x0002},
		{"-2^-25", -0x1p-25, 0x8000},
		{"largest subnormal rounds up to normal", 1023.5 * 0x1p-24, 0x0400},
		{"float32 subnormal", math.Float32frombits(1), 0x0000},
		{"-0", float32(math.Copysign(0, -1)), 0x8000},
		{"+inf", float32(math.Inf(1)), 0x7C00},
		{"-inf", float32(math.Inf(-1)), 0xFC00},
		{"NaN", math.Float32frombits(0x7FC00001), 0x7E00},
		{"-NaN keeps sign", math.Float32frombits(0xFFC00000), 0xFE00},
		{"signalling NaN", math.Float32frombits(0x7F800001), 0x7E00},
	}
	for _, tt := range tests {
		if got := F16FromFloat32(tt.f); got != tt.want {
			t.Errorf("%s: F16FromFloat32(%g) = %#04x, want %#04x", tt.name, tt.f, got, tt.want)
		}
	}
}

func TestBF16Table(t *testing.T) {
	wide := []struct {
		h    uint16
		want uint32
	}{
		{0x3F80, 0x3F800000}, {0xC000, 0xC0000000}, {0x0001, 0x00010000}, // bf16 subnormal
		{0x7F80, 0x7F800000}, {0xFF80, 0xFF800000}, {0x7FC0, 0x7FC00000},
		{0x7F81, 0x7F810000}, // signalling NaN kept bit for bit: widening is a shift
	}
	for _, tt := range wide {
		if got := math.Float32bits(Float32FromBF16(tt.h)); got != tt.want {
			t.Errorf("Float32FromBF16(%#04x) = %#08x, want %#08x", tt.h, got, tt.want)
		}
	}
	narrow := []struct {
		name string
		bits uint32
		want uint16
	}{
		{"one", 0x3F800000, 0x3F80},
		{"tie to even down", 0x3F808000, 0x3F80},
		{"tie to even up", 0x3F818000, 0x3F82},
		{"above tie", 0x3F808001, 0x3F81},
		{"below tie", 0x3F807FFF, 0x3F80},
		{"max float32 rounds to inf", 0x7F7FFFFF, 0x7F80},
		{"largest bf16 stays", 0x7F7F0000, 0x7F7F},
		{"tie at the top rounds to inf", 0x7F7F8000, 0x7F80},
		{"negative tie", 0xBF808000, 0xBF80},
		{"float32 subnormal", 0x00008000, 0x0000},
		{"float32 subnormal up", 0x00018000, 0x0002},
		{"-0", 0x80000000, 0x8000},
		{"inf", 0x7F800000, 0x7F80},
		{"-inf", 0xFF800000, 0xFF80},
		{"NaN", 0x7FC00000, 0x7FC0},
		{"-NaN becomes canonical +NaN", 0xFFC00000, 0x7FC0},
		{"signalling NaN", 0x7F800001, 0x7FC0},
		{"NaN with low payload only", 0x7F80FFFF, 0x7FC0},
	}
	for _, tt := range narrow {
		if got := BF16FromFloat32(math.Float32frombits(tt.bits)); got != tt.want {
			t.Errorf("%s: BF16FromFloat32(%#08x) = %#04x, want %#04x", tt.name, tt.bits, got, tt.want)
		}
	}
}

// For every pair of adjacent non-negative finite values of a 16-bit format, the exact midpoint
// must round to the even one and its float32 neighbours to the nearer one: this pins
// round-to-nearest-even everywhere, independently of how the conversion is written.
func TestRoundToNearestEvenEverywhere(t *testing.T) {
	formats := []struct {
		name   string
		widen  func(uint16) float32
		narrow func(float32) uint16
		inf    uint16
		top    float64 // the value one step above the largest finite, were it finite
	}{
		{"f16", Float32FromF16, F16FromFloat32, 0x7C00, 65536},
		{"bf16", Float32FromBF16, BF16FromFloat32, 0x7F80, 0x1p128},
	}
	for _, fm := range formats {
		for h := uint16(0); h < fm.inf; h++ {
			a := float64(fm.widen(h))
			b := fm.top
			if h+1 < fm.inf {
				b = float64(fm.widen(h + 1))
			}
			mid := float32((a + b) / 2) // exact: one more bit than the 16-bit format has
			if float64(mid) != (a+b)/2 {
				t.Fatalf("%s: midpoint of %#04x not exact", fm.name, h)
			}
			even := h
			if h&1 == 1 {
				even = h + 1
			}
			for _, sign := range []float32{1, -1} {
				s := uint16(0)
				if sign < 0 {
					s = 0x8000
				}
				if got := fm.narrow(sign * mid); got != even|s {
					t.Fatalf("%s: midpoint %g of %#04x,%#04x -> %#04x, want %#04x", fm.name, sign*mid, h, h+1, got, even|s)
				}
				if got := fm.narrow(sign * math.Nextafter32(mid, 0)); got != h|s {
					t.Fatalf("%s: just below midpoint of %#04x -> %#04x", fm.name, h, got)
				}
				if got := fm.narrow(sign * math.Nextafter32(mid, float32(math.Inf(1)))); got != (h+1)|s {
					t.Fatalf("%s: just above midpoint of %#04x -> %#04x", fm.name, h, got)
				}
			}
		}
	}
}

func TestDecodeEncodeFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]float32, 257)
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-6)))
	}
	vals[0], vals[1] = float32(math.Inf(1)), 0
	for _, d := range []DType{F32, F16, BF16, F64} {
		raw, err := EncodeFloat32(d, vals)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != len(vals)*d.Bits()/8 {
			t.Fatalf("%s: %d bytes", d, len(raw))
		}
		got := make([]float32, len(vals))
		if err := DecodeFloat32(d, raw, got); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var want float32
			switch d {
			case F32, F64:
				want = v
			case F16:
				want = Float32FromF16(F16FromFloat32(v))
			case BF16:
				want = Float32FromBF16(BF16FromFloat32(v))
			}
			if math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("%s[%d]: got %v want %v", d, i, got[i], want)
			}
		}
		// The element layout is little-endian whatever the host.
		if d == F32 && binary.LittleEndian.Uint32(raw[4*2:]) != math.Float32bits(vals[2]) {
			t.Fatal("F32 bytes are not little-endian")
		}
	}
	if err := DecodeFloat32(I32, make([]byte, 4), make([]float32, 1)); err == nil {
		t.Fatal("I32 decoded as float")
	}
	if err := DecodeFloat32(F32, make([]byte, 8), make([]float32, 3)); err == nil {
		t.Fatal("length mismatch accepted")
	}
	if _, err := EncodeFloat32(I8, vals); err == nil {
		t.Fatal("I8 encoded from float")
	}
	// F64 narrowing rounds to nearest like a C cast.
	raw := binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1))
	got := make([]float32, 1)
	if err := DecodeFloat32(F64, raw, got); err != nil || got[0] != float32(0.1) {
		t.Fatalf("F64 0.1 -> %v, %v", got[0], err)
	}
}

// The bulk loops have inline fast paths; they must agree with the scalar conversions on every
// half bit pattern and on float32 inputs from every binade.
func TestBulkMatchesScalar(t *testing.T) {
	raw := make([]byte, 2<<16)
	for i := 0; i < 1<<16; i++ {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(i))
	}
	for _, d := range []DType{F16, BF16} {
		got := make([]float32, 1<<16)
		if err := DecodeFloat32(d, raw, got); err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			want := Float32FromF16(uint16(i))
			if d == BF16 {
				want = Float32FromBF16(uint16(i))
			}
			if math.Float32bits(g) != math.Float32bits(want) {
				t.Fatalf("%s decode %#04x: %#08x, want %#08x", d, i, math.Float32bits(g), math.Float32bits(want))
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	vals := make([]float32, 0, 1<<20)
	for range 1 << 20 {
		vals = append(vals, math.Float32frombits(rng.Uint32()))
	}
	// Exact ties and their neighbours around the normal/subnormal and overflow boundaries.
	for _, b := range []uint32{0x38800000, 0x387FF000, 0x33000000, 0x477FE000, 0x477FF000, 0x477FEFFF} {
		for d := uint32(0); d < 0x4000; d++ {
			vals = append(vals, math.Float32frombits(b-0x2000+d), math.Float32frombits((b-0x2000+d)|0x80000000))
		}
	}
	for _, d := range []DType{F16, BF16} {
		raw, err := EncodeFloat32(d, vals)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			want := F16FromFloat32(v)
			if d == BF16 {
				want = BF16FromFloat32(v)
			}
			if got := binary.LittleEndian.Uint16(raw[2*i:]); got != want {
				t.Fatalf("%s encode %#08x: %#04x, want %#04x", d, math.Float32bits(v), got, want)
			}
		}
	}
}
