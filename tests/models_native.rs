#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! Every real model in tests/fixtures runs and matches onnxruntime's recorded
//! outputs within max |Δ| ≤ 1e-4·(1 + |ref|): one test per model.

mod common;

use common::{fixture, read, read_pb, worst_excess};
use squish::load_session;

fn check_model(name: &str) {
    let session = load_session(&read(&format!("{name}/model.onnx"))).unwrap_or_else(|e| panic!("{name}: {e}"));
    let dir = fixture(&format!("{name}/test_data_set_0"));
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for j in 0.. {
        let p = dir.join(format!("input_{j}.pb"));
        if !p.exists() {
            break;
        }
        inputs.push(read_pb(&format!("{name}/test_data_set_0/input_{j}.pb")));
    }
    for j in 0.. {
        let p = dir.join(format!("output_{j}.pb"));
        if !p.exists() {
            break;
        }
        outputs.push(read_pb(&format!("{name}/test_data_set_0/output_{j}.pb")));
    }
    // Test data may omit tensor names: bind by position to the real graph inputs.
    let names: Vec<String> = session.model().graph.real_inputs().map(|v| v.name.clone()).collect();
    let named: Vec<_> = inputs.into_iter().zip(&names).map(|((n, t), g)| (if n.is_empty() { g.clone() } else { n }, t)).collect();
    let got = session.run(named).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.outputs.len(), outputs.len(), "{name}: output count");
    for (i, ((gname, g), (_, want))) in got.outputs.iter().zip(&outputs).enumerate() {
        assert_eq!(g.shape(), want.shape(), "{name} output {i} ({gname}) shape");
        let excess = worst_excess(&g.to_f64_vec(), &want.to_f64_vec(), 1e-4);
        assert!(excess <= 0.0, "{name} output {i} ({gname}): exceeds 1e-4·(1+|ref|) by {excess}");
    }
}

macro_rules! model_tests {
    ($($test:ident => $dir:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            check_model($dir);
        }
    )*};
}

model_tests! {
    digits_mlp => "digits_mlp",
    mtcnn_pnet => "mtcnn_pnet",
    mtcnn_onet => "mtcnn_onet",
    ppocr_cls => "ppocr_cls",
    oww_melspectrogram => "oww_melspectrogram",
    oww_embedding => "oww_embedding",
    oww_hey_jarvis => "oww_hey_jarvis",
    silero_vad_legacy => "silero_vad_legacy",
}

/// `encoded_len` (sizes in the record, the target search) adds up the
/// weights' data without writing it: it must equal the written file, for
/// every fixture and for compressed forms (4-bit codes, float16, sparse
/// initializers, weights inside `If` branches).
#[test]
fn encoded_len_equals_the_written_file() {
    use squish::compress::{compress, Recipe};
    use squish::formats::onnx::{encoded_len, load_model, model_to_bytes};
    let dirs = std::fs::read_dir(fixture("")).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("model.onnx").exists());
    let mut checked = 0;
    for dir in dirs {
        let model = load_model(&std::fs::read(dir.join("model.onnx")).unwrap()).unwrap();
        assert_eq!(encoded_len(&model), model_to_bytes(&model).len(), "{}", dir.display());
        for recipe in [r#"{"scheme":"int4_block"}"#, r#"{"scheme":"fp16"}"#, r#"{"prune":{"sparsity":0.9,"storage":"sparse_initializer"}}"#] {
            let Ok((m, _)) = compress(&model, &Recipe::from_json(recipe).unwrap(), &[]) else { continue };
            assert_eq!(encoded_len(&m), model_to_bytes(&m).len(), "{} {recipe}", dir.display());
            checked += 1;
        }
    }
    assert!(checked >= 12, "{checked}");
}
