#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! Compare and diagnose on the digits classifier: a deliberately destructive
//! recipe (int4, one scale per tensor, every layer), the diagnosis finds the
//! damaged layer, and the suggested exclusion list raises agreement.

mod common;

use common::read;
use squish::compare::sensitivity::{self, Study};
use squish::compare::{compare, markdown, Feed, Inputs, Options};
use squish::compress::{compress, Recipe};
use squish::formats::data::feeds::{bind, random_feeds, RandomSpec};
use squish::formats::data::npy::read_npy;
use squish::formats::data::npz::read_npz;
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::{Model, Session, Tensor};

const DESTRUCTIVE: &str = r#"{"scheme":"int4_weight","per_channel":false}"#;

fn digits() -> Model {
    load_model(&read("digits_mlp/model.onnx")).unwrap()
}

fn test_feed() -> Vec<Feed> {
    vec![vec![("X".into(), read_npy(&read("digits_mlp/X_test.npy")).unwrap())]]
}

fn labels() -> Tensor {
    read_npy(&read("digits_mlp/y_test.npy")).unwrap()
}

fn session(m: &Model) -> Session {
    // Through bytes: the file the user downloads is what is compared.
    Session::for_comparison(load_model(&model_to_bytes(m)).unwrap()).unwrap()
}

fn quiet() -> impl FnMut(&str, usize, usize) {
    |_: &str, _: usize, _: usize| {}
}

#[test]
fn destructive_recipe_is_diagnosed_and_the_exclusion_list_repairs_it() {
    let original = digits();
    let recipe = Recipe::from_json(DESTRUCTIVE).unwrap();
    let (damaged, record) = compress(&original, &recipe, &[]).unwrap();
    assert_eq!(record.entries.len(), 3, "every MatMul is compressed: {:?}", record.entries);
    let opts = Options { latency_runs: 0, ..Options::default() };
    let report =
        compare(&session(&original), &session(&damaged), Inputs::new(&test_feed()).labels(Some(&labels())), Some(&record), &opts, &mut quiet()).unwrap();
    let out = &report.outputs[0];
    let c = out.classification.as_ref().expect("probabilities are a classification");
    assert_eq!(out.examples, 450);
    assert!((c.accuracy_original.unwrap() - 0.9778).abs() < 1e-3, "{:?}", c.accuracy_original);
    println!("int4 per-tensor: agreement {:.4}, accuracy {:?}, {} flipped", c.top1_agreement, c.accuracy_compressed, c.flipped_count);
    assert!(c.top1_agreement < 0.99, "the recipe must actually damage the model: {}", c.top1_agreement);
    assert_eq!(c.flipped_count, ((1.0 - c.top1_agreement) * 450.0).round() as usize);

    // Ground truth for "damaged most": the layer whose weights lost most
    // (lowest SQNR of the dequantised weight against the original).
    let weights: Vec<(String, String)> = record.entries.iter().map(|c| (c.node.clone(), c.tensor.clone())).collect();
    let names: Vec<String> = weights.iter().map(|(_, t)| t.clone()).collect();
    let dq = Session::observing(&damaged, &names).unwrap().run(test_feed().remove(0)).unwrap().outputs;
    let weight_sqnr = |tensor: &str| {
        let w = original.graph.initializer(tensor).unwrap().to_f64_vec();
        let q = dq.iter().find(|(n, _)| n == tensor).unwrap().1.to_f64_vec();
        let noise: f64 = w.iter().zip(&q).map(|(a, b)| (a - b) * (a - b)).sum();
        squish::compare::metrics::sqnr_db(w.iter().map(|a| a * a).sum(), noise)
    };
    let mut by_weight: Vec<(f64, String)> = weights.iter().map(|(n, t)| (weight_sqnr(t), n.clone())).collect();
    by_weight.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!("weight SQNR: {by_weight:?}");
    let worst = &by_weight[0].1;
    assert!(by_weight[1].0 - by_weight[0].0 > 0.5, "the test needs a clearly worst layer: {by_weight:?}");

    // The diagnosis ranks that layer first among the places where error enters.
    let diag = report.layers.as_ref().unwrap();
    for t in diag.entry_points.iter().take(5) {
        println!(
            "  entry {} ({}) local {:.1} dB, cumulative {:.1} → {:.1} dB, compressed {}",
            t.node, t.op_type, t.local_sqnr_db, t.input_sqnr_db, t.sqnr_db, t.compressed
        );
    }
    let first = &diag.entry_points[0];
    assert_eq!(&first.node, worst, "diagnosis puts {} first; the weights say {worst}", first.node);
    assert!(first.compressed);
    // Only compressed layers introduce error (Relu, Add, Softmax pass it on).
    assert!(diag.entry_points.iter().all(|t| t.compressed || t.op_type != "MatMul"));
    assert!(diag.unaligned.is_empty(), "names are kept by compression: {:?}", diag.unaligned);

    // Sensitivity: restore each layer alone, measure the output error removed.
    let study = Study::new(original.clone(), recipe.clone(), vec![], test_feed()).unwrap();
    let sens = sensitivity::run(&study, &mut quiet()).unwrap();
    for l in &sens.ranked {
        println!("  {} restore gain {:.4e}, only-this error {:.4e}, restored agreement {:?}", l.node, l.restore_gain, l.only_this.error, l.restored.agreement);
    }
    assert_eq!(sens.ranked.len(), 3);
    assert!((sens.baseline.agreement.unwrap() - c.top1_agreement).abs() < 1e-9);

    // One click: keep the suggested layers in fp32, recompress, compare again.
    assert!(!sens.exclusion.is_empty());
    let fixed = sensitivity::suggested_recipe(&recipe, &sens);
    assert!(fixed.to_json().contains(&format!(r#""exclude":{{"nodes":["{}"]}}"#, sens.exclusion[0])), "{}", fixed.to_json());
    let (repaired, _) = compress(&original, &fixed, &[]).unwrap();
    let again = compare(&session(&original), &session(&repaired), Inputs::new(&test_feed()).labels(Some(&labels())), None, &opts, &mut quiet()).unwrap();
    let c2 = again.outputs[0].classification.as_ref().unwrap();
    println!("after excluding {:?}: agreement {:.4}", sens.exclusion, c2.top1_agreement);
    assert!(c2.top1_agreement > c.top1_agreement, "{} → {}", c.top1_agreement, c2.top1_agreement);

    let md = markdown::render(&report);
    assert!(md.contains("## Where the error enters") && md.contains(worst.as_str()));
    // The JSON report serialises (no NaN/inf: SQNR is capped).
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"entry_points\"") && !json.contains("NaN"));
}

#[test]
fn identical_models_compare_as_identical() {
    let m = digits();
    let opts = Options { latency_runs: 2, warmup_runs: 1, ..Options::default() };
    let r = compare(&session(&m), &session(&m), Inputs::new(&test_feed()), None, &opts, &mut quiet()).unwrap();
    let c = r.outputs[0].classification.as_ref().unwrap();
    assert_eq!(c.top1_agreement, 1.0);
    assert_eq!(c.flipped_count, 0);
    assert_eq!(c.kl_max, 0.0);
    assert_eq!(r.outputs[0].regression.sqnr_db, squish::compare::metrics::SQNR_CAP_DB);
    assert!(r.layers.as_ref().unwrap().entry_points.is_empty());
    assert!(r.latency.as_ref().unwrap().original_median_ms > 0.0);
}

#[test]
fn random_inputs_are_seeded_and_checked() {
    let m = digits();
    let spec: RandomSpec = serde_json::from_str(r#"{"seed": 7, "count": 3, "dims": {"N": 5}, "default_dim": 4}"#).unwrap();
    let a = random_feeds(&m, &spec).unwrap();
    let b = random_feeds(&m, &spec).unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a[0][0].1.shape(), &[4, 64]);
    assert_eq!(a[1][0].1, b[1][0].1);
    assert_ne!(a[0][0].1, a[1][0].1);
    let spec: RandomSpec = serde_json::from_str(r#"{"ranges": {"Y": [0, 1]}}"#).unwrap();
    assert!(random_feeds(&m, &spec).unwrap_err().to_string().contains("input 'Y'"));
    let spec: RandomSpec = serde_json::from_str(r#"{"default_dim": 100000000}"#).unwrap();
    assert!(random_feeds(&m, &spec).unwrap_err().to_string().contains("more than"));
    // Random inputs run through compare.
    let spec: RandomSpec = serde_json::from_str(r#"{"count": 4, "ranges": {"X": [0, 16]}}"#).unwrap();
    let feeds = random_feeds(&m, &spec).unwrap();
    let opts = Options { latency_runs: 0, ..Options::default() };
    let (q, _) = compress(&m, &Recipe::from_json(r#"{"scheme":"int8_dynamic"}"#).unwrap(), &[]).unwrap();
    let r = compare(&session(&m), &session(&q), Inputs::new(&feeds), None, &opts, &mut quiet()).unwrap();
    assert_eq!(r.outputs[0].examples, 4);
}

#[test]
fn npz_inputs_bind_by_name_and_bad_inputs_are_named() {
    let m = digits();
    let arrays = read_npz(&read("compare/digits_inputs.npz")).unwrap();
    let feed = bind(&m, arrays).unwrap();
    assert_eq!(feed[0].0, "X");
    assert_eq!(feed[0].1.shape(), &[3, 64]);
    assert_eq!(feed[0].1.dtype(), squish::DType::F32, "float64 in the file is converted to the declared float32");
    let compressed_npz = read_npz(&read("compare/digits_inputs_compressed.npz")).unwrap();
    assert_eq!(bind(&m, compressed_npz).unwrap()[0].1, feed[0].1);
    assert!(read_npz(b"PK\x03\x04 truncated").unwrap_err().to_string().contains("npz file"));
    let wrong = vec![("Z".to_string(), Tensor::from_vec(&[1, 64], vec![0f32; 64]).unwrap())];
    assert!(bind(&m, wrong).unwrap_err().to_string().contains("input 'Z': the model has no such input (it takes: X)"));
    // Labels that do not fit the examples are named as labels.
    let opts = Options { latency_runs: 0, layers: false, ..Options::default() };
    let bad = Tensor::from_vec(&[2], vec![1i64, 2]).unwrap();
    let err = compare(&session(&m), &session(&m), Inputs::new(&test_feed()).labels(Some(&bad)), None, &opts, &mut quiet()).unwrap_err();
    assert!(err.to_string().contains("labels file: 2 values for 450 examples"), "{err}");
    // A compressed model with other inputs is refused, not run.
    let mut other = m.clone();
    other.graph.inputs[0].name = "renamed".into();
    for n in &mut other.graph.nodes {
        for i in &mut n.inputs {
            if i == "X" {
                *i = "renamed".into();
            }
        }
    }
    let err = compare(&session(&m), &session(&other), Inputs::new(&test_feed()), None, &opts, &mut quiet()).unwrap_err();
    assert!(err.to_string().contains("different inputs"), "{err}");
    let err = compare(&session(&m), &session(&m), Inputs::new(&[]), None, &opts, &mut quiet()).unwrap_err();
    assert!(err.to_string().contains("no inputs"), "{err}");
}

/// A text model stand-in: int64 `input_ids` and `attention_mask` of shape
/// [1, seq] (seq symbolic), output `ids * mask` as float.
fn text_model() -> Model {
    use prost::Message;
    use squish::formats::onnx::proto::{
        self,
        tensor_shape_proto::{DimValue, Dimension},
        type_proto, GraphProto, ModelProto, OperatorSetIdProto,
    };
    let vi = |name: &str, elem_type: i32| proto::ValueInfoProto {
        name: name.into(),
        r#type: Some(proto::TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(proto::TensorShapeProto {
                    dim: vec![
                        Dimension { value: Some(DimValue::DimValue(1)), denotation: String::new() },
                        Dimension { value: Some(DimValue::DimParam("seq".into())), denotation: String::new() },
                    ],
                }),
            })),
            denotation: String::new(),
        }),
        ..Default::default()
    };
    let to_float =
        vec![proto::AttributeProto { name: "to".into(), r#type: proto::attribute_type::INT, i: proto::data_type::FLOAT as i64, ..Default::default() }];
    let bytes = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: "text".into(),
            node: vec![
                common::node_with("Mul", "masked", &["input_ids", "attention_mask"], &["m"], vec![]),
                common::node_with("Cast", "to_float", &["m"], &["hidden"], to_float),
            ],
            input: vec![vi("input_ids", proto::data_type::INT64), vi("attention_mask", proto::data_type::INT64)],
            output: vec![vi("hidden", proto::data_type::FLOAT)],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec();
    load_model(&bytes).unwrap()
}

#[test]
fn texts_of_different_lengths_pad_to_the_longest_and_compare() {
    use squish::formats::data::feeds::text_feeds;
    use squish::formats::tokenizer::Tokenizer;
    let m = text_model();
    let tok = Tokenizer::from_json(std::str::from_utf8(&read("text/tokenizer.json")).unwrap()).unwrap();
    let texts: Vec<String> = ["Hello, world!", "The quick brown fox jumps over the lazy dog.", "café"].iter().map(|s| s.to_string()).collect();
    let feeds = text_feeds(&m, &tok, &texts, None).unwrap();
    let longest = tok.encode(&texts[1], None).ids.len();
    for (feed, text) in feeds.iter().zip(&texts) {
        let ids = feed.iter().find(|(n, _)| n == "input_ids").unwrap().1.to_i64_vec().unwrap();
        let mask = feed.iter().find(|(n, _)| n == "attention_mask").unwrap().1.to_i64_vec().unwrap();
        assert_eq!(ids.len(), longest);
        let own = tok.encode(text, None).ids.len();
        assert_eq!(mask.iter().sum::<i64>() as usize, own, "{text}: mask covers its own tokens");
        assert!(ids[own..].iter().all(|&i| i == tok.pad_id() as i64));
    }
    let opts = Options { latency_runs: 0, ..Options::default() };
    let r = compare(&session(&m), &session(&m), Inputs::new(&feeds), None, &opts, &mut quiet()).unwrap();
    assert_eq!(r.outputs[0].examples, 3);
    // Inputs the tokenizer cannot fill are named.
    let err = text_feeds(&digits(), &tok, &texts, None).unwrap_err();
    assert!(err.to_string().contains("input 'X': not a text input"), "{err}");
}

/// Text probes change the texts, tokenise them at the clean input sets'
/// length, and run both models; each figure recomputed here from the
/// tokenizer alone (the stand-in model's output is ids × mask as float).
#[test]
fn text_probes_by_hand() {
    use squish::compare::probes::{perturb_texts, Probe, ProbeOptions};
    use squish::compare::Texts;
    use squish::formats::data::feeds::text_feeds;
    use squish::formats::tokenizer::Tokenizer;
    let m = text_model();
    let tok = Tokenizer::from_json(std::str::from_utf8(&read("text/tokenizer.json")).unwrap()).unwrap();
    let texts: Vec<String> = [
        "The quick brown fox jumps over the lazy dog.",
        "Hello, world! This is a test of the tokenizer.",
        "We run the model on the job it is meant to do.",
        "Short one.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let feeds = text_feeds(&m, &tok, &texts, None).unwrap();
    let length = feeds[0][0].1.shape()[1];
    let probes = ProbeOptions { kinds: vec!["text".into()], severities: vec![1, 3], seed: 5 };
    let opts = Options { latency_runs: 0, layers: false, probes: Some(probes.clone()), ..Options::default() };
    let inputs = Inputs { texts: Some(Texts { tokenizer: &tok, texts: &texts }), ..Inputs::new(&feeds) };
    let r = compare(&session(&m), &session(&m), inputs, None, &opts, &mut quiet()).unwrap();
    let p = r.probes.unwrap();
    assert_eq!((p.figure, p.inputs.clone()), (squish::compare::metrics::Figure::Cosine, vec!["text".to_string()]));
    // The tokenizer lowercases: casing cannot change any input, and the report says so.
    assert_eq!(p.skipped.len(), 1, "{:?}", p.skipped);
    assert!(p.skipped[0].probe == Probe::Case && p.skipped[0].reason.contains("lowercases"), "{:?}", p.skipped);
    assert_eq!(p.rows.len(), 5 * 2);
    let vector = |t: &str| -> Vec<f64> {
        let e = tok.encode(t, Some(length));
        (0..length).map(|i| e.ids.get(i).map_or(0.0, |&v| v as f64)).collect()
    };
    let cosine = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (a.iter().map(|x| x * x).sum::<f64>() * b.iter().map(|x| x * x).sum::<f64>()).sqrt()
    };
    for row in &p.rows {
        let probe = row.probe.unwrap();
        let changed = perturb_texts(&texts, probe, row.severity, 5).unwrap();
        let cos: Vec<f64> = changed.iter().zip(&texts).map(|(c, t)| cosine(&vector(c), &vector(t))).collect();
        let want = cos.iter().sum::<f64>() / cos.len() as f64;
        let moved = changed.iter().zip(&texts).filter(|(c, t)| vector(c) != vector(t)).count() as f64 / texts.len() as f64;
        assert!((row.original - want).abs() < 1e-9 && (row.compressed - want).abs() < 1e-9, "{probe:?} {}: {} vs {want}", row.severity, row.original);
        assert_eq!(row.changed, Some(moved), "{probe:?} {}", row.severity);
        assert!(row.gap.abs() < 1e-12);
    }
    // Harsher truncation keeps fewer words: a lower figure.
    let trunc: Vec<f64> = p.rows.iter().filter(|r| r.probe == Some(Probe::Truncate)).map(|r| r.original).collect();
    assert!(trunc[1] < trunc[0] && trunc[0] < 1.0, "{trunc:?}");
    // Text probes without the texts, or with the wrong number of them, are named errors.
    let typo = Options { probes: Some(ProbeOptions { kinds: vec!["typo".into()], ..probes.clone() }), ..opts.clone() };
    let e = compare(&session(&m), &session(&m), Inputs::new(&feeds), None, &typo, &mut quiet()).unwrap_err().to_string();
    assert!(e.contains("probe 'typo' changes texts before tokenising"), "{e}");
    let short = Inputs { texts: Some(Texts { tokenizer: &tok, texts: &texts[..2] }), ..Inputs::new(&feeds) };
    let e = compare(&session(&m), &session(&m), short, None, &typo, &mut quiet()).unwrap_err().to_string();
    assert!(e.contains("2 texts for 4 input sets"), "{e}");
}
