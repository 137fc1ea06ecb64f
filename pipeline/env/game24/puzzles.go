package game24

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// data/24.csv is the Game of 24 puzzle list of 4nums.com, ranked by the median time people took
// to solve each puzzle, in the copy that Tree of Thoughts (Yao et al., 2023,
// github.com/princeton-nlp/tree-of-thought-llm, src/tot/data/24/24.csv) evaluates on.
//
//go:embed data/24.csv
var puzzleCSV []byte

// Puzzle is one ranked puzzle; task number i is the puzzle of rank i+1.
type Puzzle struct {
	Rank    int
	Numbers [4]int
}

// Test split: ranks 901-1000, the split Tree of Thoughts and ARMAP report on.
const (
	testFirst = 900
	testEnd   = 1000
)

// puzzles parses the embedded list once; the result is never modified.
var puzzles = sync.OnceValues(func() ([]Puzzle, error) { return parsePuzzles(bytes.NewReader(puzzleCSV), "data/24.csv") })

// Puzzles returns the 1362 puzzles in rank order. The caller must not modify the slice.
func Puzzles() ([]Puzzle, error) { return puzzles() }

func parsePuzzles(r io.Reader, name string) ([]Puzzle, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	if len(header) < 2 || header[0] != "Rank" || header[1] != "Puzzles" {
		return nil, fmt.Errorf("%s:1: header %q: want Rank and Puzzles as the first two columns", name, header)
	}
	var out []Puzzle
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < 2 {
			return nil, fmt.Errorf("%s:%d: %d fields, want at least 2", name, line, len(rec))
		}
		rank, err := strconv.Atoi(rec[0])
		if err != nil || rank != len(out)+1 {
			return nil, fmt.Errorf("%s:%d: field Rank: %q, want %d", name, line, rec[0], len(out)+1)
		}
		f := strings.Fields(rec[1])
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: field Puzzles: %q is not four numbers", name, line, rec[1])
		}
		p := Puzzle{Rank: rank}
		for i, s := range f {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 13 {
				return nil, fmt.Errorf("%s:%d: field Puzzles: %q is not a number from 1 to 13", name, line, s)
			}
			p.Numbers[i] = n
		}
		out = append(out, p)
	}
	return out, nil
}

// SplitTasks maps "test" to tasks 900-999 (ranks 901-1000), "train" to the other 1262 and "all"
// to every task.
func SplitTasks(name string) ([]int, error) {
	ps, err := puzzles()
	if err != nil {
		return nil, err
	}
	var out []int
	for i := range ps {
		inTest := i >= testFirst && i < testEnd
		switch name {
		case "test":
			if inTest {
				out = append(out, i)
			}
		case "train":
			if !inTest {
				out = append(out, i)
			}
		case "all":
			out = append(out, i)
		default:
			return nil, fmt.Errorf("game24: unknown split %q (have train, test, all)", name)
		}
	}
	return out, nil
}
