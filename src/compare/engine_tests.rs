//! The engine under WebAssembly (Node with the baseline build, Chromium with
//! the relaxed-SIMD build) and natively: fixtures are embedded, so the same
//! checks run everywhere. In the library's own tests (not `tests/`) so that
//! the wasm test layers compile the crate once, not twice; under `compare`,
//! the highest layer they use.

use crate::formats::data::npy::read_npy;
use crate::formats::onnx::{proto, tensor_io};
use crate::{kernels, load_session, Tensor};
use wasm_bindgen_test::wasm_bindgen_test;

const DIGITS: &[u8] = include_bytes!("../../tests/fixtures/digits_mlp/model.onnx");
const DIGITS_IN: &[u8] = include_bytes!("../../tests/fixtures/digits_mlp/test_data_set_0/input_0.pb");
const DIGITS_OUT: &[u8] = include_bytes!("../../tests/fixtures/digits_mlp/test_data_set_0/output_0.pb");
const X_TEST: &[u8] = include_bytes!("../../tests/fixtures/digits_mlp/X_test.npy");
const Y_TEST: &[u8] = include_bytes!("../../tests/fixtures/digits_mlp/y_test.npy");

fn pb(bytes: &[u8]) -> Tensor {
    tensor_io::tensor_from_proto(&proto::decode_tensor(bytes).unwrap()).unwrap()
}

/// Rows of 10 class probabilities whose arg-max equals the label.
fn correct_predictions(probs: &Tensor, labels: &[i64]) -> usize {
    probs.to_f64_vec().chunks_exact(10).zip(labels).filter(|(p, &y)| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as i64 == y).count()
}

#[wasm_bindgen_test(unsupported = test)]
fn digits_outputs_match_onnxruntime_within_1e4() {
    let s = load_session(DIGITS).unwrap();
    let out = s.run(vec![("X".into(), pb(DIGITS_IN))]).unwrap();
    let got = out.outputs[0].1.to_f64_vec();
    let want = pb(DIGITS_OUT).to_f64_vec();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "[{}] element {i}: {g} vs {w}", kernels::active_name());
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn digits_test_accuracy_is_0_9778() {
    let s = load_session(DIGITS).unwrap();
    let labels = read_npy(Y_TEST).unwrap().to_i64_vec().unwrap();
    let out = s.run(vec![("X".into(), read_npy(X_TEST).unwrap())]).unwrap();
    let correct = correct_predictions(&out.outputs[0].1, &labels);
    assert_eq!(correct, 440, "[{}] {correct}/450 correct", kernels::active_name());
}

#[wasm_bindgen_test(unsupported = test)]
fn truncated_model_is_an_error_not_a_trap() {
    for cut in [0, 5, DIGITS.len() / 3, DIGITS.len() - 3] {
        assert!(load_session(&DIGITS[..cut]).is_err(), "cut at {cut}");
    }
}

/// Quantised digits under every kernel set: int8 dynamic runs on the integer
/// GEMM (i16 pairs, or the relaxed sign-split kernel where it is faster),
/// int4 blocks on MatMulNBits; accuracy targets from the quantisation issue.
#[wasm_bindgen_test(unsupported = test)]
fn quantised_digits_keep_their_accuracy() {
    use crate::compress::{compress, Recipe};
    let model = crate::formats::onnx::load_model(DIGITS).unwrap();
    let labels = read_npy(Y_TEST).unwrap().to_i64_vec().unwrap();
    for (recipe, min_correct) in [(r#"{"scheme":"int8_dynamic"}"#, 438), (r#"{"scheme":"int4_block"}"#, 420), (r#"{"scheme":"int8_weight"}"#, 438)] {
        let (q, _) = compress(&model, &Recipe::from_json(recipe).unwrap(), &[]).unwrap();
        let s = crate::Session::new(q).unwrap();
        let out = s.run(vec![("X".into(), read_npy(X_TEST).unwrap())]).unwrap();
        let correct = correct_predictions(&out.outputs[0].1, &labels);
        assert!(correct >= min_correct, "[{}] {recipe}: {correct}/450 correct", kernels::active_name());
    }
}

/// compare under wasm: the SIMD int8 path, the run observer, the clock and
/// gzip all work there; the diagnosis finds the quantised layers.
#[wasm_bindgen_test(unsupported = test)]
fn compare_digits_with_its_int8_variant() {
    use crate::compare::{compare, Inputs, Options};
    use crate::compress::{compress, Recipe};
    let original = crate::formats::onnx::load_model(DIGITS).unwrap();
    let (q, record) = compress(&original, &Recipe::from_json(r#"{"scheme":"int8_dynamic"}"#).unwrap(), &[]).unwrap();
    let (a, b) = (crate::Session::for_comparison(original).unwrap(), crate::Session::for_comparison(q).unwrap());
    let feeds = vec![vec![("X".to_string(), read_npy(X_TEST).unwrap())]];
    let labels = read_npy(Y_TEST).unwrap();
    let opts = Options { latency_runs: 2, warmup_runs: 1, ..Options::default() };
    let r = compare(&a, &b, Inputs::new(&feeds).labels(Some(&labels)), Some(&record), &opts, &mut |_, _, _| {}).unwrap();
    let c = r.outputs[0].classification.as_ref().unwrap();
    assert!(c.top1_agreement > 0.99, "[{}] agreement {}", kernels::active_name(), c.top1_agreement);
    assert!((c.accuracy_original.unwrap() - 0.9778).abs() < 1e-3);
    let entries = &r.layers.as_ref().unwrap().entry_points;
    assert!(!entries.is_empty() && entries.iter().all(|t| t.compressed || t.op_type != "MatMul"));
    assert!(crate::compare::size_of(DIGITS).gzip < DIGITS.len());
}
