#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! Structured pruning (whole channels, whole heads) on the real fixtures.
//!
//! The check that cannot pass by accident: removing a channel must give the
//! same outputs as keeping it and zeroing the input columns of every layer
//! that reads it (the only way a channel reaches the outputs). The record
//! lists exactly which slices went where, so the test builds that zeroed
//! model from the original and runs both.

mod common;

use common::{parameters, read, read_pb, worst_excess, zeroed_reference};
use squish::compress::{compress, Recipe, Record};
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::{Model, Session, Tensor};

fn load(name: &str) -> Model {
    load_model(&read(&format!("{name}/model.onnx"))).unwrap()
}

fn feed(name: &str, model: &Model) -> Vec<(String, Tensor)> {
    let names: Vec<String> = model.graph.real_inputs().map(|v| v.name.clone()).collect();
    let mut out = Vec::new();
    for (j, g) in names.iter().enumerate() {
        let (n, t) = read_pb(&format!("{name}/test_data_set_0/input_{j}.pb"));
        out.push((if n.is_empty() { g.clone() } else { n }, t));
    }
    out
}

fn run(m: &Model, feed: &[(String, Tensor)]) -> Vec<f64> {
    let m = load_model(&model_to_bytes(m)).unwrap(); // what the user downloads
    Session::new(m).unwrap().run(feed.to_vec()).unwrap().outputs.iter().flat_map(|(_, t)| t.to_f64_vec()).collect()
}

/// Prunes `name` by `recipe` and checks the result against the zeroed reference.
fn check(name: &str, recipe: &str) -> (Model, Record) {
    let original = load(name);
    let feed = feed(name, &original);
    let (pruned, record) =
        compress(&original, &Recipe::from_json(recipe).unwrap(), std::slice::from_ref(&feed)).unwrap_or_else(|e| panic!("{name} {recipe}: {e}"));
    assert!(!record.entries.is_empty(), "{name}: nothing pruned; kept: {:?}", record.kept);
    let (before, after) = (parameters(&original), parameters(&pruned));
    assert!(after < before, "{name}: {before} -> {after} parameters");
    let want = run(&zeroed_reference(&original, &record), &feed);
    let got = run(&pruned, &feed);
    assert_eq!(got.len(), want.len(), "{name}: output sizes");
    let excess = worst_excess(&got, &want, 1e-4);
    assert!(excess <= 0.0, "{name} {recipe}: pruned model differs from the zeroed original by {excess} beyond 1e-4·(1+|ref|)");
    let bytes = |m: &Model| model_to_bytes(m).len();
    println!("{name} {recipe}: parameters {before} -> {after}, file {} -> {} bytes", bytes(&original), bytes(&pruned));
    (pruned, record)
}

#[test]
fn removing_channels_equals_zeroing_what_reads_them() {
    for name in ["digits_mlp", "mtcnn_pnet", "mtcnn_onet", "ppocr_cls", "oww_embedding"] {
        for method in ["magnitude", "wanda"] {
            check(name, &format!(r#"{{"prune":{{"method":"{method}","pattern":"channels","sparsity":0.3}}}}"#));
        }
    }
}

mod synthetic {
    use super::common::{floats, node_with, tensor_vi, worst_excess, zeroed_reference};
    use prost::Message;
    use squish::compress::{compress, Recipe};
    use squish::formats::onnx::proto::{self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
    use squish::formats::onnx::{load_model, model_to_bytes};
    use squish::{Model, Session, Tensor};

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto { name: name.into(), r#type: proto::attribute_type::INTS, ints: v.to_vec(), ..Default::default() }
    }
    fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto { name: name.into(), r#type: proto::attribute_type::INT, i: v, ..Default::default() }
    }
    /// Deterministic, distinct weights.
    fn w(name: &str, dims: &[i64], seed: u32) -> TensorProto {
        let n: i64 = dims.iter().product();
        floats(name, dims, (0..n as u32).map(|i| ((i.wrapping_mul(2654435761u32).wrapping_add(seed * 97)) % 1000) as f32 / 500.0 - 1.0).collect())
    }
    fn model(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, x: &[i64], y: &[i64]) -> Model {
        let m = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
            graph: Some(GraphProto { node: nodes, initializer: inits, input: vec![tensor_vi("x", x)], output: vec![tensor_vi("y", y)], ..Default::default() }),
            ..Default::default()
        };
        load_model(&m.encode_to_vec()).unwrap()
    }
    fn input(dims: &[usize]) -> Vec<(String, Tensor)> {
        let n: usize = dims.iter().product();
        vec![("x".into(), Tensor::from_vec(dims, (0..n).map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0).collect::<Vec<f32>>()).unwrap())]
    }

    /// A residual pair, BatchNorm, a depthwise conv, a Concat and a classifier.
    fn cnn() -> Model {
        let pads = || vec![ints("pads", &[1, 1, 1, 1])];
        let nodes = vec![
            node_with("Conv", "conv_a", &["x", "wa", "ba"], &["a"], pads()),
            node_with("BatchNormalization", "bn_a", &["a", "s", "bb", "mean", "var"], &["a_bn"], vec![]),
            node_with("Relu", "relu_a", &["a_bn"], &["a_r"], vec![]),
            node_with("Conv", "dw", &["a_r", "wdw"], &["d"], vec![ints("pads", &[1, 1, 1, 1]), int("group", 8)]),
            node_with("Conv", "conv_b", &["x", "wb"], &["b"], vec![]),
            node_with("Add", "residual", &["d", "b"], &["r"], vec![]),
            node_with("Conv", "conv_c", &["x", "wc"], &["c"], vec![]),
            node_with("Concat", "cat", &["r", "c"], &["cat"], vec![int("axis", 1)]),
            node_with("Conv", "conv_d", &["cat", "wd"], &["e"], vec![]),
            node_with("GlobalAveragePool", "gap", &["e"], &["g"], vec![]),
            node_with("Flatten", "flat", &["g"], &["f"], vec![]),
            node_with("Gemm", "classifier", &["f", "wg"], &["y"], vec![]),
        ];
        let var: Vec<f32> = (0..8).map(|i| 0.5 + i as f32 / 8.0).collect();
        let inits = vec![
            w("wa", &[8, 4, 3, 3], 1),
            w("ba", &[8], 2),
            w("s", &[8], 3),
            w("bb", &[8], 4),
            w("mean", &[8], 5),
            floats("var", &[8], var),
            w("wdw", &[8, 1, 3, 3], 6),
            w("wb", &[8, 4, 1, 1], 7),
            w("wc", &[6, 4, 1, 1], 8),
            w("wd", &[5, 14, 1, 1], 9),
            w("wg", &[5, 3], 10),
        ];
        model(nodes, inits, &[1, 4, 6, 6], &[1, 3])
    }

    fn shape(m: &Model, name: &str) -> Vec<usize> {
        m.graph.initializer(name).unwrap_or_else(|| panic!("no weight {name}")).shape().to_vec()
    }

    #[test]
    fn residual_batchnorm_depthwise_and_concat_shrink_together() {
        let original = cnn();
        let feed = input(&[1, 4, 6, 6]);
        let recipe = Recipe::from_json(r#"{"prune":{"method":"magnitude","pattern":"channels","sparsity":0.5}}"#).unwrap();
        let (pruned, record) = compress(&original, &recipe, std::slice::from_ref(&feed)).unwrap();
        // The residual pair loses the same 4 of 8 channels; conv_c 3 of 6; conv_d 3 of 5.
        assert_eq!(shape(&pruned, "wa"), [4, 4, 3, 3]);
        assert_eq!(shape(&pruned, "wb"), [4, 4, 1, 1]);
        for p in ["ba", "s", "bb", "mean", "var"] {
            assert_eq!(shape(&pruned, p), [4], "{p}");
        }
        assert_eq!(shape(&pruned, "wdw"), [4, 1, 3, 3]);
        assert_eq!(pruned.graph.nodes.iter().find(|n| n.name == "dw").unwrap().int_attr("group", 1), 4);
        assert_eq!(shape(&pruned, "wc"), [3, 4, 1, 1]);
        assert_eq!(shape(&pruned, "wd"), [2, 7, 1, 1]);
        assert_eq!(shape(&pruned, "wg"), [2, 3]);
        let removed = |t: &str, role: &str| -> Vec<usize> {
            record.entries.iter().filter(|e| e.tensor == t).flat_map(|e| &e.removed).filter(|r| r.role == role).flat_map(|r| r.indices.clone()).collect()
        };
        assert_eq!(removed("wa", "produces"), removed("wb", "produces"), "residual partners lose the same channels");
        let cat_cols = removed("wd", "reads");
        assert_eq!(cat_cols.len(), 7);
        assert!(cat_cols.iter().filter(|&&c| c >= 8).count() == 3, "the Concat's second slice is offset by 8: {cat_cols:?}");
        let kept = record.kept.iter().find(|k| k.node == "classifier").expect("the classifier's outputs stay");
        assert!(kept.reason.contains("model's output 'y'"), "{}", kept.reason);
        let run =
            |m: &Model| -> Vec<f64> { Session::new(load_model(&model_to_bytes(m)).unwrap()).unwrap().run(feed.clone()).unwrap().outputs[0].1.to_f64_vec() };
        let excess = worst_excess(&run(&pruned), &run(&zeroed_reference(&original, &record)), 1e-5);
        assert!(excess <= 0.0, "pruned differs from the zeroed original by {excess}");
    }

    #[test]
    fn what_cannot_be_followed_is_left_whole_with_the_reason() {
        let nodes = vec![
            node_with("MatMul", "fc1", &["x", "w1"], &["h"], vec![]),
            node_with("LayerNormalization", "ln", &["h", "g", "b"], &["n"], vec![int("axis", -1)]),
            node_with("MatMul", "fc2", &["n", "w2"], &["y"], vec![]),
        ];
        let m = model(nodes, vec![w("w1", &[8, 8], 1), w("g", &[8], 2), w("b", &[8], 3), w("w2", &[8, 4], 4)], &[1, 3, 8], &[1, 3, 4]);
        let recipe = Recipe::from_json(r#"{"prune":{"method":"magnitude","pattern":"channels","sparsity":0.5}}"#).unwrap();
        let (pruned, record) = compress(&m, &recipe, &[input(&[1, 3, 8])]).unwrap();
        assert!(record.entries.is_empty(), "{:?}", record.entries);
        let fc1 = record.kept.iter().find(|k| k.node == "fc1").expect("fc1 is listed");
        assert!(fc1.reason.contains("normalises over axis 2") && fc1.reason.contains("node 'ln', LayerNormalization"), "{}", fc1.reason);
        assert_eq!(pruned.graph.initializer("w1").unwrap().shape(), [8, 8]);
    }

    #[test]
    fn bad_structured_recipes_name_the_field() {
        let err = |r: &str| Recipe::from_json(r).unwrap_err().to_string();
        assert!(
            err(r#"{"prune":{"method":"sparsegpt","pattern":"channels","sparsity":0.3}}"#).contains("pattern \"channels\" takes \"magnitude\" or \"wanda\"")
        );
        assert!(err(r#"{"prune":{"pattern":"heads","sparsity":0.25,"scope":"global"}}"#).contains("scope \"global\" with pattern \"heads\""));
        assert!(err(r#"{"prune":{"pattern":"heads"}}"#).contains("pattern \"heads\" needs \"sparsity\" (the share of attention heads removed"));
        assert!(err(r#"{"prune":{"pattern":"channels","sparsity":1.0}}"#).contains("sparsity must be in [0, 1), got 1"));
        let mixed = err(r#"{"prune":{"sparsity":0.5,"layers":{"a":{"pattern":"channels"}}}}"#);
        assert!(mixed.contains("layers.a.pattern: structured pruning (\"channels\", \"heads\") is set for the whole section"), "{mixed}");
        // A layer that does not exist is named before anything runs.
        let e = compress(&cnn(), &Recipe::from_json(r#"{"prune":{"pattern":"channels","sparsity":0.5,"layers":{"nope":{"sparsity":0.2}}}}"#).unwrap(), &[])
            .unwrap_err();
        assert!(e.to_string().contains("node 'nope' does not exist"), "{e}");
    }
}

/// Structured pruning then quantisation in one recipe: the slimmer weights quantise and run.
#[test]
fn channels_then_int8_compose() {
    for name in ["mtcnn_onet", "ppocr_cls"] {
        let original = load(name);
        let feed = feed(name, &original);
        let recipe = Recipe::from_json(r#"{"prune":{"method":"wanda","pattern":"channels","sparsity":0.3},"quantize":{"scheme":"int8_dynamic"}}"#).unwrap();
        let (m, record) = compress(&original, &recipe, std::slice::from_ref(&feed)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(record.entries.iter().any(|e| e.method == "quantize") && record.entries.iter().any(|e| !e.removed.is_empty()), "{name}");
        assert!(run(&m, &feed).iter().all(|v| v.is_finite()), "{name}");
    }
}

/// The scan for structured pruning: each curve point equals pruning that
/// group alone (a recipe giving only its producers a sparsity) through
/// `compress`; the suggestion reaches the target and its recipe runs.
#[test]
fn group_scan_matches_pruning_each_group_alone() {
    use squish::compare::sensitivity::{class_output, outcome};
    use squish::compare::sparsity_scan::{Scan, LEVELS};
    let name = "mtcnn_onet";
    let original = load(name);
    let feeds = vec![feed(name, &original)];
    let recipe = r#"{"prune":{"method":"magnitude","pattern":"channels","sparsity":0.3}}"#;
    let mut scan = Scan::new(original.clone(), Recipe::from_json(recipe).unwrap(), feeds.clone()).unwrap();
    let groups = scan.layers();
    assert!(groups.len() >= 4, "{groups:?}");
    let outputs = |m: &Model| -> Vec<Vec<Tensor>> {
        let s = Session::new(m.clone()).unwrap();
        feeds.iter().map(|f| s.run(f.clone()).unwrap().outputs.into_iter().map(|(_, t)| t).collect()).collect()
    };
    let reference = outputs(&original);
    let class = class_output(&reference[0]);
    for i in 0..groups.len() {
        let curve = scan.measure(i).unwrap().clone();
        assert!(curve.weights > 0, "{curve:?}");
        for (k, level) in LEVELS.iter().enumerate().filter(|(k, _)| k % 2 == 0) {
            let layers: Vec<String> = std::iter::once(&curve.node).chain(&curve.coupled).map(|n| format!(r#""{n}":{{"sparsity":{level}}}"#)).collect();
            let one = format!(r#"{{"prune":{{"method":"magnitude","pattern":"channels","sparsity":0,"layers":{{{}}}}}}}"#, layers.join(","));
            let (m, _) = compress(&original, &Recipe::from_json(&one).unwrap(), &feeds).unwrap_or_else(|e| panic!("{one}: {e}"));
            let whole = outcome(&reference, &outputs(&m), class);
            let got = curve.outcomes[k];
            assert!((got.error - whole.error).abs() <= 1e-9 * (1.0 + whole.error), "{} at {level}: scan {} vs compress {}", curve.node, got.error, whole.error);
        }
        assert!(curve.outcomes[5].error > curve.outcomes[0].error, "{curve:?}");
    }
    let (result, suggested) = scan.finish().unwrap();
    assert_eq!(result.unit, "group");
    assert!((result.achieved - 0.3).abs() < 1e-9, "{result:?}");
    let (pruned, _) = compress(&original, &suggested, &feeds).unwrap();
    assert!(parameters(&pruned) < parameters(&original));
    println!("{name} channels scan: {:?}, achieved {:.3}", result.suggested, result.achieved);
}
