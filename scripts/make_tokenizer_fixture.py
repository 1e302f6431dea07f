"""Builds the tokenizer fixtures and the reference ids.

Real `tokenizer.json` files are trained with Hugging Face `tokenizers` on a
small corpus (no model hub is reachable here), then the same library encodes
the test sentences:
- `tokenizer.json` / `expected.json`: BERT WordPiece (BertNormalizer,
  BertPreTokenizer, WordPiece, TemplateProcessing [CLS] … [SEP], truncation);
- `tokenizer_bpe.json` / `expected_bpe.json`: RoBERTa-style byte-level BPE
  (ByteLevel without prefix space, RobertaProcessing <s> … </s>, truncation);
- `tokenizer_bpe_prefix.json` / `expected_bpe_prefix.json`: byte-level BPE
  with a prefix space, a Sequence normalizer (NFKC, Lowercase), no
  post-processor.
Needs `pip install tokenizers==0.23.3` (not part of the test requirements:
the fixtures are committed).

    .cache/venv/bin/python scripts/make_tokenizer_fixture.py
"""
import json
from pathlib import Path

from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer, normalizers
from tokenizers.processors import RobertaProcessing, TemplateProcessing

OUT = Path(__file__).resolve().parent.parent / "tests/fixtures/text"
MAX_LENGTH = 24

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Compression is a trade: smaller and faster, at some cost in behaviour.",
    "Neural networks learn representations of their inputs.",
    "Quantisation maps floating point weights to small integers.",
    "Pruning removes weights; distillation trains a smaller student.",
    "Users want to see the trade on their own model and their own inputs.",
    "A café in Zürich serves crème brûlée and naïve coffee.",
    "Le modèle compressé fonctionne dans le navigateur.",
    "Das Modell läuft vollständig im Browser, ohne Installation.",
    "El niño comió una piña en la mañana.",
    "机器学习 模型 压缩",
    "Numbers like 3.14, 42 and 1,000,000 appear in text.",
    "Emails such as someone@example.com and URLs like https://example.org/path?q=1.",
    "Don't, won't, can't: contractions split at the apostrophe.",
    "Running, runner, runs, ran — one word, many forms.",
    "Tokenization splits words into sub-word pieces with a ## prefix.",
] * 20

SENTENCES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "HELLO WORLD",
    "Compression: smaller, faster — and different?",
    "A café in Zürich.",
    "Crème brûlée is naïve.",
    "Ångström, Øresund, Æsir and Straße.",
    "El niño comió piña.",
    "Le modèle compressé.",
    "Vollständig im Browser.",
    "机器学习模型",
    "压缩 and English mixed 中文 text.",
    "日本語のテキスト",
    "Numbers: 3.14159, 2,718 and -42.",
    "someone@example.com",
    "https://example.org/path?q=1&r=2",
    "Don't stop believing.",
    "I can't and won't.",
    "Tokenization of unbelievably antidisestablishmentarianism words.",
    "Supercalifragilisticexpialidocious",
    "xyzzy plugh qwertyuiop",
    "Emoji: 🙂 🚀 ❤️",
    "Tabs\tand\nnewlines\r\nare whitespace.",
    "Multiple     spaces    between   words.",
    "   leading and trailing spaces   ",
    "",
    "!!!",
    "...",
    "(parentheses) [brackets] {braces} <angles>",
    "quotes \"double\" and 'single' and «guillemets»",
    "a-b_c/d\\e|f",
    "#hashtag @mention $100 %50 ^caret &amp *star",
    "~tilde `backtick` +plus =equals",
    "Mixed CaSe WoRdS",
    "running runner runs ran",
    "representations of their inputs",
    "quantisation quantization quantised",
    "pruning removes weights",
    "distillation trains a smaller student",
    "[CLS] special tokens in text [SEP]",
    "[MASK] is a special token",
    "Zero\u200bwidth space and soft\u00adhyphen",
    "Control\u0007bell and null\u0000char",
    "Combining: e\u0301 a\u0300 o\u0308",
    "Greek: Ελληνικά κείμενο",
    "Cyrillic: Привет мир",
    "Arabic: مرحبا بالعالم",
    "Hebrew: שלום עולם",
    "Hindi: नमस्ते दुनिया",
    "Korean: 안녕하세요 세계",
    "Thai: สวัสดีชาวโลก",
    "Fullwidth: ＡＢＣ１２３",
    "Ligature: ﬁne ﬂow",
    "The model runs entirely in the browser and nothing leaves the device; " * 3,
    "word " * 40,
    "One more sentence, with punctuation; colons: and semi-colons.",
    "Users' inputs — their own — matter.",
    "Ellipsis… and dash – and em—dash.",
    "Superscript² and fractions ½ ¾",
    "Roman Ⅻ numerals and ℃ degrees",
]


def main():
    tok = BertWordPieceTokenizer(lowercase=True, strip_accents=None, clean_text=True, handle_chinese_chars=True)
    tok.train_from_iterator(CORPUS, vocab_size=600, min_frequency=1, limit_alphabet=200)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    # As published BERT tokenizers have it: [CLS] A [SEP] (B [SEP]).
    tok._tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.enable_truncation(max_length=MAX_LENGTH)
    OUT.mkdir(parents=True, exist_ok=True)
    write(tok, "tokenizer.json", "expected.json")

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(CORPUS, vocab_size=700, min_frequency=1, special_tokens=specials)
    bpe._tokenizer.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    bpe.enable_truncation(max_length=MAX_LENGTH)
    write(bpe, "tokenizer_bpe.json", "expected_bpe.json")

    prefixed = ByteLevelBPETokenizer(add_prefix_space=True)
    prefixed._tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    prefixed.train_from_iterator(CORPUS, vocab_size=500, min_frequency=1, special_tokens=specials)
    write(prefixed, "tokenizer_bpe_prefix.json", "expected_bpe_prefix.json")


def write(tok, tokenizer_file, expected_file):
    tok.save(str(OUT / tokenizer_file))
    expected = []
    for s in SENTENCES:
        e = tok.encode(s)
        expected.append({"text": s, "ids": e.ids, "type_ids": e.type_ids, "tokens": e.tokens})
    max_length = tok.truncation["max_length"] if tok.truncation else None
    (OUT / expected_file).write_text(json.dumps({"max_length": max_length, "cases": expected}, ensure_ascii=False, indent=1) + "\n")
    print(f"{tokenizer_file}: {len(expected)} sentences, vocab {tok.get_vocab_size()}")


if __name__ == "__main__":
    main()
