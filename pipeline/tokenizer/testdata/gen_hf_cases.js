// Regenerates hf_cases_expected.jsonl with HuggingFace tokenizers' node binding:
//   npm install tokenizers@0.23.2 && node gen_hf_cases.js   (writes hf_cases_expected.jsonl.gz)
// Each case of hf_cases.json is a fixture tokenizer.json with some sections replaced; the Go test
// builds the same tokenizers (composeCase) and compares every line.
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Tokenizer } = require('tokenizers');
const fixtures = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'hf', 'tokenizers');
const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'hf_cases.json'), 'utf8'));

function unigramScore(i) { return -(i % 97) / 10 - i / 1000; }
function compose(c) {
  const base = JSON.parse(fs.readFileSync(path.join(fixtures, c.base, 'tokenizer.json'), 'utf8'));
  if (c.model === 'unigram' || c.model === 'unigram_nofallback') {
    const vocab = Object.entries(base.model.vocab).sort((a, b) => a[1] - b[1]).map(([t, i]) => [t, unigramScore(i)]);
    base.model = { type: 'Unigram', unk_id: 0, vocab, byte_fallback: c.model === 'unigram' };
  } else if (c.model) {
    base.model = Object.assign({}, c.model, { vocab: base.model.vocab });
  }
  for (const [k, v] of Object.entries(c.override)) base[k] = v;
  return base;
}

// Deterministic texts: fixture texts, edge cases, and random strings over a mixed alphabet.
function xorshift(seed) { let s = seed >>> 0; return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; }; }
const pools = [
  'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789', '          ', '\t\n\r\n\n',
  '.,;:!?\'"()[]{}<>-_/\\|@#$%^&*+=~`', "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'ſ", 'éèêëàâäôöûüçñÉÀÖÜß', 'e\u0301a\u0300o\u0308\u0327\u0323\u0302',
  '中文分词测试東京日本語', 'ひらがなカタカナタワー', '한국어가각', 'Ελληνικάαβγ', 'Русскийязык', 'العربية', 'ไทยภาษา',
  '😀👍🏽🤖🧪👨‍👩‍👧', '\u00a0\u3000\u2028\u2009\u200b\u180e\u0085', 'ﬁﬂ①②Ⅻ²³½ＡＢＣ１２３', 'İıǅǄſK', '\u0000\u0001\u001f\u007f\ufffd\u200d\ufeff',
  '<|endoftext|><|pad|>[CLS][SEP][MASK]<s></s><unk>[UNK]', '<|user|> fridge microwave apple shoes [NEW] Hello <b> size', '▁▁ ▁x', '<0x41><0xE2>',
];
function randomText(rng) {
  const n = 1 + Math.floor(rng() * 40);
  let s = '';
  for (let i = 0; i < n; i++) {
    const p = pools[Math.floor(rng() * pools.length)];
    const chars = Array.from(p);
    const k = 1 + Math.floor(rng() * 4);
    for (let j = 0; j < k; j++) s += chars[Math.floor(rng() * chars.length)];
    if (rng() < 0.3) s += ' ';
  }
  return s;
}
const fixtureTexts = [];
for (const name of ['bytelevel_bpe', 'wordpiece_bert', 'sentencepiece_bpe']) {
  for (const l of fs.readFileSync(path.join(fixtures, name, 'encodings.jsonl'), 'utf8').trim().split('\n')) {
    const j = JSON.parse(l);
    if (j.text_pair === undefined && !fixtureTexts.includes(j.text)) fixtureTexts.push(j.text);
  }
}
const rng = xorshift(20250305);
const randomTexts = Array.from({ length: 60 }, () => randomText(rng));
const extra = ['', ' ', '  ', '\n', ' \n ', 'a', "it'S DON'T we'LL I'M o'ſ", 'x  \t y\r\nz  ', 'Hello <|user|> fridge  microwave apple apple2 shoes!',
  '[MASK]  [SEP][NEW]hello Hello size  sizes', '<b>   bold', '  ▁leading', '１２３４５６ ＡＢＣ', 'ǅemal İstanbul', 'e\u0301\u0301\u0301o Å Å Å',
  '中文 and 日本語 mixed', '\u3000\u3000x\u3000', 'tabs\tand\u00a0nbsp', 'endoftext<|endoftext|>endoftext', 'a'.repeat(120), '12345678901234567890',
  'CamelCaseWordsAndMORE stuff', 'aab abab ba', 'price: $1,299.99!!!', '\ufeffbom', 'x\u200dy', 'ḉ ẛ ﬁ ǆ'];
const texts = [...fixtureTexts.slice(0, 24), ...extra, ...randomTexts];

(async () => {
  const out = [];
  for (const c of cases) {
    const tok = Tokenizer.fromString(JSON.stringify(compose(c)));
    for (const text of texts) {
      for (const add of [true, false]) {
        const e = await tok.encode(text, null, { addSpecialTokens: add });
        const ids = Array.from(e.getIds());
        const rec = { case: c.name, text, add, ids };
        if (add) {
          Object.assign(rec, { type_ids: Array.from(e.getTypeIds()), tokens: e.getTokens(), offsets: e.getOffsets() });
          rec.decoded = await tok.decode(ids, true); rec.decoded_all = await tok.decode(ids, false);
        }
        out.push(JSON.stringify(rec));
      }
    }
    for (let i = 0; i < 8; i++) {
      const a = texts[(i * 7) % texts.length], b = texts[(i * 13 + 5) % texts.length];
      const e = await tok.encode(a, b);
      out.push(JSON.stringify({ case: c.name, text: a, pair: b, add: true, ids: Array.from(e.getIds()), type_ids: Array.from(e.getTypeIds()), tokens: e.getTokens() }));
    }
  }
  fs.writeFileSync(path.join(__dirname, 'hf_cases_expected.jsonl.gz'), zlib.gzipSync(out.join('\n') + '\n', { level: 9 }));
  console.log(out.length, 'lines');
})();
