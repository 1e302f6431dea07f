#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! One-node models of onnxruntime's transformer fusions (com.microsoft) and
//! of standard-op attribute cases the official node tests leave out, with
//! onnxruntime 1.32 CPU outputs (`scripts/make_op_fixtures.py`, seeded
//! inputs): every output matches in shape and within the named tolerance.

mod common;

use common::{fixture, read, read_pb, worst_excess};
use squish::ir::Dim;
use squish::load_session;

/// Float outputs: max |Δ| ≤ FLOAT_TOL·(1 + |ref|), the bound every fixture
/// model is held to. Integer outputs (mask index, NMS selections) are exact.
const FLOAT_TOL: f64 = 1e-4;

fn check_case(name: &str) {
    let dir = format!("ops/{name}");
    let session = load_session(&read(&format!("{dir}/model.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
    let pbs = |prefix: &str| -> Vec<(String, squish::Tensor)> {
        (0..).map(|j| format!("{dir}/test_data_set_0/{prefix}_{j}.pb")).take_while(|p| fixture(p).exists()).map(|p| read_pb(&p)).collect()
    };
    let (inputs, outputs) = (pbs("input"), pbs("output"));
    let signature: Vec<_> = inputs.iter().map(|(n, t)| (n.clone(), t.dtype(), t.shape().to_vec())).collect();
    let facts = squish::ops::facts::infer_for(session.model(), &signature);
    let got = session.run(inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.outputs.len(), outputs.len(), "{name}: output count");
    for ((gname, g), (_, want)) in got.outputs.iter().zip(&outputs) {
        assert_eq!(g.dtype(), want.dtype(), "{name} output {gname}: dtype");
        assert_eq!(g.shape(), want.shape(), "{name} output {gname}: shape");
        // The op's shape rule agrees with the run wherever it decides.
        if let Some(f) = facts.get(gname) {
            assert!(f.dtype.is_none_or(|d| d == g.dtype()), "{name} output {gname}: rule says {:?}", f.dtype);
            let fixed: Option<Vec<usize>> =
                f.shape.as_ref().and_then(|s| s.iter().map(|d| if let Dim::Fixed(v) = d { Some(*v as usize) } else { None }).collect());
            assert!(fixed.is_none_or(|s| s == g.shape()), "{name} output {gname}: rule says shape {:?}", f.shape);
        }
        let tol = if want.dtype().is_float() { FLOAT_TOL } else { 0.0 };
        let excess = worst_excess(&g.to_f64_vec(), &want.to_f64_vec(), tol);
        assert!(excess <= 0.0, "{name} output {gname}: exceeds {tol}·(1+|ref|) by {excess}\ngot  {:?}\nwant {:?}", g.to_f64_vec(), want.to_f64_vec());
    }
}

macro_rules! op_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                check_case(stringify!($case));
            }
        )*

        /// Every generated case has a test above.
        #[test]
        fn every_fixture_is_listed() {
            let listed = [$(stringify!($case)),*];
            for e in std::fs::read_dir(fixture("ops")).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(listed.contains(&name.as_str()), "tests/fixtures/ops/{name} has no test in tests/ops_native.rs");
            }
        }
    };
}

op_cases! {
    fastgelu_plain,
    fastgelu_bias,
    biasgelu_3d,
    biasgelu_2d,
    quickgelu_default,
    quickgelu_alpha,
    skiplayernorm_full,
    skiplayernorm_gamma_only,
    skiplayernorm_2d_skip,
    embedlayernorm_segments_mask,
    embedlayernorm_sum_out,
    attention_lengths,
    attention_causal_raw_mask,
    attention_qkv_sizes_start_end,
    attention_bias_scale,
    attention_3d_mask,
    attention_past_causal,
    mha_cross_bias_mask2d,
    mha_lengths_scale,
    mha_causal_past,
    mha_bnsh_kv_attention_bias,
    rotary_3d_positions,
    rotary_4d_interleaved_offset,
    rotary_partial_dim,
    gru_lbr1_bidirectional,
    gru_lbr0_reverse_clip,
    rnn_bidirectional_lens,
    einsum_attention_scores,
    einsum_ellipsis_matmul,
    einsum_chain,
    einsum_diagonal_sum,
    einsum_outer_transpose,
    nms_corners_thresholds,
    nms_center_point_box,
}
