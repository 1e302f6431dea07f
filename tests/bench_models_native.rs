#![cfg(not(target_arch = "wasm32"))] // reads models from disk
//! The timing models (random weights) run and match onnxruntime's outputs
//! within max |Δ| ≤ 1e-4·(1 + |ref|). The models are too large for the
//! repository, so these tests are `#[ignore]`d in a plain `cargo test`.
//! `npm test` runs them (its `bench-models` layer) whenever
//! `../shared/bench-models` (or `$SQUISH_BENCH_MODELS`) exists, after writing
//! onnxruntime's references with `scripts/make_references.py`; alone:
//! `npm run test:bench-models`. Run without the models they fail, naming
//! what is missing.

mod common;

use std::path::PathBuf;

use common::worst_excess;
use squish::formats::onnx::{proto, tensor_io};
use squish::load_session;

const HOW: &str = "run them with `npm run test:bench-models` (needs ../shared/bench-models or SQUISH_BENCH_MODELS)";

fn dirs() -> (PathBuf, PathBuf) {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from).unwrap_or_else(|| panic!("{name} is not set: {HOW}"));
    let (models, refs) = (var("SQUISH_BENCH_MODELS"), var("SQUISH_BENCH_REFS"));
    assert!(models.is_dir(), "no timing models: folder {} does not exist; {HOW}", models.display());
    (models, refs)
}

fn read_pb(path: PathBuf) -> (String, squish::Tensor) {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tp = proto::decode_tensor(&bytes).unwrap();
    (tp.name.clone(), tensor_io::tensor_from_proto(&tp).unwrap())
}

fn check(name: &str) {
    let (models, refs) = dirs();
    let path = models.join(format!("{name}.onnx"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let session = load_session(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let data = refs.join(name).join("test_data_set_0");
    let inputs: Vec<_> = (0..).map(|j| data.join(format!("input_{j}.pb"))).take_while(|p| p.exists()).map(read_pb).collect();
    let outputs: Vec<_> = (0..).map(|j| data.join(format!("output_{j}.pb"))).take_while(|p| p.exists()).map(read_pb).collect();
    assert!(!outputs.is_empty(), "{name}: no reference outputs in {}", data.display());
    let got = session.run(inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.outputs.len(), outputs.len(), "{name}: output count");
    for ((gname, g), (_, want)) in got.outputs.iter().zip(&outputs) {
        assert_eq!(g.shape(), want.shape(), "{name}/{gname} shape");
        let excess = worst_excess(&g.to_f64_vec(), &want.to_f64_vec(), 1e-4);
        assert!(excess <= 0.0, "{name}/{gname}: exceeds 1e-4·(1+|ref|) by {excess}");
    }
}

#[test]
#[ignore = "needs the timing models: npm run test:bench-models"]
fn mlp_b32() {
    check("mlp_b32");
}

#[test]
#[ignore = "needs the timing models: npm run test:bench-models"]
fn mobilenetv2() {
    check("mobilenetv2");
}

#[test]
#[ignore = "needs the timing models: npm run test:bench-models"]
fn mobilenetv2_int8qdq() {
    check("mobilenetv2_int8qdq");
}

#[test]
#[ignore = "needs the timing models: npm run test:bench-models"]
fn bert_minilm() {
    check("bert_minilm");
}
