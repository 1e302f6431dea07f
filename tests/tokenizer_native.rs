#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! The WordPiece tokenizer against Hugging Face `tokenizers` (the reference):
//! `tests/fixtures/text/expected.json` holds its ids for 60 sentences
//! (accents, punctuation, CJK, other scripts, emoji, control characters,
//! special tokens in the text, unknown words, long inputs truncated),
//! written by `scripts/make_tokenizer_fixture.py`.

mod common;

use squish::text::Tokenizer;

#[test]
fn same_ids_as_the_reference_tokenizer() {
    let tok = Tokenizer::from_json(std::str::from_utf8(&common::read("text/tokenizer.json")).unwrap()).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(&common::read("text/expected.json")).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 50);
    let mut truncated = 0;
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tok.encode(text, None);
        truncated += (want.len() == expected["max_length"].as_u64().unwrap() as usize) as usize;
        if got.ids != want {
            failures.push(format!("{text:?}\n  want {want:?} {}\n  got  {:?}", case["tokens"], got.ids));
        }
    }
    assert!(truncated >= 2, "the fixture must exercise truncation");
    assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
