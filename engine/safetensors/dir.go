package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// File names of the HuggingFace layout.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Tensors is what File and Set have in common: a model loader can take either.
type Tensors interface {
	Names() []string
	Has(name string) bool
	Info(name string) (TensorInfo, error)
	Raw(name string) []byte
	Float32(name string) ([]float32, error)
	Float32Into(name string, dst []float32) error
	Metadata() map[string]string
	Close() error
}

var (
	_ Tensors = (*File)(nil)
	_ Tensors = (*Set)(nil)
)

// Set presents the tensors of one or more files (the shards of a checkpoint) as one collection.
// Like File, its methods are safe for concurrent use except Close.
type Set struct {
	files []*File          // in shard-name order
	owner map[string]*File // tensor name -> file holding it
	names []string         // sorted
	meta  map[string]string
}

// OpenDir opens the weights of a HuggingFace model directory: model.safetensors when present,
// otherwise the shards listed by model.safetensors.index.json. The single file wins when both
// exist, as in transformers, so a directory loads the same weights here and there.
func OpenDir(dir string) (*Set, error) {
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err == nil {
		f, err := Open(single)
		if err != nil {
			return nil, err
		}
		return setOf([]*File{f}, f.names), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("safetensors: %s holds neither %s nor %s", dir, SingleFileName, IndexFileName)
		}
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return OpenIndex(index)
}

// shardIndex is the JSON of model.safetensors.index.json.
type shardIndex struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenIndex opens a sharded checkpoint from its index file. Shard paths are relative to the
// index's folder and may not leave it. Every shard must exist and be valid, every tensor the
// index assigns to a shard must be in that shard, and every tensor of a shard must be assigned to
// it by the index (a stray tensor means the index and shards disagree about the checkpoint).
func OpenIndex(indexPath string) (set *Set, err error) {
	raw, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var idx shardIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("safetensors index %s: invalid JSON: %v", indexPath, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors index %s: weight_map is missing or empty", indexPath)
	}
	byShard := make(map[string][]string)
	for name, shard := range idx.WeightMap {
		if !filepath.IsLocal(shard) {
			return nil, fmt.Errorf("safetensors index %s: tensor %q: shard %q is not a path inside the index's folder", indexPath, name, shard)
		}
		shard = filepath.Clean(shard)
		idx.WeightMap[name] = shard
		byShard[shard] = append(byShard[shard], name)
	}
	shards := make([]string, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	slices.Sort(shards)

	dir := filepath.Dir(indexPath)
	var files []*File
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	for _, shard := range shards {
		f, err := Open(filepath.Join(dir, shard))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("safetensors index %s: shard %s is missing (it should hold %d tensors, e.g. %q)", indexPath, shard, len(byShard[shard]), minName(byShard[shard]))
			}
			return nil, fmt.Errorf("safetensors index %s: %w", indexPath, err)
		}
		files = append(files, f)
		listed := byShard[shard]
		slices.Sort(listed)
		for _, name := range listed {
			if !f.Has(name) {
				return nil, fmt.Errorf("safetensors index %s: tensor %q is assigned to shard %s, which does not hold it", indexPath, name, shard)
			}
		}
		if f.Len() != len(listed) {
			for _, name := range f.names {
				if idx.WeightMap[name] != shard {
					where := "does not list it"
					if s, ok := idx.WeightMap[name]; ok {
						where = "assigns it to " + s
					}
					return nil, fmt.Errorf("safetensors index %s: shard %s holds tensor %q but the index %s", indexPath, shard, name, where)
				}
			}
		}
	}
	names := make([]string, 0, len(idx.WeightMap))
	for name := range idx.WeightMap {
		names = append(names, name)
	}
	slices.Sort(names)
	return setOf(files, names), nil
}

func minName(names []string) string { return slices.Min(names) }

func setOf(files []*File, names []string) *Set {
	s := &Set{files: files, owner: make(map[string]*File, len(names)), names: names}
	for _, f := range files {
		for _, n := range f.names {
			s.owner[n] = f
		}
		// Shards normally carry the same {"format": "pt"}; the first shard wins on a conflict.
		for k, v := range f.meta {
			if s.meta == nil {
				s.meta = make(map[string]string)
			}
			if _, ok := s.meta[k]; !ok {
				s.meta[k] = v
			}
		}
	}
	return s
}

// Files are the paths of the files behind the set, in shard-name order.
func (s *Set) Files() []string {
	out := make([]string, len(s.files))
	for i, f := range s.files {
		out[i] = f.path
	}
	return out
}

// Len is the number of tensors.
func (s *Set) Len() int { return len(s.names) }

// Names lists all tensor names, sorted.
func (s *Set) Names() []string { return slices.Clone(s.names) }

// Has reports whether the set holds a tensor of that name.
func (s *Set) Has(name string) bool {
	_, ok := s.owner[name]
	return ok
}

func (s *Set) lookup(name string) (*File, error) {
	f, ok := s.owner[name]
	if !ok {
		return nil, fmt.Errorf("safetensors %s: no tensor named %q", s.describe(), name)
	}
	return f, nil
}

func (s *Set) describe() string {
	if len(s.files) == 1 {
		return s.files[0].path
	}
	return fmt.Sprintf("%s (%d shards)", filepath.Dir(s.files[0].path), len(s.files))
}

// Info describes a tensor.
func (s *Set) Info(name string) (TensorInfo, error) {
	f, err := s.lookup(name)
	if err != nil {
		return TensorInfo{}, err
	}
	return f.Info(name)
}

// Raw is the tensor's bytes, a view valid until Close (see File.Raw); nil when absent.
func (s *Set) Raw(name string) []byte {
	f, ok := s.owner[name]
	if !ok {
		return nil
	}
	return f.Raw(name)
}

// Float32 converts a float tensor to a new []float32 (see File.Float32).
func (s *Set) Float32(name string) ([]float32, error) {
	f, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	return f.Float32(name)
}

// Float32Into converts a float tensor into dst (see File.Float32Into).
func (s *Set) Float32Into(name string, dst []float32) error {
	f, err := s.lookup(name)
	if err != nil {
		return err
	}
	return f.Float32Into(name, dst)
}

// Metadata merges the shards' __metadata__ maps (nil when none has one).
func (s *Set) Metadata() map[string]string {
	if s.meta == nil {
		return nil
	}
	m := make(map[string]string, len(s.meta))
	for k, v := range s.meta {
		m[k] = v
	}
	return m
}

// Close unmaps every file; the first error is returned, all files are closed regardless.
func (s *Set) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
