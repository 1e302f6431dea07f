#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! A model whose weights live in an external data file (the digits demo
//! re-saved by scripts/make_external_data_fixture.py): given with its file it
//! loads and answers exactly as the single-file model; a missing or short
//! file is an error naming the tensor and the file.

mod common;

use common::read;
use squish::formats::data::npy::read_npy;
use squish::formats::onnx::external::ExternalFile;
use squish::formats::onnx::{load_model, load_model_owned, load_model_with_external};
use squish::Session;

const DATA: &str = "digits_external.onnx.data";

#[test]
fn external_weights_give_the_same_answers() {
    let data = read("external/digits_external.onnx.data");
    let model = load_model_with_external(read("external/digits_external.onnx"), &[ExternalFile { name: DATA, bytes: &data }]).unwrap();
    let single = load_model(&read("digits_mlp/model.onnx")).unwrap();
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let a = Session::new(model).unwrap().run(vec![("X".into(), x.clone())]).unwrap();
    let b = Session::new(single).unwrap().run(vec![("X".into(), x)]).unwrap();
    assert_eq!(a.outputs[0].1.to_f64_vec(), b.outputs[0].1.to_f64_vec());
}

#[test]
fn a_missing_or_short_data_file_is_named() {
    let err = load_model_owned(read("external/digits_external.onnx")).unwrap_err().to_string();
    assert!(err.contains(DATA) && err.contains("not provided"), "{err}");
    let err = load_model_with_external(read("external/digits_external.onnx"), &[ExternalFile { name: "other.data", bytes: &[1, 2] }]).unwrap_err().to_string();
    assert!(err.contains(DATA) && err.contains("not provided"), "{err}");
    let data = read("external/digits_external.onnx.data");
    let short = &data[..data.len() / 2];
    let err = load_model_with_external(read("external/digits_external.onnx"), &[ExternalFile { name: DATA, bytes: short }]).unwrap_err().to_string();
    assert!(err.contains("past the end of 'digits_external.onnx.data'") && err.contains("truncated"), "{err}");
}
