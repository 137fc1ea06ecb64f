package safetensors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/armap/armap/engine/atomicfile"
)

// WriteSharded saves a checkpoint into dir in the HuggingFace layout, splitting it into shards of
// at most maxShardBytes of tensor data (maxShardBytes <= 0: one file). Assignment follows
// huggingface_hub's split_torch_state_dict_into_shards, in the order of specs: a tensor larger
// than the limit gets a shard of its own, otherwise a tensor that would push the current shard
// over the limit starts a new one. One shard is written as model.safetensors without an index;
// several as model-0000i-of-0000n.safetensors plus model.safetensors.index.json
// ({"metadata": {"total_size": bytes}, "weight_map": {name: shard}}). fill is called once per
// tensor as in WriteStream. It returns the file names written, relative to dir.
//
// Each file is written atomically; the index is written after all shards, and weight files of an
// earlier save that the new one does not use are removed last (as save_pretrained does), so a
// crash leaves the previous checkpoint loadable unless it used the same shard names.
func WriteSharded(ctx context.Context, dir string, specs []Spec, metadata map[string]string, maxShardBytes int64, fill func(s Spec, w io.Writer) error) ([]string, error) {
	var shards [][]Spec
	var cur []Spec
	var curSize, total int64
	for _, s := range specs {
		size, err := ByteSize(s.DType, s.Shape)
		if err != nil {
			return nil, fmt.Errorf("safetensors write %s: tensor %q: %w", dir, s.Name, err)
		}
		total += size
		if maxShardBytes > 0 && size > maxShardBytes {
			shards = append(shards, []Spec{s})
			continue
		}
		if maxShardBytes > 0 && curSize+size > maxShardBytes && len(cur) > 0 {
			shards = append(shards, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, s)
		curSize += size
	}
	if len(cur) > 0 || len(shards) == 0 {
		shards = append(shards, cur)
	}

	if len(shards) == 1 {
		if err := WriteStream(ctx, filepath.Join(dir, SingleFileName), shards[0], metadata, fill); err != nil {
			return nil, err
		}
		written := []string{SingleFileName}
		return written, removeStale(dir, written)
	}

	// Validate names across shards before writing anything: per-shard checks cannot see a
	// duplicate that lands in two shards.
	weightMap := make(map[string]string, len(specs))
	var written []string
	for i, shard := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		for _, s := range shard {
			if _, dup := weightMap[s.Name]; dup {
				return nil, fmt.Errorf("safetensors write %s: tensor %q given twice", dir, s.Name)
			}
			weightMap[s.Name] = name
		}
		written = append(written, name)
	}
	for i, shard := range shards {
		if err := WriteStream(ctx, filepath.Join(dir, written[i]), shard, metadata, fill); err != nil {
			return nil, err
		}
	}
	idx := shardIndex{Metadata: map[string]any{"total_size": total}, WeightMap: weightMap}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(idx); err != nil {
		return nil, fmt.Errorf("safetensors write %s: index: %w", dir, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, IndexFileName), buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	written = append(written, IndexFileName)
	return written, removeStale(dir, written)
}

// isShardName matches the names WriteSharded (and transformers) give shards:
// model-00001-of-00003.safetensors.
func isShardName(n string) bool {
	const pattern = "model-#####-of-#####.safetensors"
	if len(n) != len(pattern) {
		return false
	}
	for i := 0; i < len(n); i++ {
		if pattern[i] == '#' {
			if n[i] < '0' || n[i] > '9' {
				return false
			}
		} else if n[i] != pattern[i] {
			return false
		}
	}
	return true
}

// removeStale deletes weight files of an earlier save in dir that keep is not made of: a stale
// model.safetensors would shadow a new index, a stale index would contradict a new single file.
func removeStale(dir string, keep []string) error {
	kept := make(map[string]bool, len(keep))
	for _, k := range keep {
		kept[k] = true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("safetensors write %s: %w", dir, err)
	}
	removed := false
	for _, e := range ents {
		n := e.Name()
		if kept[n] || !(n == SingleFileName || n == IndexFileName || isShardName(n)) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("safetensors write %s: removing stale %s: %w", dir, n, err)
		}
		removed = true
	}
	if removed {
		return atomicfile.SyncDir(dir)
	}
	return nil
}
