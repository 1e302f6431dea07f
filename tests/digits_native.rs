#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! The demo model end to end, natively: load, run against onnxruntime's
//! reference outputs, accuracy on the held-out split, save and reload.

mod common;

use common::{read, read_pb, worst_excess};
use squish::formats::data::npy::read_npy;
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::{load_session, Session};

#[test]
fn digits_matches_onnxruntime_reference_outputs() {
    let session = load_session(&read("digits_mlp/model.onnx")).unwrap();
    let (_, x) = read_pb("digits_mlp/test_data_set_0/input_0.pb");
    let (_, want) = read_pb("digits_mlp/test_data_set_0/output_0.pb");
    let out = session.run(vec![("X".into(), x)]).unwrap();
    assert_eq!(out.outputs[0].0, "probabilities");
    assert_eq!(out.outputs[0].1.shape(), want.shape());
    let excess = worst_excess(&out.outputs[0].1.to_f64_vec(), &want.to_f64_vec(), 1e-4);
    assert!(excess <= 0.0, "outputs differ from onnxruntime by more than 1e-4·(1+|ref|): excess {excess}");
    assert!(out.peak_bytes > 0);
}

#[test]
fn digits_accuracy_on_test_split_matches_onnxruntime() {
    let session = load_session(&read("digits_mlp/model.onnx")).unwrap();
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let y = read_npy(&read("digits_mlp/y_test.npy")).unwrap().to_i64_vec().unwrap();
    let reference = read_npy(&read("digits_mlp/ref_probabilities.npy")).unwrap();
    let out = session.run(vec![("X".into(), x)]).unwrap();
    let probs = out.outputs[0].1.to_f64_vec();
    let excess = worst_excess(&probs, &reference.to_f64_vec(), 1e-4);
    assert!(excess <= 0.0, "excess {excess}");
    let correct = probs
        .chunks_exact(10)
        .zip(&y)
        .filter(|(p, &label)| {
            let best = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
            best as i64 == label
        })
        .count();
    let accuracy = correct as f64 / y.len() as f64;
    // The provenance note records 0.9778 in onnxruntime (440/450).
    assert!((accuracy - 0.9778).abs() < 0.0012, "accuracy {accuracy}");
}

#[test]
fn saved_model_reloads_identically_and_gives_same_outputs() {
    let model = load_model(&read("digits_mlp/model.onnx")).unwrap();
    let bytes = model_to_bytes(&model);
    let again = load_model(&bytes).unwrap();
    assert_eq!(model, again);
    let (_, x) = read_pb("digits_mlp/test_data_set_0/input_0.pb");
    let a = Session::new(model).unwrap().run(vec![("X".into(), x.clone())]).unwrap();
    let b = Session::new(again).unwrap().run(vec![("X".into(), x)]).unwrap();
    assert_eq!(a.outputs, b.outputs);
}
