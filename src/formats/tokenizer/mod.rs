//! Text to token ids through a Hugging Face `tokenizer.json`: added
//! (special) tokens matched in the raw text; BertNormalizer or Unicode
//! normal forms / lowercase; BertPreTokenizer + WordPiece (BERT) or
//! ByteLevel + BPE (GPT-2, RoBERTa); Template/Bert/Roberta post-processors;
//! right truncation. Written to give the same ids as the `tokenizers`
//! library (checked against it on the fixture sentences).

mod bpe;

use std::collections::HashMap;

use serde_json::Value;
use unicode_general_category::{get_general_category, GeneralCategory as G};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Result, SquishError};

pub(crate) fn err(detail: impl Into<String>) -> SquishError {
    SquishError::DataFile { format: "tokenizer.json", detail: detail.into() }
}

#[derive(Debug, Clone)]
struct BertNormalizer {
    clean_text: bool,
    handle_chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

#[derive(Debug, Clone)]
enum Normalize {
    Bert(BertNormalizer),
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
    Lowercase,
}

enum Model {
    WordPiece { vocab: HashMap<String, u32>, unk: u32, prefix: String, max_chars_per_word: usize },
    Bpe(bpe::Bpe),
}

enum PreTokenize {
    None,
    Bert,
    ByteLevel { add_prefix_space: bool, use_regex: bool, chars: Box<[char; 256]> },
}

pub struct Tokenizer {
    model: Model,
    normalizers: Vec<Normalize>,
    pre_tokenizer: PreTokenize,
    /// Tokens matched whole in the raw text before anything else: (content, id).
    added: Vec<(String, u32)>,
    /// Ids before and after the sequence (e.g. [CLS] … [SEP]).
    prefix_ids: Vec<u32>,
    suffix_ids: Vec<u32>,
    pub max_length: Option<usize>,
    pad_id: u32,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let model = match &self.model {
            Model::WordPiece { vocab, .. } => format!("WordPiece, {} entries", vocab.len()),
            Model::Bpe(_) => "byte-level BPE".to_string(),
        };
        write!(f, "Tokenizer({model}, {} added tokens)", self.added.len())
    }
}

/// One encoded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub attention_mask: Vec<u32>,
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(|x| x.as_str())
}

impl Tokenizer {
    pub fn from_json(text: &str) -> Result<Tokenizer> {
        let j: Value = serde_json::from_str(text).map_err(|e| err(format!("invalid JSON: {e}")))?;
        let model = j.get("model").ok_or_else(|| err("no 'model' section"))?;
        let vocab: HashMap<String, u32> = model
            .get("vocab")
            .and_then(|v| v.as_object())
            .ok_or_else(|| err("model.vocab is missing"))?
            .iter()
            .map(|(k, v)| {
                v.as_u64().filter(|&i| i <= u32::MAX as u64).map(|i| (k.clone(), i as u32)).ok_or_else(|| err(format!("vocab entry '{k}' is not an id")))
            })
            .collect::<Result<_>>()?;
        let pad_id = j
            .get("padding")
            .and_then(|p| p.get("pad_id"))
            .and_then(|v| v.as_u64())
            .map(|v| v as u32)
            .or_else(|| vocab.get("[PAD]").or(vocab.get("<pad>")).copied())
            .unwrap_or(0);
        let (prefix_ids, suffix_ids) = post_processor(j.get("post_processor"), &vocab)?;
        let model = match str_field(model, "type") {
            Some("WordPiece") => {
                let unk_token = str_field(model, "unk_token").unwrap_or("[UNK]");
                let unk = *vocab.get(unk_token).ok_or_else(|| err(format!("unk_token '{unk_token}' is not in the vocabulary")))?;
                Model::WordPiece {
                    unk,
                    prefix: str_field(model, "continuing_subword_prefix").unwrap_or("##").to_string(),
                    max_chars_per_word: model.get("max_input_chars_per_word").and_then(|v| v.as_u64()).unwrap_or(100) as usize,
                    vocab,
                }
            }
            Some("BPE") => Model::Bpe(bpe::Bpe::from_json(model, vocab)?),
            Some(other) => return Err(err(format!("model type '{other}' is not supported (WordPiece and BPE are; Unigram is not implemented)"))),
            None => return Err(err("model has no 'type'")),
        };
        let normalizers = match j.get("normalizer") {
            None | Some(Value::Null) => vec![],
            Some(n) => normalizer_steps(n)?,
        };
        let pre_tokenizer = match j.get("pre_tokenizer") {
            None | Some(Value::Null) => PreTokenize::None,
            Some(p) => match str_field(p, "type") {
                Some("BertPreTokenizer") => PreTokenize::Bert,
                Some("ByteLevel") => PreTokenize::ByteLevel {
                    add_prefix_space: p.get("add_prefix_space").and_then(|v| v.as_bool()).unwrap_or(false),
                    use_regex: p.get("use_regex").and_then(|v| v.as_bool()).unwrap_or(true),
                    chars: Box::new(bpe::byte_chars()),
                },
                other => return Err(err(format!("pre_tokenizer '{}' is not supported (BertPreTokenizer and ByteLevel are)", other.unwrap_or("?")))),
            },
        };
        if matches!(model, Model::Bpe(_)) != matches!(pre_tokenizer, PreTokenize::ByteLevel { .. }) {
            return Err(err("only WordPiece with BertPreTokenizer and BPE with ByteLevel are supported"));
        }
        let mut added: Vec<(String, u32)> = j
            .get("added_tokens")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter().filter_map(|t| Some((str_field(t, "content")?.to_string(), t.get("id")?.as_u64()? as u32))).filter(|(c, _)| !c.is_empty()).collect()
            })
            .unwrap_or_default();
        // Longest first, so "[CLS]x" never matches a shorter token first.
        added.sort_by_key(|(c, _)| std::cmp::Reverse(c.len()));
        let max_length = j.get("truncation").and_then(|t| t.get("max_length")).and_then(|v| v.as_u64()).map(|v| v as usize);
        Ok(Tokenizer { model, normalizers, pre_tokenizer, added, prefix_ids, suffix_ids, max_length, pad_id })
    }

    /// Ids for one text: special tokens, truncation to `max_length` (the
    /// file's when `None`) with the special tokens counted in.
    pub fn encode(&self, text: &str, max_length: Option<usize>) -> Encoding {
        let mut ids = Vec::new();
        for (piece, special) in self.split_added(text) {
            match special {
                Some(id) => ids.push(id),
                None => {
                    let normalized = self.normalizers.iter().fold(piece.to_string(), normalize);
                    match (&self.pre_tokenizer, &self.model) {
                        (PreTokenize::ByteLevel { add_prefix_space, use_regex, chars }, Model::Bpe(bpe)) => {
                            let text = if *add_prefix_space && !normalized.starts_with(' ') { format!(" {normalized}") } else { normalized };
                            let words = if *use_regex { bpe::gpt2_split(&text) } else { vec![text.as_str()] };
                            for w in words {
                                let mapped: String = w.bytes().map(|b| chars[b as usize]).collect();
                                bpe.tokenize(&mapped, &mut ids);
                            }
                        }
                        (PreTokenize::Bert, _) => pre_tokenize(&normalized).into_iter().for_each(|w| self.wordpiece(w, &mut ids)),
                        _ => normalized.split(char::is_whitespace).filter(|w| !w.is_empty()).for_each(|w| self.wordpiece(w, &mut ids)),
                    }
                }
            }
        }
        if let Some(max) = max_length.or(self.max_length) {
            let room = max.saturating_sub(self.prefix_ids.len() + self.suffix_ids.len());
            ids.truncate(room);
        }
        let mut all = self.prefix_ids.clone();
        all.extend(ids);
        all.extend(&self.suffix_ids);
        let n = all.len();
        Encoding { ids: all, type_ids: vec![0; n], attention_mask: vec![1; n] }
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The raw text cut around added tokens (matched exactly, not normalised).
    fn split_added<'a>(&self, text: &'a str) -> Vec<(&'a str, Option<u32>)> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < text.len() {
            if let Some((c, id)) = self.added.iter().find(|(c, _)| text[i..].starts_with(c.as_str())) {
                if start < i {
                    out.push((&text[start..i], None));
                }
                out.push((&text[i..i + c.len()], Some(*id)));
                i += c.len();
                start = i;
            } else {
                i += text[i..].chars().next().map_or(1, |ch| ch.len_utf8());
            }
        }
        if start < text.len() {
            out.push((&text[start..], None));
        }
        out
    }

    /// Greedy longest-match-first; a word with no full cover is one [UNK].
    fn wordpiece(&self, word: &str, ids: &mut Vec<u32>) {
        let Model::WordPiece { vocab, unk, prefix, max_chars_per_word } = &self.model else { return };
        let unk = *unk;
        if word.chars().count() > *max_chars_per_word {
            ids.push(unk);
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                let sub = &word[start..end];
                let key = if start > 0 { format!("{prefix}{sub}") } else { sub.to_string() };
                if let Some(&id) = vocab.get(&key) {
                    found = Some(id);
                    break;
                }
                end -= 1;
                while end > start && !word.is_char_boundary(end) {
                    end -= 1;
                }
            }
            match found {
                Some(id) => {
                    pieces.push(id);
                    start = end;
                }
                None => {
                    ids.push(unk);
                    return;
                }
            }
        }
        ids.extend(pieces);
    }
}

/// Special ids around a single sequence, from TemplateProcessing or BertProcessing.
fn post_processor(p: Option<&Value>, vocab: &HashMap<String, u32>) -> Result<(Vec<u32>, Vec<u32>)> {
    let Some(p) = p.filter(|p| !p.is_null()) else { return Ok((vec![], vec![])) };
    match str_field(p, "type") {
        Some("BertProcessing") | Some("RobertaProcessing") => {
            let id = |k: &str| {
                p.get(k).and_then(|v| v.get(1)).and_then(|v| v.as_u64()).map(|v| v as u32).ok_or_else(|| err(format!("post_processor.{k} is malformed")))
            };
            Ok((vec![id("cls")?], vec![id("sep")?]))
        }
        Some("TemplateProcessing") => {
            let single = p.get("single").and_then(|s| s.as_array()).ok_or_else(|| err("post_processor.single is missing"))?;
            let specials = p.get("special_tokens");
            let (mut before, mut after, mut seen_seq) = (vec![], vec![], false);
            for piece in single {
                if piece.get("Sequence").is_some() {
                    seen_seq = true;
                    continue;
                }
                let name = piece.get("SpecialToken").and_then(|s| str_field(s, "id")).ok_or_else(|| err("post_processor.single has an unknown piece"))?;
                let ids: Vec<u32> = match specials.and_then(|s| s.get(name)).and_then(|s| s.get("ids")).and_then(|i| i.as_array()) {
                    Some(a) => a.iter().filter_map(|v| v.as_u64().map(|v| v as u32)).collect(),
                    None => vec![*vocab.get(name).ok_or_else(|| err(format!("special token '{name}' has no id")))?],
                };
                if seen_seq {
                    after.extend(ids)
                } else {
                    before.extend(ids)
                }
            }
            Ok((before, after))
        }
        // ByteLevel only adjusts offsets; ids are unchanged.
        Some("ByteLevel") => Ok((vec![], vec![])),
        Some("Sequence") => {
            let (mut before, mut after) = (vec![], vec![]);
            for p in p.get("processors").and_then(|v| v.as_array()).ok_or_else(|| err("post_processor Sequence has no 'processors'"))? {
                let (b, a) = post_processor(Some(p), vocab)?;
                before.extend(b);
                after.extend(a);
            }
            Ok((before, after))
        }
        Some(other) => Err(err(format!("post_processor '{other}' is not supported"))),
        None => Err(err("post_processor has no type")),
    }
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    matches!(get_general_category(c), G::Control | G::Format | G::Unassigned | G::PrivateUse | G::Surrogate)
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            get_general_category(c),
            G::ConnectorPunctuation
                | G::DashPunctuation
                | G::ClosePunctuation
                | G::FinalPunctuation
                | G::InitialPunctuation
                | G::OtherPunctuation
                | G::OpenPunctuation
        )
}

fn is_chinese_char(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

fn normalizer_steps(n: &Value) -> Result<Vec<Normalize>> {
    let flag = |k: &str, d: bool| n.get(k).and_then(|v| v.as_bool()).unwrap_or(d);
    Ok(match str_field(n, "type") {
        Some("BertNormalizer") => {
            let lowercase = flag("lowercase", true);
            // strip_accents: null means "whatever lowercase says".
            let strip_accents = n.get("strip_accents").and_then(|v| v.as_bool()).unwrap_or(lowercase);
            vec![Normalize::Bert(BertNormalizer {
                clean_text: flag("clean_text", true),
                handle_chinese_chars: flag("handle_chinese_chars", true),
                strip_accents,
                lowercase,
            })]
        }
        Some("NFC") => vec![Normalize::Nfc],
        Some("NFD") => vec![Normalize::Nfd],
        Some("NFKC") => vec![Normalize::Nfkc],
        Some("NFKD") => vec![Normalize::Nfkd],
        Some("Lowercase") => vec![Normalize::Lowercase],
        Some("Sequence") => {
            let steps = n.get("normalizers").and_then(|v| v.as_array()).ok_or_else(|| err("normalizer Sequence has no 'normalizers'"))?;
            steps.iter().map(normalizer_steps).collect::<Result<Vec<_>>>()?.into_iter().flatten().collect()
        }
        other => return Err(err(format!("normalizer '{}' is not supported (BertNormalizer, NFC/NFD/NFKC/NFKD, Lowercase, Sequence)", other.unwrap_or("?")))),
    })
}

fn normalize(text: String, step: &Normalize) -> String {
    match step {
        Normalize::Bert(n) => bert_normalize(&text, n),
        Normalize::Nfc => text.nfc().collect(),
        Normalize::Nfd => text.nfd().collect(),
        Normalize::Nfkc => text.nfkc().collect(),
        Normalize::Nfkd => text.nfkd().collect(),
        Normalize::Lowercase => text.to_lowercase(),
    }
}

fn bert_normalize(text: &str, n: &BertNormalizer) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if n.clean_text && (c == '\0' || c == '\u{fffd}' || is_control(c)) {
            continue;
        }
        let c = if n.clean_text && is_whitespace(c) { ' ' } else { c };
        if n.handle_chinese_chars && is_chinese_char(c) {
            s.push(' ');
            s.push(c);
            s.push(' ');
        } else {
            s.push(c);
        }
    }
    if n.strip_accents {
        s = s.nfd().filter(|&c| get_general_category(c) != G::NonspacingMark).collect();
    }
    if n.lowercase {
        s = s.to_lowercase();
    }
    s
}

/// Words split on whitespace, every punctuation character on its own.
fn pre_tokenize(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for word in text.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        let mut start = 0;
        for (i, c) in word.char_indices() {
            if is_punctuation(c) {
                if start < i {
                    out.push(&word[start..i]);
                }
                out.push(&word[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < word.len() {
            out.push(&word[start..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r###"{
      "added_tokens": [{"id": 0, "content": "[PAD]"}, {"id": 1, "content": "[UNK]"}, {"id": 2, "content": "[CLS]"}, {"id": 3, "content": "[SEP]"}],
      "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "un": 4, "##aff": 5, "##able": 6, "cafe": 7, "!": 8, "中": 9}}
    }"###;

    #[test]
    fn wordpiece_by_hand() {
        let t = Tokenizer::from_json(TINY).unwrap();
        // "Unaffable" → lowercase → un ##aff ##able; "Café" → cafe (accent stripped); "!" alone.
        assert_eq!(t.encode("Unaffable Café!", None).ids, vec![2, 4, 5, 6, 7, 8, 3]);
        // No full cover → the whole word is [UNK]; CJK is split per character.
        assert_eq!(t.encode("unx 中文", None).ids, vec![2, 1, 9, 1, 3]);
        // Special tokens in the raw text are kept whole.
        assert_eq!(t.encode("[SEP]un", None).ids, vec![2, 3, 4, 3]);
        // Truncation counts the two special tokens.
        assert_eq!(t.encode("un un un un", Some(4)).ids, vec![2, 4, 4, 3]);
        assert_eq!(t.encode("", None).ids, vec![2, 3]);
    }

    #[test]
    fn unsupported_pipelines_are_named() {
        let unigram = TINY.replace("\"type\": \"WordPiece\"", "\"type\": \"Unigram\"");
        assert!(Tokenizer::from_json(&unigram).unwrap_err().to_string().contains("model type 'Unigram' is not supported"));
        let mixed = TINY.replace("\"type\": \"BertPreTokenizer\"", "\"type\": \"ByteLevel\"");
        assert!(Tokenizer::from_json(&mixed).unwrap_err().to_string().contains("only WordPiece with BertPreTokenizer"));
        assert!(Tokenizer::from_json("{").unwrap_err().to_string().contains("tokenizer.json file: invalid JSON"));
        let no_unk = TINY.replace("\"[UNK]\": 1,", "");
        assert!(Tokenizer::from_json(&no_unk).unwrap_err().to_string().contains("unk_token '[UNK]'"));
    }
}
