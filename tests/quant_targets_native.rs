#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! Quantisation that aims at a target: error-compensating rounding
//! (`"rounding": "gptq"`), embedding tables under every scheme (the 4-bit
//! ones as `GatherBlockQuantized`), and SmoothQuant-style equalisation for
//! `int8_static` (`"smooth"`), on the digits classifier and the synthetic
//! text encoder (`scripts/make_text_embedding_fixture.py`).

mod common;

use common::{read, worst_excess};
use squish::compress::quant::smooth::{equalize, Smooth};
use squish::compress::{compress, Recipe};
use squish::formats::data::npy::read_npy;
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::{Model, Session, Tensor};

type Feed = Vec<(String, Tensor)>;

fn text_model() -> Model {
    load_model(&read("synthetic/text_embedding/model.onnx")).unwrap()
}

/// The fixture's inputs and a few more sequences (seeded), as calibration.
fn text_feeds() -> Vec<Feed> {
    common::text_embedding_feeds(6, 0)
}

fn outputs(model: &Model, feeds: &[Feed]) -> Vec<f64> {
    let model = load_model(&model_to_bytes(model)).unwrap();
    let session = Session::new(model).unwrap();
    feeds.iter().flat_map(|f| session.run(f.clone()).unwrap().outputs.into_iter().flat_map(|(_, t)| t.to_f64_vec())).collect()
}

fn rms_error(a: &[f64], b: &[f64]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64).sqrt()
}

fn error_of(model: &Model, recipe: &str, calib: &[Feed]) -> String {
    match Recipe::from_json(recipe) {
        Err(e) => e.to_string(),
        Ok(r) => compress(model, &r, calib).map(|_| ()).unwrap_err().to_string(),
    }
}

/// On the digits classifier, 4-bit weights per channel: GPTQ rounding is
/// closer to the float probabilities than round-to-nearest on held-out digits.
#[test]
fn gptq_rounding_is_closer_than_nearest_on_held_out_digits() {
    let model = load_model(&read("digits_mlp/model.onnx")).unwrap();
    let x = read_npy(&read("digits_mlp/X_train.npy")).unwrap();
    let calib = vec![vec![("X".to_string(), x)]];
    let test = vec![vec![("X".to_string(), read_npy(&read("digits_mlp/X_test.npy")).unwrap())]];
    let reference = outputs(&model, &test);
    let err = |recipe: &str| {
        let (m, record) = compress(&model, &Recipe::from_json(recipe).unwrap(), &calib).unwrap();
        assert!(record.entries.iter().any(|e| e.settings.starts_with("int4_weight")), "{recipe}: {:?}", record.kept);
        rms_error(&outputs(&m, &test), &reference)
    };
    let nearest = err(r#"{"quantize":{"scheme":"int4_weight"}}"#);
    for act_order in [false, true] {
        let gptq = err(&format!(r#"{{"quantize":{{"scheme":"int4_weight","rounding":"gptq","act_order":{act_order}}}}}"#));
        println!("digits int4_weight: nearest rms {nearest:.5}, gptq (act_order {act_order}) {gptq:.5}");
        assert!(gptq < 0.8 * nearest, "act_order {act_order}: gptq {gptq} vs nearest {nearest}");
    }
}

/// Block schemes store the word and position tables as GatherBlockQuantized
/// (QDQ at opset 21); 8-bit schemes per row; the 2×64 token-type table stays
/// float with its reason; the result is what dequantising then gathering gives.
#[test]
fn embedding_tables_are_quantised_under_every_scheme() {
    let model = text_model();
    let feeds = text_feeds();
    let reference = outputs(&model, &feeds);
    for (recipe, op, bytes_at_most) in [
        (r#"{"quantize":{"scheme":"int4_block"}}"#, "GatherBlockQuantized", 0.19),
        (r#"{"quantize":{"scheme":"int8_block","block_size":32}}"#, "GatherBlockQuantized", 0.32),
        (r#"{"quantize":{"scheme":"int8_dynamic"}}"#, "DequantizeLinear", 0.31),
        (r#"{"quantize":{"scheme":"int8_static"}}"#, "DequantizeLinear", 0.31),
    ] {
        let (m, record) = compress(&model, &Recipe::from_json(recipe).unwrap(), &feeds).unwrap();
        let tables: Vec<&str> = record.entries.iter().filter(|e| e.op_type == "Gather").map(|e| e.tensor.as_str()).collect();
        assert_eq!(tables, ["word_embeddings", "position_embeddings"], "{recipe}");
        assert!(m.graph.nodes.iter().any(|n| n.op_type == op), "{recipe}: no {op}");
        let kept = record.kept.iter().find(|k| k.node == "token_type_embeddings/Gather").unwrap_or_else(|| panic!("{recipe}: {:?}", record.kept));
        assert!(kept.reason.contains("128 values") && kept.reason.contains("float32"), "{}", kept.reason);
        let ratio = model_to_bytes(&m).len() as f64 / model_to_bytes(&model).len() as f64;
        assert!(ratio <= bytes_at_most, "{recipe}: {ratio:.3} of the float size");
        let err = rms_error(&outputs(&m, &feeds), &reference);
        assert!(err < 0.05, "{recipe}: rms error {err}");
    }
    // Weight-only 4-bit tables: Squish's GatherBlockQuantized equals the same codes
    // written as a blocked DequantizeLinear (opset 21) followed by Gather.
    let mut at21 = model.clone();
    at21.opsets.iter_mut().filter(|(d, _)| d.is_empty()).for_each(|(_, v)| *v = 21);
    let only_tables = r#"{"quantize":{"scheme":"int4_block","exclude":{"op_types":["MatMul"]}}}"#;
    let qdq = r#"{"quantize":{"scheme":"int4_block","format":"qdq","exclude":{"op_types":["MatMul"]}}}"#;
    let (a, _) = compress(&model, &Recipe::from_json(only_tables).unwrap(), &[]).unwrap();
    let (b, _) = compress(&at21, &Recipe::from_json(qdq).unwrap(), &[]).unwrap();
    assert!(b.graph.nodes.iter().any(|n| n.op_type == "DequantizeLinear") && !b.graph.nodes.iter().any(|n| n.op_type == "GatherBlockQuantized"));
    assert!(worst_excess(&outputs(&a, &feeds), &outputs(&b, &feeds), 1e-6) <= 0.0);
}

/// The equalised float model computes the original function: scales folded
/// into the LayerNormalization for `dense/MatMul` and a `Mul` before
/// `out/MatMul` (its input comes from a Relu).
#[test]
fn equalisation_leaves_the_float_model_unchanged() {
    let model = text_model();
    let feeds = text_feeds();
    let layers: Vec<usize> = model.graph.nodes.iter().enumerate().filter(|(_, n)| n.op_type == "MatMul").map(|(i, _)| i).collect();
    let (smoothed, done) = equalize(model.clone(), &layers, &feeds, Smooth { alpha: 0.5 }).unwrap();
    assert_eq!(done.len(), 2);
    let folded: Vec<Option<&str>> = done.iter().map(|d| d.folded_into.as_deref()).collect();
    assert!(folded.contains(&Some("ln")) && folded.contains(&None), "{folded:?}");
    assert!(done.iter().all(|d| d.scale_max > d.scale_min), "scales vary by channel");
    assert_eq!(smoothed.graph.nodes.iter().filter(|n| n.op_type == "Mul").count(), 1);
    let excess = worst_excess(&outputs(&smoothed, &feeds), &outputs(&model, &feeds), 1e-5);
    assert!(excess <= 0.0, "the equalised model differs by {excess} beyond 1e-5·(1+|ref|)");
    // Through the recipe, the record lists what moved.
    let (_, record) = compress(&model, &Recipe::from_json(r#"{"quantize":{"scheme":"int8_static","smooth":{"alpha":0.6}}}"#).unwrap(), &feeds).unwrap();
    assert_eq!(record.smoothed.len(), 2);
    assert!(record.smoothed.iter().all(|s| s.alpha == 0.6));
}

#[test]
fn bad_target_recipes_are_clear_errors() {
    let model = text_model();
    let e = error_of(&model, r#"{"quantize":{"scheme":"int4_block","rounding":"gptq"}}"#, &[]);
    assert!(e.contains("gptq") && e.contains("calibration inputs"), "{e}");
    let e = error_of(&model, r#"{"quantize":{"scheme":"int4_block","damping":0.1}}"#, &[]);
    assert!(e.contains("damping") && e.contains("gptq"), "{e}");
    let e = error_of(&model, r#"{"quantize":{"scheme":"int4_block","rounding":"gptq","damping":-1}}"#, &[]);
    assert!(e.contains("damping must be in [0, 1]"), "{e}");
    let e = error_of(&model, r#"{"quantize":{"scheme":"int8_dynamic","smooth":{"alpha":0.5}}}"#, &[]);
    assert!(e.contains("smooth") && e.contains("int8_static"), "{e}");
    let e = error_of(&model, r#"{"quantize":{"scheme":"int8_static","smooth":{"alpha":1.5}}}"#, &text_feeds());
    assert!(e.contains("smooth.alpha"), "{e}");
    let e = error_of(&model, r#"{"quantize":{"scheme":"int8_static","smooth":{"alfa":0.5}}}"#, &text_feeds());
    assert!(e.contains("alfa"), "{e}");
    let e = error_of(&model, r#"{"quantize":{"scheme":"int4_block","rounding":"best"}}"#, &[]);
    assert!(e.contains("best"), "{e}");
    // A hostile GatherBlockQuantized index names itself.
    let (m, _) = compress(&model, &Recipe::from_json(r#"{"quantize":{"scheme":"int4_block"}}"#).unwrap(), &[]).unwrap();
    let mut feed = text_feeds().remove(0);
    feed[0].1 = Tensor::from_vec(&[1, 2], vec![3i64, 300]).unwrap();
    feed[1].1 = Tensor::from_vec(&[1, 2], vec![0i64, 1]).unwrap();
    let e = Session::new(m).unwrap().run(feed).unwrap_err().to_string();
    assert!(e.contains("GatherBlockQuantized") && e.contains("index 300"), "{e}");
}

/// 512-sample chunks at 16 kHz: silence, noise, a tone, and voiced-like
/// signals (harmonics of 110–220 Hz under a syllable-rate envelope).
fn audio_chunks() -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    let mut seed = 7u64;
    let mut noise = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    for c in 0..48usize {
        let kind = c / 8;
        out.push(
            (0..512)
                .map(|i| {
                    let t = (c * 512 + i) as f32 / 16000.0;
                    let voiced = |f0: f32| {
                        (1..8).map(|h| (2.0 * std::f32::consts::PI * f0 * h as f32 * t).sin() / h as f32).sum::<f32>()
                            * 0.3
                            * (1.0 + (2.0 * std::f32::consts::PI * 4.0 * t).sin())
                            / 2.0
                    };
                    match kind {
                        0 => 0.0,
                        1 => 0.01 * noise(),
                        2 => 0.2 * (2.0 * std::f32::consts::PI * 1000.0 * t).sin(),
                        3 => voiced(110.0) + 0.005 * noise(),
                        4 => voiced(180.0) + 0.02 * noise(),
                        _ => voiced(220.0) * 0.5 + 0.1 * noise(),
                    }
                })
                .collect(),
        );
    }
    out
}

/// Streams the chunks through silero (state carried), returning each chunk's speech probability.
fn speech_probabilities(model: &Model) -> Vec<f32> {
    let session = Session::new(load_model(&model_to_bytes(model)).unwrap()).unwrap();
    let (mut h, mut c) = (Tensor::from_vec(&[2, 1, 64], vec![0.0f32; 128]).unwrap(), Tensor::from_vec(&[2, 1, 64], vec![0.0f32; 128]).unwrap());
    let mut probs = Vec::new();
    for chunk in audio_chunks() {
        let feed = vec![
            ("input".to_string(), Tensor::from_vec(&[1, 512], chunk).unwrap()),
            ("sr".to_string(), Tensor::from_vec(&[], vec![16000i64]).unwrap()),
            ("h".to_string(), h),
            ("c".to_string(), c),
        ];
        let out = session.run(feed).unwrap().outputs;
        probs.push(out[0].1.to_f64_vec()[0] as f32);
        (h, c) = (out[1].1.clone(), out[2].1.clone());
    }
    probs
}

/// silero_vad_legacy keeps its convolution weights outside its `If` branches
/// and its LSTM weights inside nested ones: int8 reaches both (outer weights
/// behind a DequantizeLinear in the outer graph, branch weights inside the
/// branches), so int8 is smaller than fp16. Streamed over synthetic chunks
/// (silence, noise, a tone, voiced-like signals), uniform int8 changes the
/// speech/silence decision (p > 0.5) on at most one chunk; with the STFT
/// basis convolution (a fixed transform whose output goes through a log)
/// in fp16 — the same error as the fp16 model — it changes none.
#[test]
fn silero_int8_reaches_branch_and_lstm_weights() {
    let model = load_model(&read("silero_vad_legacy/model.onnx")).unwrap();
    let float = speech_probabilities(&model);
    assert!(float.iter().any(|p| *p > 0.5) && float.iter().any(|p| *p < 0.5), "the signal has both speech-like and silent chunks: {float:?}");
    let run = |recipe: &str| {
        let (m, record) = compress(&model, &Recipe::from_json(recipe).unwrap(), &[]).unwrap();
        let probs = speech_probabilities(&m);
        let worst = probs.iter().zip(&float).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let flips = probs.iter().zip(&float).filter(|(a, b)| (**a > 0.5) != (**b > 0.5)).count();
        (model_to_bytes(&m).len(), record, flips, worst)
    };
    let (half_bytes, _, half_flips, half_worst) = run(r#"{"quantize":{"scheme":"fp16"}}"#);
    println!(
        "silero: {} chunks, {} speech in float; fp16 {half_bytes} bytes, {half_flips} decisions changed, max |Δp| {half_worst:.4}",
        float.len(),
        float.iter().filter(|p| **p > 0.5).count()
    );
    let basis_fp16 = r#"{"quantize":{"scheme":"int8_weight","layers":{"Conv_547":{"scheme":"fp16"},"Conv_73":{"scheme":"fp16"}}}}"#;
    for (recipe, most_flips) in [(r#"{"quantize":{"scheme":"int8_weight"}}"#, 1), (r#"{"quantize":{"scheme":"int8_dynamic"}}"#, 1), (basis_fp16, 0)] {
        let (bytes, record, flips, worst) = run(recipe);
        let lstm = record.entries.iter().filter(|e| e.op_type == "LSTM").count();
        let outer = record.entries.iter().filter(|e| e.op_type == "If").count();
        println!("silero {recipe}: {bytes} bytes, {lstm} LSTM weights, {outer} outer weights; {flips} decisions changed, max |Δp| {worst:.4}");
        assert_eq!(lstm, 16, "{recipe}: W and R of 8 LSTMs");
        assert!(outer >= 30, "{recipe}: {outer}");
        assert!(bytes < half_bytes, "{recipe}: {bytes} not smaller than fp16's {half_bytes}");
        assert!(flips <= most_flips, "{recipe}: {flips} speech/silence decisions changed");
    }
}
