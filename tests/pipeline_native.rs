#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! The compression pipeline: every spelling of a recipe gives the same
//! model byte for byte, and the model says which recipe and which Squish
//! made it.

mod common;

use common::read;
use squish::compress::{compress, Recipe, METADATA_RECIPE, METADATA_VERSION};
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::Model;

fn bytes_of(model: &Model, recipe: &str) -> Vec<u8> {
    let r = Recipe::from_json(recipe).unwrap_or_else(|e| panic!("{recipe}: {e}"));
    model_to_bytes(&compress(model, &r, &[]).unwrap_or_else(|e| panic!("{recipe}: {e}")).0)
}

/// Old-style (top-level keys), `quantize`-section and `steps` recipes with the
/// same settings give byte-identical files, on an MLP and on a CNN.
#[test]
fn every_spelling_of_a_recipe_gives_the_same_bytes() {
    let settings = [
        r#""scheme":"int8_dynamic""#,
        r#""scheme":"int4_block","block_size":64,"symmetric":false"#,
        r#""scheme":"int8_weight","per_channel":false,"exclude":{"op_types":["Gemm"]}"#,
        r#""scheme":"fp16""#,
    ];
    for dir in ["digits_mlp", "mtcnn_onet"] {
        let model = load_model(&read(&format!("{dir}/model.onnx"))).unwrap();
        for s in settings {
            let legacy = bytes_of(&model, &format!("{{{s}}}"));
            let section = bytes_of(&model, &format!(r#"{{"version":1,"quantize":{{{s}}}}}"#));
            let steps = bytes_of(&model, &format!(r#"{{"steps":[{{"quantize":{{{s}}}}}]}}"#));
            assert!(legacy == section, "{dir} {s}: old-style and quantize-section recipes differ");
            assert!(section == steps, "{dir} {s}: steps and sectioned recipes differ");
            assert!(legacy != model_to_bytes(&model), "{dir} {s}: nothing changed");
        }
    }
}

/// The compressed model carries the canonical recipe and the Squish version;
/// compressing it again keeps the first recipe under `squish.recipe.1`.
#[test]
fn the_model_records_its_recipe_and_version() {
    let model = load_model(&read("digits_mlp/model.onnx")).unwrap();
    let once = load_model(&bytes_of(&model, r#"{"scheme":"fp16"}"#)).unwrap();
    let meta = |m: &Model, k: &str| m.metadata.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(meta(&once, METADATA_VERSION).as_deref(), Some(env!("CARGO_PKG_VERSION")));
    let recipe = meta(&once, METADATA_RECIPE).expect("recipe in the metadata");
    assert_eq!(recipe, r#"{"version":1,"steps":[{"quantize":{"scheme":"fp16","calibration":{"method":"minmax","percentile":99.99}}}]}"#);
    assert_eq!(Recipe::from_json(&recipe).unwrap(), Recipe::from_json(r#"{"scheme":"fp16"}"#).unwrap(), "the recorded recipe reads back");
    let twice = load_model(&bytes_of(&once, r#"{"quantize":{"scheme":"int8_weight"}}"#)).unwrap();
    assert_eq!(meta(&twice, &format!("{METADATA_RECIPE}.1")), Some(recipe));
    assert!(meta(&twice, METADATA_RECIPE).unwrap().contains("int8_weight"));
    assert_eq!(twice.metadata.iter().filter(|(k, _)| k == METADATA_VERSION).count(), 1);
}
