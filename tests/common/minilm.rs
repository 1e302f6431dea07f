//! paraphrase-MiniLM-L3 (real weights, fetched from PyPI) for the named
//! benchmarks that judge compression on it: its calibration and evaluation
//! sentences, and the cosine of the pooled embedding to the fp32 model's.

use std::path::PathBuf;

use squish::formats::data::feeds::text_feeds;
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::formats::tokenizer::Tokenizer;
use squish::{Model, Session, Tensor};

/// The pooled sentence embedding (`461`, [batch, 384]).
pub const POOLED: usize = 3;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn paths() -> (PathBuf, PathBuf) {
    let model = std::env::var_os("SQUISH_MINILM").map(PathBuf::from).unwrap_or_else(|| repo().join(".cache/models/paraphrase_minilm_l3/model.onnx"));
    let dir = std::env::var_os("SQUISH_MINILM_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared/models/paraphrase_minilm_l3"));
    (model, dir)
}

pub type Feed = Vec<(String, Tensor)>;

pub fn sentences(dir: &std::path::Path, model: &Model) -> (Vec<Feed>, Vec<Feed>) {
    let tok = Tokenizer::from_json(&std::fs::read_to_string(dir.join("tokenizer.json")).unwrap()).unwrap();
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sentences.json")).unwrap()).unwrap();
    let texts = |key: &str| -> Vec<String> { s[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect() };
    let feeds = |key: &str| text_feeds(model, &tok, &texts(key), Some(128)).unwrap();
    (feeds("calibration"), feeds("eval"))
}

pub fn embeddings(model: &Model, eval: &[Feed]) -> Vec<Vec<f64>> {
    let model = load_model(&model_to_bytes(model)).unwrap(); // what the user downloads
    let session = Session::new(model).unwrap();
    eval.iter().map(|feed| session.run(feed.clone()).unwrap().outputs[POOLED].1.to_f64_vec()).collect()
}

pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt())
}

/// The model, read from disk (the message says how to fetch it).
pub fn load() -> (Vec<u8>, Model) {
    let (model_path, _) = paths();
    let bytes = std::fs::read(&model_path).unwrap_or_else(|e| panic!("{}: {e} (run ../shared/models/paraphrase_minilm_l3/fetch.sh)", model_path.display()));
    let model = load_model(&bytes).unwrap();
    (bytes, model)
}

/// Minimum and mean of the cosines of `got` to `want`, pairwise.
pub fn min_mean_cosine(got: &[Vec<f64>], want: &[Vec<f64>]) -> (f64, f64) {
    let cos: Vec<f64> = got.iter().zip(want).map(|(p, o)| cosine(p, o)).collect();
    (cos.iter().cloned().fold(f64::INFINITY, f64::min), cos.iter().sum::<f64>() / cos.len() as f64)
}

/// The model with its calibration and evaluation sentences, and the fp32
/// pooled embeddings of the evaluation sentences.
pub struct Setup {
    pub bytes: Vec<u8>,
    pub model: Model,
    pub calibration: Vec<Feed>,
    pub eval: Vec<Feed>,
    pub original: Vec<Vec<f64>>,
}

pub fn setup() -> Setup {
    let (bytes, model) = load();
    let (_, dir) = paths();
    let (calibration, eval) = sentences(&dir, &model);
    let original = embeddings(&model, &eval);
    Setup { bytes, model, calibration, eval, original }
}
