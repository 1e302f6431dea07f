#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! Pruning on the digits classifier: the acceptance figures of the pruning
//! issue (accuracy after 50% global magnitude pruning; Wanda and the
//! reconstruction method closer to the original than magnitude), N:M
//! patterns, composition with quantisation, and bad recipes.

mod common;

use common::read;
use squish::compress::{compress, Recipe, Record};
use squish::formats::data::npy::read_npy;
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::kernels::stats::kl_divergence;
use squish::{Model, Session, Tensor};

fn digits() -> Model {
    load_model(&read("digits_mlp/model.onnx")).unwrap()
}

/// The training split, one calibration sample of batch 1000.
fn training() -> Vec<Vec<(String, Tensor)>> {
    vec![vec![("X".into(), read_npy(&read("digits_mlp/X_train.npy")).unwrap())]]
}

fn probabilities(model: &Model) -> Vec<Vec<f64>> {
    let model = load_model(&model_to_bytes(model)).unwrap(); // what the user downloads
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let out = Session::new(model).unwrap().run(vec![("X".into(), x)]).unwrap();
    out.outputs[0].1.to_f64_vec().chunks_exact(10).map(|c| c.to_vec()).collect()
}

fn accuracy(p: &[Vec<f64>]) -> f64 {
    let y = read_npy(&read("digits_mlp/y_test.npy")).unwrap().to_i64_vec().unwrap();
    let right = p.iter().zip(&y).filter(|(row, &l)| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as i64 == l).count();
    right as f64 / y.len() as f64
}

fn mean_kl(original: &[Vec<f64>], pruned: &[Vec<f64>]) -> f64 {
    original.iter().zip(pruned).map(|(p, q)| kl_divergence(p, q)).sum::<f64>() / original.len() as f64
}

fn pruned(recipe: &str) -> (Model, Record) {
    compress(&digits(), &Recipe::from_json(recipe).unwrap(), &training()).unwrap_or_else(|e| panic!("{recipe}: {e}"))
}

/// Share of zeros over every MatMul weight of the model.
fn zero_share(model: &Model) -> f64 {
    let weights: Vec<&Tensor> = model.graph.nodes.iter().filter(|n| n.op_type == "MatMul").filter_map(|n| model.graph.initializer(&n.inputs[1])).collect();
    let total: usize = weights.iter().map(|t| t.len()).sum();
    let zeros: usize = weights.iter().map(|t| t.to_f64_vec().iter().filter(|v| **v == 0.0).count()).sum();
    zeros as f64 / total as f64
}

#[test]
fn digits_acceptance_figures() {
    let original = probabilities(&digits());
    let (global, record) = pruned(r#"{"prune":{"method":"magnitude","sparsity":0.5,"scope":"global"}}"#);
    let acc = accuracy(&probabilities(&global));
    let zeros = zero_share(&global);
    println!("50% global magnitude: accuracy {acc:.4}, {:.1}% of all weights zero", 100.0 * zeros);
    assert!(acc >= 0.964, "accuracy {acc}");
    assert!(zeros >= 0.45, "{zeros}");
    let kept = record.kept.iter().find(|k| k.node == "MatMul2").expect("the classifier is kept dense");
    assert!(kept.reason.contains("final classifier"), "{}", kept.reason);
    let mut kl = Vec::new();
    for method in ["magnitude", "wanda", "sparsegpt"] {
        let (m, record) = pruned(&format!(r#"{{"prune":{{"method":"{method}","sparsity":0.5}}}}"#));
        let p = probabilities(&m);
        let e = &record.entries[0];
        assert!((e.sparsity - 0.5).abs() < 0.01 && e.sparse_bytes.unwrap() < e.bytes_after, "{method}: {e:?}");
        assert!(e.gzip_bytes.unwrap() < e.bytes_after, "{method}: gzip {:?} of {}", e.gzip_bytes, e.bytes_after);
        let h = e.histogram.as_ref().unwrap();
        let total: u32 = h.before.iter().sum();
        assert_eq!(total as usize * 4, e.bytes_before, "{method}: every weight is in a bin: {h:?}");
        assert_eq!(h.after.iter().sum::<u32>() as usize + h.zeros_after, total as usize);
        // The smallest weights go: the middle bins empty out.
        assert!(h.after[h.after.len() / 2] < h.before[h.before.len() / 2] / 4, "{method}: {h:?}");
        kl.push(mean_kl(&original, &p));
        println!("{method:10} 50% per layer: accuracy {:.4}, mean KL to the original {:.5}", accuracy(&p), kl.last().unwrap());
    }
    assert!(kl[1] < kl[0] && kl[2] < kl[0], "Wanda {} and reconstruction {} vs magnitude {}", kl[1], kl[2], kl[0]);
}

/// N:M patterns leave at least M − N zeros in every group of M consecutive
/// inputs of every output, for each criterion.
#[test]
fn n_of_m_patterns_hold_in_every_group() {
    for method in ["magnitude", "wanda", "sparsegpt"] {
        for (pattern, n, m) in [("2:4", 2, 4), ("4:8", 4, 8)] {
            let (model, _) = pruned(&format!(r#"{{"prune":{{"method":"{method}","pattern":"{pattern}","include_classifier":true}}}}"#));
            for node in model.graph.nodes.iter().filter(|n| n.op_type == "MatMul") {
                let w = model.graph.initializer(&node.inputs[1]).unwrap();
                let (k, cols) = (w.shape()[0], w.shape()[1]);
                let v = w.to_f64_vec();
                for out in 0..cols {
                    for g in (0..k).step_by(m) {
                        let zeros = (g..g + m).filter(|&i| v[i * cols + out] == 0.0).count();
                        assert!(zeros >= m - n, "{method} {pattern}: output {out}, inputs {g}..{}: {zeros} zeros", g + m);
                    }
                }
            }
        }
    }
}

/// Pruning then quantising in one recipe: the int8 weights keep the zeros.
#[test]
fn pruned_zeros_survive_quantisation() {
    let (model, record) = pruned(r#"{"prune":{"method":"wanda","sparsity":0.6},"quantize":{"scheme":"int8_weight"}}"#);
    for p in record.entries.iter().filter(|e| e.method == "prune") {
        let q = record.entries.iter().find(|e| e.method == "quantize" && e.tensor == p.tensor).expect("the pruned tensor is quantised");
        assert!(q.sparsity >= p.sparsity, "{}: pruned {} → int8 {}", p.tensor, p.sparsity, q.sparsity);
    }
    assert!(accuracy(&probabilities(&model)) > 0.9);
    let canonical = &record.recipe;
    assert!(canonical.contains(r#""steps":[{"prune":"#) && canonical.contains(r#"{"quantize":"#), "{canonical}");
}

#[test]
fn bad_prune_recipes_name_the_field() {
    let err = |text: &str, calib: bool| -> String {
        match Recipe::from_json(text) {
            Err(e) => e.to_string(),
            Ok(r) => {
                let data = if calib { training() } else { Vec::new() };
                compress(&digits(), &r, &data).map(|_| ()).unwrap_err().to_string()
            }
        }
    };
    assert!(err(r#"{"prune":{"sparsity":1.0}}"#, true).contains("sparsity must be in [0, 1), got 1"));
    assert!(err(r#"{"prune":{"method":"magnitude"}}"#, true).contains("needs \"sparsity\""));
    assert!(err(r#"{"prune":{"pattern":"2:4","sparsity":0.3}}"#, true).contains("contradicts pattern \"2:4\""));
    assert!(
        err(r#"{"prune":{"pattern":"channels","sparsity":0.3,"method":"sparsegpt"}}"#, true).contains("pattern \"channels\" takes \"magnitude\" or \"wanda\"")
    );
    assert!(err(r#"{"prune":{"method":"wanda","sparsity":0.5}}"#, false).contains("needs calibration inputs"));
    assert!(err(r#"{"prune":{"sparsity":0.5,"layers":{"nope":{"sparsity":0.1}}}}"#, true).contains("node 'nope' does not exist"));
    assert!(err(r#"{"prune":{"sparsity":0.5,"scope":"global","method":"sparsegpt"}}"#, true).contains("scope \"global\""));
    assert!(err(r#"{"prune":{"sparsity":0.5,"bogus":1}}"#, true).contains("section 'prune': unknown field `bogus`"));
    let wrong = Tensor::from_vec(&[2, 63], vec![0.0f32; 126]).unwrap();
    let e = compress(&digits(), &Recipe::from_json(r#"{"prune":{"method":"wanda","sparsity":0.5}}"#).unwrap(), &[vec![("X".into(), wrong)]]).unwrap_err();
    assert!(e.to_string().contains("calibration") && e.to_string().contains("'X'"), "{e}");
}

/// The face-landmark CNN (`mtcnn_onet`): convolutions and Gemms pruned, the
/// first convolution (27 inputs per output) skipped by 2:4 with the reason,
/// the three output heads kept, and Wanda closer to the original than
/// magnitude at 50%.
#[test]
fn cnn_layers_are_pruned_and_the_ones_that_cannot_be_say_why() {
    let onet = || load_model(&read("mtcnn_onet/model.onnx")).unwrap();
    let feed = vec![common::read_pb("mtcnn_onet/test_data_set_0/input_0.pb")];
    let run = |m: &Model| -> Vec<f64> {
        let m = load_model(&model_to_bytes(m)).unwrap();
        Session::new(m).unwrap().run(feed.clone()).unwrap().outputs.iter().flat_map(|(_, t)| t.to_f64_vec()).collect()
    };
    let original = run(&onet());
    let prune = |recipe: &str| compress(&onet(), &Recipe::from_json(recipe).unwrap(), std::slice::from_ref(&feed)).unwrap_or_else(|e| panic!("{recipe}: {e}"));

    let (m, record) = prune(r#"{"prune":{"method":"magnitude","pattern":"2:4"}}"#);
    let pruned: Vec<&str> = record.entries.iter().map(|e| e.node.as_str()).collect();
    assert_eq!(pruned, ["/conv2/Conv", "/conv3/Conv", "/conv4/Conv", "/dense5/Gemm"]);
    let conv1 = record.kept.iter().find(|k| k.node == "/conv1/Conv").expect("conv1 is kept");
    assert!(conv1.reason.contains("27 inputs per output are not a multiple of 4"), "{}", conv1.reason);
    assert_eq!(record.kept.iter().filter(|k| k.reason.contains("final classifier")).count(), 3, "{:?}", record.kept);
    assert!(record.entries.iter().all(|e| (e.sparsity - 0.5).abs() < 1e-9), "{:?}", record.entries);
    assert!(run(&m).iter().all(|v| v.is_finite()));
    // Named explicitly for the layer, the same pattern is an error naming it.
    let explicit = Recipe::from_json(r#"{"prune":{"method":"magnitude","pattern":"2:4","layers":{"/conv1/Conv":{"pattern":"2:4"}}}}"#).unwrap();
    let e = compress(&onet(), &explicit, &[]).unwrap_err().to_string();
    assert!(e.contains("'/conv1/Conv' (Conv) cannot take pattern \"2:4\""), "{e}");

    let error = |recipe: &str| -> f64 {
        let got = run(&prune(recipe).0);
        got.iter().zip(&original).map(|(g, o)| (g - o).powi(2)).sum::<f64>()
    };
    let magnitude = error(r#"{"prune":{"method":"magnitude","sparsity":0.5}}"#);
    let wanda = error(r#"{"prune":{"method":"wanda","sparsity":0.5}}"#);
    println!("mtcnn_onet 50%: squared output error magnitude {magnitude:.5}, wanda {wanda:.5}");
    assert!(wanda < magnitude, "wanda {wanda} vs magnitude {magnitude}");
}

/// The sparsity scan: each curve point (one layer pruned alone, only the
/// part of the model after it re-run) equals pruning that layer alone in
/// the whole model; the suggestion reaches the target share.
#[test]
fn sparsity_scan_matches_whole_model_pruning_and_reaches_the_target() {
    use squish::compare::sensitivity::{class_output, outcome};
    use squish::compare::sparsity_scan::{Scan, LEVELS};
    let feeds = training();
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let eval: Vec<Vec<(String, Tensor)>> = vec![vec![("X".into(), x)]];
    let recipe = Recipe::from_json(r#"{"prune":{"method":"wanda","sparsity":0.6,"include_classifier":true}}"#).unwrap();
    let mut scan = Scan::new(digits(), recipe.clone(), eval.clone()).unwrap();
    let layers = scan.layers();
    assert_eq!(layers, ["MatMul", "MatMul1", "MatMul2"]);
    let run = |m: &Model| -> Vec<Vec<Tensor>> {
        let s = Session::new(m.clone()).unwrap();
        eval.iter().map(|f| s.run(f.clone()).unwrap().outputs.into_iter().map(|(_, t)| t).collect()).collect()
    };
    let reference = run(&digits());
    let class = class_output(&reference[0]);
    for i in 0..layers.len() {
        let curve = scan.measure(i).unwrap().clone();
        assert_eq!(curve.outcomes.len(), LEVELS.len());
        for (k, level) in LEVELS.iter().enumerate() {
            let others: Vec<String> = layers.iter().filter(|l| **l != layers[i]).map(|l| format!("\"{l}\"")).collect();
            let one = format!(r#"{{"prune":{{"method":"wanda","sparsity":{level},"include_classifier":true,"exclude":{{"nodes":[{}]}}}}}}"#, others.join(","));
            let (m, _) = compress(&digits(), &Recipe::from_json(&one).unwrap(), &eval).unwrap();
            let whole = outcome(&reference, &run(&m), class);
            let got = curve.outcomes[k];
            assert!(
                (got.error - whole.error).abs() <= 1e-6 * (1.0 + whole.error),
                "{} at {level}: scan {} vs whole model {}",
                layers[i],
                got.error,
                whole.error
            );
            assert_eq!(got.agreement, whole.agreement, "{} at {level}", layers[i]);
        }
        assert!(curve.outcomes[5].error > curve.outcomes[0].error, "{curve:?}");
    }
    let (result, suggested) = scan.finish().unwrap();
    assert!((result.achieved - 0.6).abs() < 1e-9, "{result:?}");
    let text = suggested.to_json();
    assert!(text.contains(r#""layers":{"MatMul":{"sparsity":"#), "{text}");
    // The suggested recipe runs and prunes each layer as suggested.
    let (_, record) = compress(&digits(), &suggested, &feeds).unwrap();
    for (node, s) in &result.suggested {
        let e = record.entries.iter().find(|e| &e.node == node);
        assert!(e.map_or(*s == 0.0, |e| (e.sparsity - s).abs() < 0.03), "{node}: {s} vs {:?}", e.map(|e| e.sparsity));
    }
    println!("digits wanda scan: {:?}, achieved {:.3}", result.suggested, result.achieved);
}

/// `"storage": "sparse_initializer"`: the pruned weights are written as ONNX
/// sparse initializers (the file shrinks), load back bit for bit, and the
/// model computes the same outputs; at 50% (where sparse is larger) they
/// stay dense.
#[test]
fn sparse_initializer_storage_shrinks_the_file_and_round_trips() {
    use squish::formats::onnx::proto::ModelProto;
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let feed = vec![("X".to_string(), x)];
    for (sparsity, expect_sparse) in [(0.9, true), (0.5, false)] {
        let dense = Recipe::from_json(&format!(r#"{{"prune":{{"sparsity":{sparsity},"include_classifier":true}}}}"#)).unwrap();
        let sparse = Recipe::from_json(&format!(r#"{{"prune":{{"sparsity":{sparsity},"include_classifier":true,"storage":"sparse_initializer"}}}}"#)).unwrap();
        let (a, _) = compress(&digits(), &dense, &[]).unwrap();
        let (b, _) = compress(&digits(), &sparse, &[]).unwrap();
        let (bytes_a, bytes_b) = (model_to_bytes(&a), model_to_bytes(&b));
        let stored = <ModelProto as prost::Message>::decode(&bytes_b[..]).unwrap().graph.unwrap().sparse_initializer.len();
        assert_eq!(stored, if expect_sparse { 3 } else { 0 }, "{sparsity}");
        if expect_sparse {
            assert!(bytes_b.len() * 2 < bytes_a.len(), "{sparsity}: {} vs {} bytes", bytes_b.len(), bytes_a.len());
        }
        let back = load_model(&bytes_b).unwrap();
        for (name, t) in &a.graph.initializers {
            let got = back.graph.initializer(name).unwrap_or_else(|| panic!("{name} lost"));
            assert_eq!(
                got.to_f64_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                t.to_f64_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{name}"
            );
        }
        // Saved again, the sparse form is kept.
        assert_eq!(model_to_bytes(&back), bytes_b);
        let run = |m: &Model| Session::new(m.clone()).unwrap().run(feed.clone()).unwrap().outputs[0].1.to_f64_vec();
        assert_eq!(run(&a), run(&back));
        println!("digits {sparsity}: dense storage {} bytes, sparse_initializer {} bytes", bytes_a.len(), bytes_b.len());
    }
}
