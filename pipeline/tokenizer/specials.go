package tokenizer

// SpecialIDs holds the ids of the usual special tokens, -1 where the tokenizer has none.
//
// tokenizer.json does not name them (transformers keeps that in tokenizer_config.json), so they
// are inferred: UNK from the model, CLS/SEP and BOS/EOS from the post-processor (the special
// tokens before and after the first sequence), PAD from the padding section, then the
// conventional spellings ("[PAD]", "<pad>", "<|pad|>", "<s>", "</s>", "<|begin_of_text|>",
// "<|end_of_text|>", "<|endoftext|>", "[MASK]", "<mask>", ...). A model's config.json
// (pad_token_id, eos_token_id) takes precedence where the caller has one.
type SpecialIDs struct {
	PAD, BOS, EOS, UNK, CLS, SEP, MASK int32
}

// SpecialIDs returns the inferred special token ids.
func (t *Tokenizer) SpecialIDs() SpecialIDs { return t.specials }

func (t *Tokenizer) findSpecials() SpecialIDs {
	s := SpecialIDs{-1, -1, -1, -1, -1, -1, -1}
	lookup := func(names ...string) int32 {
		for _, n := range names {
			if id, ok := t.TokenToID(n); ok {
				return id
			}
		}
		return -1
	}
	switch m := t.model.(type) {
	case *bpeModel:
		if m.hasUnk {
			s.UNK = m.unkID
		}
	case *wordPieceModel:
		s.UNK = m.unkID
	case *wordLevelModel:
		s.UNK = m.unkID
	case *unigramModel:
		if m.hasUnk {
			s.UNK = m.unkID
		}
	}
	// The post-processor says which tokens open and close a sequence.
	var before, after []int32
	var visit func(p postProcessor)
	visit = func(p postProcessor) {
		switch p := p.(type) {
		case bertProcessor:
			s.CLS, s.SEP = p.clsID, p.sepID
		case robertaProcessor:
			s.CLS, s.SEP = p.clsID, p.sepID
			s.BOS, s.EOS = p.clsID, p.sepID
		case templateProcessor:
			seen := false
			for _, pc := range p.single {
				if !pc.isSpec {
					seen = true
					continue
				}
				st := p.specials[pc.special]
				if len(st.ids) == 0 {
					continue
				}
				if seen {
					after = append(after, st.ids[len(st.ids)-1])
				} else {
					before = append(before, st.ids[0])
				}
			}
		case processorSeq:
			for _, q := range p {
				visit(q)
			}
		}
	}
	if t.post != nil {
		visit(t.post)
	}
	if len(before) > 0 {
		if _, isWP := t.model.(*wordPieceModel); isWP {
			s.CLS = before[0]
		} else if s.BOS < 0 {
			s.BOS = before[0]
		}
	}
	if len(after) > 0 {
		if _, isWP := t.model.(*wordPieceModel); isWP {
			s.SEP = after[len(after)-1]
		} else if s.EOS < 0 {
			s.EOS = after[len(after)-1]
		}
	}
	if t.Padding != nil {
		if id, ok := t.TokenToID(t.Padding.PadToken); ok {
			s.PAD = id
		} else {
			s.PAD = t.Padding.PadID
		}
	}
	fill := func(dst *int32, names ...string) {
		if *dst < 0 {
			*dst = lookup(names...)
		}
	}
	fill(&s.PAD, "[PAD]", "<pad>", "<|pad|>", "<|finetune_right_pad_id|>")
	fill(&s.BOS, "<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>")
	fill(&s.EOS, "</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "<|im_end|>")
	fill(&s.UNK, "[UNK]", "<unk>", "<|unk|>")
	fill(&s.CLS, "[CLS]", "<cls>")
	fill(&s.SEP, "[SEP]", "<sep>")
	fill(&s.MASK, "[MASK]", "<mask>")
	return s
}
