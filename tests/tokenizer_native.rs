#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! The tokenizer against Hugging Face `tokenizers` (the reference): the
//! `expected*.json` fixtures hold its ids for 60 sentences (accents,
//! punctuation, CJK, other scripts, emoji, control characters, special
//! tokens in the text, unknown words, long inputs truncated), for a BERT
//! WordPiece, a RoBERTa-style byte-level BPE and a byte-level BPE with a
//! prefix space and NFKC + lowercase; written by
//! `scripts/make_tokenizer_fixture.py`.

mod common;

use squish::formats::tokenizer::Tokenizer;

#[test]
fn wordpiece_gives_the_reference_ids() {
    same_ids("text/tokenizer.json", "text/expected.json", true);
}

#[test]
fn byte_level_bpe_gives_the_reference_ids() {
    same_ids("text/tokenizer_bpe.json", "text/expected_bpe.json", true);
}

#[test]
fn byte_level_bpe_with_prefix_space_and_normalizers_gives_the_reference_ids() {
    same_ids("text/tokenizer_bpe_prefix.json", "text/expected_bpe_prefix.json", false);
}

fn same_ids(tokenizer: &str, expected: &str, truncates: bool) {
    let tok = Tokenizer::from_json(std::str::from_utf8(&common::read(tokenizer)).unwrap()).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(&common::read(expected)).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 50);
    let mut truncated = 0;
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, None);
        truncated += expected["max_length"].as_u64().is_some_and(|m| want.len() == m as usize) as usize;
        if got.ids != want {
            failures.push(format!("{text:?}\n  want {want:?} {}\n  got  {:?}", case["tokens"], got.ids));
        }
    }
    assert_eq!(truncated >= 2, truncates, "truncation exercised: {truncated} sentences at max_length");
    assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
