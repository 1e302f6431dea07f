//! Every `#[wasm_bindgen]` export, and the only place where `SquishError`
//! becomes a JavaScript `Error`. A model is decoded once into a
//! `ModelHandle` and everything else works on handles; tensors cross the
//! boundary as plain objects (`tensors`).

#[cfg(feature = "bench")]
mod bench;
mod distill;
mod handle;
mod scan;
mod study;
mod target;
mod tensors;

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use crate::compare::{self, Sizes};
use crate::error::SquishError;
use crate::formats::data::{image, labels, npy, wav};
use crate::formats::onnx;
use crate::formats::tokenizer::Tokenizer;
use crate::ir::summary::summarize;
use crate::kernels;
use crate::runtime::Session;
pub use handle::ModelHandle;
use tensors::{feeds_from_js, feeds_to_js, set, tensor_from_js, tensor_to_js};

fn js_err(e: SquishError) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&e.to_string()))
}

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Current size of the wasm linear memory in bytes (it only grows, so after
/// a call this bounds that call's peak).
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// `{ version, kernels, maxModelBytes }`: which build the page or CLI
/// actually loaded, and the largest model file it accepts.
#[wasm_bindgen(js_name = buildInfo)]
pub fn build_info() -> Result<JsValue, JsError> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Info {
        version: &'static str,
        kernels: &'static str,
        max_model_bytes: usize,
    }
    to_js(&Info { version: env!("CARGO_PKG_VERSION"), kernels: kernels::active_name(), max_model_bytes: onnx::MAX_MODEL_BYTES })
}

/// Model summary without keeping the model (works for models with
/// unsupported ops): `squish inspect`.
#[wasm_bindgen]
pub fn inspect(bytes: Vec<u8>) -> Result<JsValue, JsError> {
    let file_bytes = bytes.len() as u64;
    onnx::check_size(bytes.len()).map_err(js_err)?;
    let model = onnx::load_model_owned(bytes).map_err(js_err)?;
    to_js(&summarize(&model, file_bytes))
}

/// Compares two models on `feeds` (input sets). `labels`: a tensor object
/// or null. The compressed handle's record (when `compress` made it) marks
/// which layers changed. `options`: JSON (README "Comparing"), may be
/// empty. `texts`: null, or `{ tokenizer, texts }` (the tokenizer.json
/// text and the texts the input sets were made from) for text probes.
/// `progress(stage, done, total)` is called between steps. Returns
/// `{ report, markdown }`.
#[wasm_bindgen(js_name = compareModels)]
pub fn compare_models(
    original: &ModelHandle,
    compressed: &ModelHandle,
    feeds: Array,
    labels: JsValue,
    options: &str,
    texts: JsValue,
    progress: Option<js_sys::Function>,
) -> Result<JsValue, JsError> {
    let options = compare::Options::from_json(options).map_err(js_err)?;
    let texts: Option<TextsArg> = if texts.is_null() || texts.is_undefined() {
        None
    } else {
        Some(serde_wasm_bindgen::from_value(texts).map_err(|e| JsError::new(&format!("texts: {e} (expected {{ tokenizer, texts }})")))?)
    };
    let tokenizer = texts.as_ref().map(|t| Tokenizer::from_json(&t.tokenizer)).transpose().map_err(js_err)?;
    let feeds = feeds_from_js(&feeds, "input set")?;
    let labels =
        if labels.is_null() || labels.is_undefined() { None } else { Some(tensor_from_js(&labels).map_err(|e| JsError::new(&format!("labels: {e}")))?) };
    let session = |h: &ModelHandle, which: &str| Session::for_comparison(h.model().clone()).map_err(|e| JsError::new(&format!("{which} model: {e}")));
    let (a, b) = (session(original, "original")?, session(compressed, "compressed")?);
    let mut report_progress = |stage: &str, done: usize, total: usize| {
        if let Some(f) = &progress {
            let _ = f.call3(&JsValue::NULL, &stage.into(), &JsValue::from_f64(done as f64), &JsValue::from_f64(total as f64));
        }
    };
    let mut inputs = compare::Inputs::new(&feeds).labels(labels.as_ref());
    if let (Some(t), Some(tokenizer)) = (&texts, &tokenizer) {
        inputs.texts = Some(compare::Texts { tokenizer, texts: &t.texts });
    }
    let mut report = compare::compare(&a, &b, inputs, compressed.record(), &options, &mut report_progress).map_err(js_err)?;
    report.sizes = Some(Sizes { original: original.size(), compressed: compressed.size() });
    let obj = Object::new();
    set(&obj, "markdown", &compare::markdown::render(&report).into())?;
    set(&obj, "report", &to_js(&report)?)?;
    Ok(obj.into())
}

/// The recipe with a sensitivity study's suggested exclusions written into
/// the steps that compressed them (`units`: the study's `exclusion_units`,
/// `[[step, node], …]`). Returns canonical recipe JSON.
#[wasm_bindgen(js_name = suggestedRecipe)]
pub fn suggested_recipe(recipe: &str, units: JsValue) -> Result<String, JsError> {
    let recipe = crate::compress::Recipe::from_json(recipe).map_err(js_err)?;
    let units: Vec<(usize, String)> = serde_wasm_bindgen::from_value(units).map_err(|e| JsError::new(&format!("exclusion units: {e}")))?;
    let refs: Vec<(usize, &str)> = units.iter().map(|(s, n)| (*s, n.as_str())).collect();
    Ok(recipe.excluding(&refs).to_json())
}

/// A recipe (any accepted form) in its canonical form, or the error that
/// names what is wrong with it (the page checks recipes before running them).
#[wasm_bindgen(js_name = canonicalRecipe)]
pub fn canonical_recipe(recipe: &str) -> Result<String, JsError> {
    Ok(crate::compress::Recipe::from_json(recipe).map_err(js_err)?.to_json())
}

/// Token ids of one text (`{ ids, typeIds, attentionMask }`).
#[wasm_bindgen]
pub fn tokenize(tokenizer: &str, text: &str, max_length: Option<usize>) -> Result<JsValue, JsError> {
    let tok = Tokenizer::from_json(tokenizer).map_err(js_err)?;
    let e = tok.encode(text, max_length);
    let obj = Object::new();
    set(&obj, "ids", &js_sys::Uint32Array::from(&e.ids[..]).into())?;
    set(&obj, "typeIds", &js_sys::Uint32Array::from(&e.type_ids[..]).into())?;
    set(&obj, "attentionMask", &js_sys::Uint32Array::from(&e.attention_mask[..]).into())?;
    Ok(obj.into())
}

/// Labels from a file (.npy, .csv, .json) as a tensor object.
#[wasm_bindgen(js_name = readLabels)]
pub fn read_labels(file_name: &str, bytes: &[u8]) -> Result<JsValue, JsError> {
    tensor_to_js(None, &labels::read_labels(file_name, bytes).map_err(js_err)?)
}

/// WAV → `{ tensor: [1, samples] float32 mono, sampleRate }` (resampled to `rate` when given).
#[wasm_bindgen(js_name = readWav)]
pub fn read_wav(bytes: &[u8], rate: Option<u32>) -> Result<JsValue, JsError> {
    let (t, sr) = wav::read_wav(bytes, rate).map_err(js_err)?;
    let obj = Object::new();
    set(&obj, "tensor", &tensor_to_js(None, &t)?)?;
    set(&obj, "sampleRate", &JsValue::from_f64(sr as f64))?;
    Ok(obj.into())
}

/// Decoded RGBA pixels → a float tensor. `spec`: JSON `ImageSpec`, or a
/// preset name (imagenet, unit, symmetric, raw) with optional overrides as
/// `{ "preset": "imagenet", "width": 96, … }`.
#[wasm_bindgen(js_name = imageTensor)]
pub fn image_tensor(rgba: &[u8], width: usize, height: usize, spec: &str) -> Result<JsValue, JsError> {
    let spec = image::ImageSpec::from_json(spec).map_err(js_err)?;
    tensor_to_js(None, &image::image_tensor(rgba, width, height, &spec).map_err(js_err)?)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TextsArg {
    tokenizer: String,
    texts: Vec<String>,
}

/// One probe by name (not a set), checked as `compare` checks it.
fn one_probe(probe: &str, severity: u32, seed: u32) -> Result<compare::probes::Probe, JsError> {
    let options = compare::probes::ProbeOptions { kinds: vec![probe.into()], severities: vec![severity], seed: seed as u64 };
    match options.probes().map_err(js_err)?[..] {
        [one] => Ok(one),
        _ => Err(JsError::new(&format!("one probe by name, not the set '{probe}'"))),
    }
}

/// The probes `kinds` names (probe names and sets such as `image`, `text`), one each, in order.
#[wasm_bindgen(js_name = probeNames)]
pub fn probe_names(kinds: Vec<String>) -> Result<Vec<String>, JsError> {
    let options = compare::probes::ProbeOptions { kinds, ..Default::default() };
    Ok(options.probes().map_err(js_err)?.iter().map(|p| p.name().to_string()).collect())
}

/// The input sets as one probe (`noise`, `brightness`, `occlusion`, `blur`,
/// `gain`, `clipping`) at one severity perturbs them in `compare` with the
/// same seed: to save or inspect what the models were given.
#[wasm_bindgen(js_name = probeInputs)]
pub fn probe_inputs(feeds: Array, probe: &str, severity: u32, seed: u32) -> Result<Array, JsError> {
    let probe = one_probe(probe, severity, seed)?;
    let feeds = feeds_from_js(&feeds, "input set")?;
    feeds_to_js(&compare::probes::perturb(&feeds, probe, severity, seed as u64).map_err(js_err)?)
}

/// The texts as one text probe (`typo`, `drop`, `repeat`, `whitespace`,
/// `truncate`, `case`) at one severity changes them in `compare`.
#[wasm_bindgen(js_name = probeTexts)]
pub fn probe_texts(texts: Vec<String>, probe: &str, severity: u32, seed: u32) -> Result<Vec<String>, JsError> {
    let probe = one_probe(probe, severity, seed)?;
    compare::probes::perturb_texts(&texts, probe, severity, seed as u64).map_err(js_err)
}

/// Parses a `.npy` file into a tensor object.
#[wasm_bindgen(js_name = readNpy)]
pub fn read_npy(bytes: &[u8]) -> Result<JsValue, JsError> {
    tensor_to_js(None, &npy::read_npy(bytes).map_err(js_err)?)
}

/// Parses an ONNX `TensorProto` file (`input_0.pb`) into a tensor object.
#[wasm_bindgen(js_name = readTensorProto)]
pub fn read_tensor_proto(bytes: &[u8]) -> Result<JsValue, JsError> {
    let tp = onnx::proto::decode_tensor(bytes).map_err(js_err)?;
    let t = onnx::tensor_io::tensor_from_proto(&tp).map_err(js_err)?;
    tensor_to_js(Some(&tp.name), &t)
}

/// Serialises a tensor object as an ONNX `TensorProto` file.
#[wasm_bindgen(js_name = writeTensorProto)]
pub fn write_tensor_proto(tensor: JsValue) -> Result<Vec<u8>, JsError> {
    use prost::Message;
    let name = js_sys::Reflect::get(&tensor, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    let t = tensor_from_js(&tensor).map_err(|e| JsError::new(&e))?;
    Ok(onnx::tensor_io::tensor_to_proto(&name, &t).encode_to_vec())
}
