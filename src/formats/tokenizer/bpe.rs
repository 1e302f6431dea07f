//! Byte-level BPE (GPT-2, RoBERTa and their descendants): the GPT-2 split
//! pattern, bytes mapped to printable characters, then merges by rank.

use std::collections::HashMap;

use serde_json::Value;
use unicode_general_category::{get_general_category, GeneralCategory as G};

use super::err;
use crate::error::Result;

pub struct Bpe {
    vocab: HashMap<String, u32>,
    /// (left, right) → rank (lower merges first).
    merges: HashMap<(String, String), usize>,
    unk: Option<u32>,
    /// A word already in the vocabulary is taken whole (Llama 3 style).
    ignore_merges: bool,
}

impl Bpe {
    pub fn from_json(model: &Value, vocab: HashMap<String, u32>) -> Result<Bpe> {
        for (key, what) in [("continuing_subword_prefix", "continuing_subword_prefix"), ("end_of_word_suffix", "end_of_word_suffix")] {
            if model.get(key).is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
                return Err(err(format!("BPE with a {what} is not supported (byte-level BPE only)")));
            }
        }
        if model.get("byte_fallback").and_then(|v| v.as_bool()) == Some(true) {
            return Err(err("BPE byte_fallback (SentencePiece-style) is not supported"));
        }
        let list = model.get("merges").and_then(|m| m.as_array()).ok_or_else(|| err("model.merges is missing"))?;
        let mut merges = HashMap::with_capacity(list.len());
        for (rank, m) in list.iter().enumerate() {
            // Older files write "a b", newer ones ["a", "b"].
            let pair = match m {
                Value::String(s) => s.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())),
                Value::Array(a) if a.len() == 2 => a[0].as_str().zip(a[1].as_str()).map(|(x, y)| (x.to_string(), y.to_string())),
                _ => None,
            }
            .ok_or_else(|| err(format!("merge {rank} is malformed: {m}")))?;
            merges.entry(pair).or_insert(rank);
        }
        let unk = match model.get("unk_token").and_then(|v| v.as_str()) {
            Some(t) => Some(*vocab.get(t).ok_or_else(|| err(format!("unk_token '{t}' is not in the vocabulary")))?),
            None => None,
        };
        Ok(Bpe { vocab, merges, unk, ignore_merges: model.get("ignore_merges").and_then(|v| v.as_bool()).unwrap_or(false) })
    }

    /// Ids of one pre-tokenised word (already byte-mapped). Symbols outside
    /// the vocabulary become the unknown token, or are dropped without one
    /// (as the reference implementation does).
    pub fn tokenize(&self, word: &str, ids: &mut Vec<u32>) {
        if self.ignore_merges {
            if let Some(&id) = self.vocab.get(word) {
                ids.push(id);
                return;
            }
        }
        let mut symbols: Vec<String> = word.chars().map(String::from).collect();
        loop {
            let best = symbols.windows(2).enumerate().filter_map(|(i, w)| self.merges.get(&(w[0].clone(), w[1].clone())).map(|&r| (r, i))).min();
            let Some((rank, _)) = best else { break };
            // Merge every occurrence of that pair, left to right.
            let mut out = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if i + 1 < symbols.len() && self.merges.get(&(symbols[i].clone(), symbols[i + 1].clone())) == Some(&rank) {
                    out.push(format!("{}{}", symbols[i], symbols[i + 1]));
                    i += 2;
                } else {
                    out.push(std::mem::take(&mut symbols[i]));
                    i += 1;
                }
            }
            symbols = out;
        }
        for s in symbols {
            match (self.vocab.get(&s), self.unk) {
                (Some(&id), _) => ids.push(id),
                (None, Some(unk)) => ids.push(unk),
                (None, None) => {}
            }
        }
    }
}

fn is_letter(c: char) -> bool {
    matches!(get_general_category(c), G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter)
}

fn is_number(c: char) -> bool {
    matches!(get_general_category(c), G::DecimalNumber | G::LetterNumber | G::OtherNumber)
}

/// GPT-2's pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
/// alternatives tried in order at each position, as a regex engine would.
pub fn gpt2_split(s: &str) -> Vec<&str> {
    let cs: Vec<(usize, char)> = s.char_indices().collect();
    let n = cs.len();
    let byte = |i: usize| if i < n { cs[i].0 } else { s.len() };
    let run = |mut j: usize, f: &dyn Fn(char) -> bool| {
        while j < n && f(cs[j].1) {
            j += 1;
        }
        j
    };
    let other = |c: char| !c.is_whitespace() && !is_letter(c) && !is_number(c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = cs[i].1;
        let mut end = None;
        if c == '\'' {
            for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
                if s[byte(i + 1)..].starts_with(suffix) {
                    end = Some(i + 1 + suffix.chars().count());
                    break;
                }
            }
        }
        if end.is_none() {
            // ` ?X+` for letters, numbers and "other" characters.
            for class in [&is_letter as &dyn Fn(char) -> bool, &is_number, &other] {
                if c == ' ' && i + 1 < n && class(cs[i + 1].1) {
                    end = Some(run(i + 1, class));
                } else if class(c) {
                    end = Some(run(i, class));
                }
                if end.is_some() {
                    break;
                }
            }
        }
        if end.is_none() {
            // Whitespace: all of it at the end, else all but the last one
            // (which then leads the next word); a single one on its own.
            let j = run(i, &|c: char| c.is_whitespace());
            end = Some(if j == n || j - i == 1 { j } else { j - 1 });
        }
        let e = end.expect("one alternative always matches");
        out.push(&s[byte(i)..byte(e)]);
        i = e;
    }
    out
}

/// GPT-2's reversible byte → character map: printable bytes stand for
/// themselves, the rest take code points from 256 up.
pub fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let printable = (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let cp = if printable {
            b
        } else {
            next += 1;
            next - 1
        };
        table[b as usize] = char::from_u32(cp).expect("below the surrogate range");
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_the_regex() {
        assert_eq!(gpt2_split("Hello world"), vec!["Hello", " world"]);
        assert_eq!(gpt2_split("it's 42!!"), vec!["it", "'s", " 42", "!!"]);
        assert_eq!(gpt2_split("a   b"), vec!["a", "  ", " b"]);
        assert_eq!(gpt2_split("end  "), vec!["end", "  "]);
        assert_eq!(gpt2_split("x\ny"), vec!["x", "\n", "y"]);
        assert_eq!(gpt2_split(" !?"), vec![" !?"]);
        assert_eq!(gpt2_split("café"), vec!["café"]);
    }

    #[test]
    fn byte_map_is_gpt2s() {
        let t = byte_chars();
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[b' ' as usize], 'Ġ'); // U+0120
        assert_eq!(t[b'\n' as usize], 'Ċ'); // U+010A
        let mut seen: Vec<char> = t.to_vec();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 256);
    }

    #[test]
    fn merges_by_rank() {
        let vocab: HashMap<String, u32> =
            ["l", "o", "w", "lo", "low", "e", "r", "er", "lower"].iter().enumerate().map(|(i, s)| (s.to_string(), i as u32)).collect();
        let model: Value = serde_json::json!({ "type": "BPE", "merges": ["l o", "lo w", "e r", "low er"] });
        let bpe = Bpe::from_json(&model, vocab).unwrap();
        let mut ids = vec![];
        bpe.tokenize("lower", &mut ids);
        assert_eq!(ids, vec![8]);
        ids.clear();
        // "x" is unknown and there is no unk token: dropped.
        bpe.tokenize("lowx", &mut ids);
        assert_eq!(ids, vec![4]);
    }
}
