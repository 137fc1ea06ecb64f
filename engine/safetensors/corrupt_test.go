package safetensors

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawFile assembles a file from a header string and a data length, without the writer's checks.
func rawFile(header string, dataLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

func validFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ok.safetensors")
	a, _ := FromFloat32("a", F32, []int{2, 2}, []float32{1, 2, 3, 4})
	b, _ := FromFloat32("b", BF16, []int{3}, []float32{1, 2, 3})
	if err := Write(path, []Tensor{a, b}, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestCorruptFiles(t *testing.T) {
	valid := validFile(t)
	withLength := func(n uint64) []byte {
		b := append([]byte(nil), valid...)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	tests := []struct {
		name   string
		data   []byte
		tensor string // the tensor the error must name, if any
		want   string
	}{
		{"empty file", nil, "", "too short"},
		{"shorter than length field", []byte{1, 0, 0}, "", "too short"},
		{"truncated in the data", valid[:len(valid)-3], "b", "run past the end of the data section"},
		{"truncated in the header", valid[:20], "", "runs past the end of the file"},
		{"header length too big", withLength(uint64(len(valid))), "", "runs past the end of the file"},
		{"header length over the limit", withLength(1 << 40), "", "exceeds the 100000000-byte limit"},
		{"header length wraps", withLength(^uint64(0)), "", "exceeds"},
		{"bad JSON", rawFile(`{"a":{"dtype":"F32",`, 0), "a", "invalid JSON"},
		{"bad JSON token", rawFile(`{"a":{"dtype":F32}}`, 0), "a", "invalid JSON"},
		{"bad JSON key", rawFile(`{"__metadata__":{}, 3}`, 0), "", "invalid JSON"},
		{"not an object", rawFile(`[1,2]   `, 0), "", "not a JSON object"},
		{"not UTF-8", rawFile("{\"\xff\":{}}", 0), "", "UTF-8"},
		{"trailing garbage", rawFile(`{} x`, 0), "", "invalid JSON"},
		{"second object", rawFile(`{}{}`, 0), "", "after the header object"},
		{"NUL padding", rawFile("{}\x00\x00", 0), "", "invalid JSON"},
		{"unknown dtype", rawFile(`{"w":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}}`, 2), "w", `unknown dtype "F8"`},
		{"dtype not a string", rawFile(`{"w":{"dtype":3,"shape":[2],"data_offsets":[0,2]}}`, 2), "w", "dtype must be a string"},
		{"lower-case field name", rawFile(`{"w":{"DTYPE":"U8","shape":[2],"data_offsets":[0,2]}}`, 2), "w", `missing field "dtype"`},
		{"missing offsets", rawFile(`{"w":{"dtype":"U8","shape":[2]}}`, 2), "w", `missing field "data_offsets"`},
		{"entry not an object", rawFile(`{"w":[1]}`, 0), "w", "must be an object"},
		{"three offsets", rawFile(`{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,1,2]}}`, 2), "w", "data_offsets must be [begin, end]"},
		{"negative offset", rawFile(`{"w":{"dtype":"U8","shape":[2],"data_offsets":[-1,1]}}`, 2), "w", "data_offsets must be"},
		{"negative dimension", rawFile(`{"w":{"dtype":"U8","shape":[-2],"data_offsets":[0,2]}}`, 2), "w", "non-negative integers"},
		{"fractional dimension", rawFile(`{"w":{"dtype":"U8","shape":[2.5],"data_offsets":[0,2]}}`, 2), "w", "non-negative integers"},
		{"shape overflow", rawFile(`{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,2]}}`, 2), "w", "2^63"},
		{"shape and offsets disagree", rawFile(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "w", "F32 shape [3] needs 12 bytes but data_offsets [0, 8] span 8"},
		{"offsets reversed", rawFile(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}`, 8), "w", "end before they begin"},
		{"overlapping", rawFile(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}`, 12), "b", `overlap tensor "a", which ends at 8`},
		{"same range twice", rawFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, 4), "b", "overlap"},
		{"gap in coverage", rawFile(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[12,20]}}`, 20), "b", "bytes [8, 12) of the data section belong to no tensor"},
		{"gap at the start", rawFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, 8), "a", "belong to no tensor"},
		{"trailing data", rawFile(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, 12), "", "4 trailing bytes belong to no tensor"},
		{"data but no tensors", rawFile(`{}`, 4), "", "trailing bytes"},
		{"duplicate tensor", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), "a", "appears twice"},
		{"metadata not strings", rawFile(`{"__metadata__":{"n":1}}`, 0), "", "__metadata__ must be an object of string values"},
		{"metadata twice", rawFile(`{"__metadata__":{},"__metadata__":{}}`, 0), "", "__metadata__ appears twice"},
		{"packed type not filling bytes", rawFile(`{"q":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}`, 1), "q", "do not fill whole bytes"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, mmap := range []bool{true, false} {
				f, err := open(path, mmap)
				if err == nil {
					f.Close()
					t.Fatalf("opened a corrupt file (mmap=%v)", mmap)
				}
				msg := err.Error()
				if !strings.Contains(msg, tt.want) || !strings.Contains(msg, path) {
					t.Fatalf("error %q should name %s and contain %q", msg, path, tt.want)
				}
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Tensor != tt.tensor {
					t.Fatalf("error %#v should be a *FormatError about tensor %q", err, tt.tensor)
				}
			}
		})
	}
}

// Edge cases that are valid and must stay so.
func TestUnusualButValid(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		n    int
	}{
		{"empty header", rawFile(`{}`, 0), 0},
		{"null metadata", rawFile(`{"__metadata__":null}`, 0), 0},
		{"unpadded header, tab padding", rawFile("{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}\t\n", 3), 1},
		{"zero-size tensors share an offset", rawFile(`{"a":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"c":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2), 3},
		{"scalar", rawFile(`{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, 8), 1},
		{"out-of-order entries", rawFile(`{"z":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 2), 2},
		{"extra entry fields ignored", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"note":"x"}}`, 1), 1},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "v.safetensors")
		if err := os.WriteFile(path, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if f.Len() != tt.n {
			t.Errorf("%s: %d tensors, want %d", tt.name, f.Len(), tt.n)
		}
		for _, n := range f.Names() {
			if f.Raw(n) == nil {
				t.Errorf("%s: Raw(%q) is nil", tt.name, n)
			}
		}
		f.Close()
	}
}
