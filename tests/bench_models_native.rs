#![cfg(not(target_arch = "wasm32"))] // reads models from disk
//! The timing models (random weights) run and match onnxruntime's outputs
//! within max |Δ| ≤ 1e-4·(1 + |ref|). The models are too large for the
//! repository: `scripts/test.mjs` points SQUISH_BENCH_MODELS at the shared
//! folder when it exists and generates references (scripts/make_references.py)
//! into SQUISH_BENCH_REFS. Without them these tests report "skipped".

mod common;

use std::path::PathBuf;

use common::worst_excess;
use squish::onnx::{proto, tensor_io};
use squish::load_session;

fn dirs() -> Option<(PathBuf, PathBuf)> {
    let models = std::env::var_os("SQUISH_BENCH_MODELS")?;
    let refs = std::env::var_os("SQUISH_BENCH_REFS").expect("SQUISH_BENCH_REFS must accompany SQUISH_BENCH_MODELS");
    Some((PathBuf::from(models), PathBuf::from(refs)))
}

fn read_pb(path: PathBuf) -> (String, squish::Tensor) {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tp = proto::decode_tensor(&bytes).unwrap();
    (tp.name.clone(), tensor_io::tensor_from_proto(&tp).unwrap())
}

fn check(name: &str) {
    let Some((models, refs)) = dirs() else {
        eprintln!("skipped {name}: SQUISH_BENCH_MODELS is not set");
        return;
    };
    let bytes = std::fs::read(models.join(format!("{name}.onnx"))).unwrap();
    let session = load_session(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let data = refs.join(name).join("test_data_set_0");
    let inputs: Vec<_> = (0..).map(|j| data.join(format!("input_{j}.pb"))).take_while(|p| p.exists()).map(read_pb).collect();
    let outputs: Vec<_> = (0..).map(|j| data.join(format!("output_{j}.pb"))).take_while(|p| p.exists()).map(read_pb).collect();
    assert!(!outputs.is_empty(), "{name}: no reference outputs in {}", data.display());
    let got = session.run(inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    for ((gname, g), (_, want)) in got.outputs.iter().zip(&outputs) {
        assert_eq!(g.shape(), want.shape(), "{name}/{gname} shape");
        let excess = worst_excess(&g.to_f64_vec(), &want.to_f64_vec(), 1e-4);
        assert!(excess <= 0.0, "{name}/{gname}: exceeds 1e-4·(1+|ref|) by {excess}");
    }
}

#[test]
fn mlp_b32() {
    check("mlp_b32");
}

#[test]
fn mobilenetv2() {
    check("mobilenetv2");
}

#[test]
fn mobilenetv2_int8qdq() {
    check("mobilenetv2_int8qdq");
}

#[test]
fn bert_minilm() {
    check("bert_minilm");
}
