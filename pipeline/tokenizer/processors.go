package tokenizer

// postProcessor adds special tokens and adjusts encodings; encodings holds one (single) or two
// (pair) encodings, and the result is merged afterwards (HF's process_encodings).
type postProcessor interface {
	process(encs []Encoding, addSpecial bool) []Encoding
	// processIDs is process for the ids of one text alone (EncodeIDs): the same ids, without
	// building the offsets, tokens and masks that the ids do not depend on.
	processIDs(ids []int32, addSpecial bool) []int32
}

type processorSeq []postProcessor

func (s processorSeq) process(encs []Encoding, addSpecial bool) []Encoding {
	for _, p := range s {
		encs = p.process(encs, addSpecial)
	}
	return encs
}

func (s processorSeq) processIDs(ids []int32, addSpecial bool) []int32 {
	for _, p := range s {
		ids = p.processIDs(ids, addSpecial)
	}
	return ids
}

type byteLevelProcessor struct{ trimOffsets, addPrefixSpace bool }

func (b byteLevelProcessor) process(encs []Encoding, _ bool) []Encoding {
	if b.trimOffsets {
		for i := range encs {
			trimByteLevelOffsets(&encs[i], b.addPrefixSpace)
		}
	}
	return encs
}

func (byteLevelProcessor) processIDs(ids []int32, _ bool) []int32 { return ids }

// specialTok is one entry of a template's special_tokens map (it may expand to several ids).
type specialTok struct {
	ids    []int32
	tokens []string
}

type templatePiece struct {
	special string // key into specials when isSpecial
	seqB    bool
	typeID  int32
	isSpec  bool
}

type templateProcessor struct {
	single, pair []templatePiece
	specials     map[string]specialTok
}

func (t templateProcessor) process(encs []Encoding, addSpecial bool) []Encoding {
	tpl := t.single
	if len(encs) == 2 {
		tpl = t.pair
	}
	var out Encoding
	for _, p := range tpl {
		if p.isSpec {
			if !addSpecial {
				continue
			}
			st := t.specials[p.special]
			for k, id := range st.ids {
				out.push(id, st.tokens[k], [2]int{0, 0}, p.typeID, true, -1)
			}
			continue
		}
		i := 0
		if p.seqB {
			i = 1
		}
		if i >= len(encs) {
			continue
		}
		e := encs[i].clone()
		e.setTypeIDs(p.typeID)
		e.setSequence(int8(i))
		out.appendAll(&e)
	}
	return []Encoding{out}
}

func (t templateProcessor) processIDs(ids []int32, addSpecial bool) []int32 {
	n := len(ids)
	if addSpecial {
		for _, p := range t.single {
			if p.isSpec {
				n += len(t.specials[p.special].ids)
			}
		}
	}
	out := make([]int32, 0, n)
	for _, p := range t.single {
		switch {
		case p.isSpec && addSpecial:
			out = append(out, t.specials[p.special].ids...)
		case !p.isSpec && !p.seqB:
			out = append(out, ids...)
		}
	}
	return out
}

// bertProcessor is [CLS] A [SEP] (B [SEP]) with type ids 0 then 1.
type bertProcessor struct {
	cls, sep     string
	clsID, sepID int32
}

func (b bertProcessor) process(encs []Encoding, addSpecial bool) []Encoding {
	if !addSpecial {
		return encs
	}
	var out Encoding
	out.push(b.clsID, b.cls, [2]int{0, 0}, 0, true, -1)
	a := encs[0].clone()
	a.setTypeIDs(0)
	a.setSequence(0)
	out.appendAll(&a)
	out.push(b.sepID, b.sep, [2]int{0, 0}, 0, true, -1)
	if len(encs) == 2 {
		p := encs[1].clone()
		p.setTypeIDs(1)
		p.setSequence(1)
		out.appendAll(&p)
		out.push(b.sepID, b.sep, [2]int{0, 0}, 1, true, -1)
	}
	return []Encoding{out}
}

func (b bertProcessor) processIDs(ids []int32, addSpecial bool) []int32 {
	if !addSpecial {
		return ids
	}
	out := make([]int32, 0, len(ids)+2)
	out = append(out, b.clsID)
	out = append(out, ids...)
	return append(out, b.sepID)
}

// robertaProcessor is <s> A </s> (</s> B </s>), all type ids 0, with byte-level offset trimming.
type robertaProcessor struct {
	bertProcessor
	trimOffsets, addPrefixSpace bool
}

// processIDs: a single text is <s> A </s>, as BERT's [CLS] A [SEP].
func (r robertaProcessor) processIDs(ids []int32, addSpecial bool) []int32 {
	return r.bertProcessor.processIDs(ids, addSpecial)
}

func (r robertaProcessor) process(encs []Encoding, addSpecial bool) []Encoding {
	if r.trimOffsets {
		for i := range encs {
			trimByteLevelOffsets(&encs[i], r.addPrefixSpace)
		}
	}
	if !addSpecial {
		return encs
	}
	var out Encoding
	out.push(r.clsID, r.cls, [2]int{0, 0}, 0, true, -1)
	a := encs[0].clone()
	a.setTypeIDs(0)
	a.setSequence(0)
	out.appendAll(&a)
	out.push(r.sepID, r.sep, [2]int{0, 0}, 0, true, -1)
	if len(encs) == 2 {
		out.push(r.sepID, r.sep, [2]int{0, 0}, 0, true, -1)
		p := encs[1].clone()
		p.setTypeIDs(0)
		p.setSequence(1)
		out.appendAll(&p)
		out.push(r.sepID, r.sep, [2]int{0, 0}, 0, true, -1)
	}
	return []Encoding{out}
}
