#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! The page's model view: the layer table and weight histograms on the
//! digits classifier, and the record's before/after histograms for every
//! quantisation scheme.

mod common;

use common::read;
use squish::compress::{compress, Recipe};
use squish::formats::onnx::load_model;
use squish::ir::layers::{layer_rows, value_histogram};
use squish::ops::facts::infer;
use squish::Model;

fn digits() -> Model {
    load_model(&read("digits_mlp/model.onnx")).unwrap()
}

#[test]
fn every_weight_appears_once_in_the_layer_table_with_shapes() {
    let model = digits();
    let rows = layer_rows(&model, &infer(&model));
    let params: u64 = rows.iter().map(|r| r.parameters).sum();
    let total: u64 = model.graph.initializers.iter().map(|(_, t)| t.len() as u64).sum();
    assert_eq!(params, total, "{rows:#?}");
    let first = rows.iter().find(|r| !r.weights.is_empty()).unwrap();
    // The first layer reads X (batch × 64) and holds a 64-row weight.
    assert!(first.inputs[0].ends_with("×64"), "{first:?}");
    assert_eq!(first.weights[0].shape[0].min(first.weights[0].shape[1]), 64.min(first.weights[0].shape[1]));
    assert!(rows.iter().all(|r| !r.outputs.is_empty() && r.outputs.iter().all(|s| !s.is_empty())));
    assert_eq!(rows.last().unwrap().outputs.len(), 1);
}

#[test]
fn histogram_of_a_weight_counts_all_of_it() {
    let model = digits();
    let (name, t) = &model.graph.initializers[0];
    let h = value_histogram(name, t, 40, None);
    assert_eq!(h.counts.iter().sum::<u64>() + h.non_finite, t.len() as u64);
    assert!(h.low < 0.0 && h.high > 0.0 && h.min >= h.low && h.max <= h.high);
}

#[test]
fn every_quantisation_scheme_records_the_weights_before_and_after() {
    let model = digits();
    for recipe in [
        r#"{"scheme":"int8_weight"}"#,
        r#"{"scheme":"int4_weight","per_channel":false}"#,
        r#"{"scheme":"int8_dynamic"}"#,
        r#"{"scheme":"int4_block","block_size":32}"#,
        r#"{"scheme":"fp16"}"#,
    ] {
        let (_, record) = compress(&model, &Recipe::from_json(recipe).unwrap(), &[]).unwrap();
        assert!(!record.entries.is_empty(), "{recipe}");
        for e in &record.entries {
            let h = e.histogram.as_ref().unwrap_or_else(|| panic!("{recipe}: no histogram for {}", e.tensor));
            let t = model.graph.initializer(&e.tensor).unwrap();
            let before: u32 = h.before.iter().sum();
            let after: u32 = h.after.iter().sum();
            assert_eq!(before as usize, t.len(), "{recipe} {}", e.tensor);
            assert_eq!(after as usize + h.zeros_after, t.len(), "{recipe} {}", e.tensor);
            // 4 bits per tensor leave at most 16 distinct levels: most bins empty.
            if recipe.contains("int4_weight") {
                assert!(h.after.iter().filter(|c| **c > 0).count() <= 16, "{recipe}: {:?}", h.after);
            }
        }
    }
}
