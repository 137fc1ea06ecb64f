//go:build !unix

package safetensors

import (
	"errors"
	"os"
)

// Without a unix mmap, Open falls back to reading the file into memory.
func mmapFile(*os.File, int) ([]byte, error) { return nil, errors.New("mmap not supported") }

func munmap([]byte) error { return nil }
