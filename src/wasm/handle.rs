//! `ModelHandle`: a model decoded once and kept in the worker. Running,
//! reading inputs for it, compressing and comparing all work on the handle,
//! so a model's bytes are decoded once per worker, and sessions share the
//! decoded model instead of copying it.

use std::sync::Arc;

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::tensors::{feeds_from_js, feeds_to_js, named_inputs, set, tensor_to_js};
use super::{js_err, to_js};
use crate::compare::{size_of, Size};
use crate::compress::{apply_steps, Recipe, Record};
use crate::formats::data::feeds::{random_feeds, read_file, text_feeds, RandomSpec};
use crate::formats::onnx;
use crate::formats::tokenizer::Tokenizer;
use crate::ir::summary::summarize;
use crate::ir::Model;
use crate::runtime::Session;

#[wasm_bindgen]
pub struct ModelHandle {
    model: Arc<Model>,
    /// Raw and gzip size of the file it came from (or of its encoding).
    size: Size,
    /// What compression did, for a handle `compress` made.
    record: Option<Record>,
    /// The encoded file of a compressed model, until `toBytes` takes it.
    pending_bytes: Option<Vec<u8>>,
    /// Planned once, on the first run.
    session: Option<Session>,
}

impl ModelHandle {
    pub(super) fn model(&self) -> &Arc<Model> {
        &self.model
    }

    pub(super) fn size(&self) -> Size {
        self.size
    }

    pub(super) fn record(&self) -> Option<&Record> {
        self.record.as_ref()
    }

    /// A compressed model's handle: its file encoded once, sizes from it.
    pub(super) fn compressed(model: Model, mut record: Record, original_raw: usize) -> ModelHandle {
        let bytes = onnx::model_to_bytes(&model);
        (record.model_bytes_before, record.model_bytes_after) = (original_raw, bytes.len());
        let size = size_of(&bytes);
        ModelHandle { model: Arc::new(model), size, record: Some(record), pending_bytes: Some(bytes), session: None }
    }

    fn session(&mut self) -> Result<&Session, JsError> {
        if self.session.is_none() {
            self.session = Some(Session::new(Arc::clone(&self.model)).map_err(js_err)?);
        }
        Ok(self.session.as_ref().expect("set above"))
    }
}

#[wasm_bindgen]
impl ModelHandle {
    /// Decodes a model file. The bytes are freed once decoded; models above
    /// the size limit are refused before anything is allocated for them.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: Vec<u8>) -> Result<ModelHandle, JsError> {
        onnx::check_size(bytes.len()).map_err(js_err)?;
        let size = size_of(&bytes);
        let model = onnx::load_model_owned(bytes).map_err(js_err)?;
        Ok(ModelHandle { model: Arc::new(model), size, record: None, pending_bytes: None, session: None })
    }

    /// Decodes a model whose weights live in external data files, given
    /// by name (`names[i]` holds `files[i]`'s bytes); the sizes shown are
    /// the .onnx file's plus its data files'.
    #[wasm_bindgen(js_name = withExternalData)]
    pub fn with_external_data(bytes: Vec<u8>, names: Vec<String>, files: Array) -> Result<ModelHandle, JsError> {
        if names.len() != files.length() as usize {
            return Err(JsError::new(&format!("external data: {} names for {} files", names.len(), files.length())));
        }
        let data: Vec<Vec<u8>> = files.iter().map(|f| js_sys::Uint8Array::new(&f).to_vec()).collect();
        let external: Vec<onnx::external::ExternalFile> = names.iter().zip(&data).map(|(name, bytes)| onnx::external::ExternalFile { name, bytes }).collect();
        // The download is the .onnx file and its data files: their sizes, summed.
        let size = data.iter().map(|d| size_of(d)).fold(size_of(&bytes), |a, b| Size { raw: a.raw + b.raw, gzip: a.gzip + b.gzip });
        let model = onnx::load_model_with_external(bytes, &external).map_err(js_err)?;
        Ok(ModelHandle { model: Arc::new(model), size, record: None, pending_bytes: None, session: None })
    }

    /// The model summary (inputs, outputs, opsets, parameters, size).
    pub fn summary(&self) -> Result<JsValue, JsError> {
        to_js(&summarize(&self.model, self.size.raw as u64))
    }

    /// One row per node: op, inferred shapes, the weights it holds
    /// (`ir::layers::LayerRow`), for the page's model view.
    pub fn layers(&self) -> Result<JsValue, JsError> {
        let facts = crate::ops::facts::infer(&self.model);
        to_js(&crate::ir::layers::layer_rows(&self.model, &facts))
    }

    /// The histogram of a constant tensor's values in `bins` bins over
    /// ±`range` (default: its largest |value|); an error names a tensor
    /// the model does not hold as a constant.
    #[wasm_bindgen(js_name = weightHistogram)]
    pub fn weight_histogram(&self, tensor: &str, bins: usize, range: Option<f64>) -> Result<JsValue, JsError> {
        let t = self.model.graph.constant(tensor).ok_or_else(|| JsError::new(&format!("weight histogram: the model holds no constant tensor '{tensor}'")))?;
        to_js(&crate::ir::layers::value_histogram(tensor, t, bins, range))
    }

    /// Runs the model (planned on the first call). `inputs` is an array of
    /// tensor objects; the result is `{ outputs: [tensor…], peakBytes }`.
    pub fn run(&mut self, inputs: Array) -> Result<JsValue, JsError> {
        let named = named_inputs(&inputs)?;
        let result = self.session()?.run(named).map_err(js_err)?;
        let outputs = Array::new();
        for (name, t) in &result.outputs {
            outputs.push(&tensor_to_js(Some(name), t)?);
        }
        let obj = Object::new();
        set(&obj, "outputs", &outputs)?;
        set(&obj, "peakBytes", &JsValue::from_f64(result.peak_bytes as f64))?;
        Ok(obj.into())
    }

    /// Runs once and returns `[{ node, op_type, ms }]` in execution order.
    pub fn profile(&mut self, inputs: Array) -> Result<JsValue, JsError> {
        let named = named_inputs(&inputs)?;
        let (_, timings) = self.session()?.run_profiled(named).map_err(js_err)?;
        to_js(&timings)
    }

    /// The names of the graph inputs a caller must give, in order.
    #[wasm_bindgen(js_name = inputNames)]
    pub fn input_names(&self) -> Array {
        self.model.graph.real_inputs().map(|v| JsValue::from_str(&v.name)).collect()
    }

    /// The model as Squish writes it: a compressed model's file (the same
    /// bytes the CLI writes for the same recipe), or the re-encoded original.
    #[wasm_bindgen(js_name = toBytes)]
    pub fn take_bytes(&mut self) -> Vec<u8> {
        self.pending_bytes.take().unwrap_or_else(|| onnx::model_to_bytes(&self.model))
    }

    /// The compression record of a handle `compress` made, else null.
    #[wasm_bindgen(js_name = compressionRecord)]
    pub fn compression_record(&self) -> Result<JsValue, JsError> {
        match &self.record {
            Some(r) => to_js(r),
            None => Ok(JsValue::NULL),
        }
    }

    /// Applies a recipe (JSON text, README "Recipes"); `calibration` is an
    /// array of input sets. Returns the compressed model as a new handle,
    /// whose `toBytes()` gives its file and `compressionRecord()` what changed.
    pub fn compress(&self, recipe: &str, calibration: Array) -> Result<ModelHandle, JsError> {
        let recipe = Recipe::from_json(recipe).map_err(js_err)?;
        let feeds = feeds_from_js(&calibration, "calibration sample")?;
        let (model, record) = apply_steps(std::borrow::Cow::Borrowed(&*self.model), &recipe, &feeds).map_err(js_err)?;
        Ok(ModelHandle::compressed(model, record, self.size.raw))
    }

    /// Seeded random input sets from the declared inputs (`spec`: JSON,
    /// README "Comparing").
    #[wasm_bindgen(js_name = randomInputs)]
    pub fn random_inputs(&self, spec: &str) -> Result<Array, JsError> {
        let spec: RandomSpec =
            if spec.trim().is_empty() { Default::default() } else { serde_json::from_str(spec).map_err(|e| JsError::new(&format!("random inputs: {e}")))? };
        feeds_to_js(&random_feeds(&self.model, &spec).map_err(js_err)?)
    }

    /// Input sets from a file (.npz, .npy, .pb, .json, .csv), bound to the inputs.
    #[wasm_bindgen(js_name = readInputFile)]
    pub fn read_input_file(&self, file_name: &str, bytes: &[u8]) -> Result<Array, JsError> {
        feeds_to_js(&read_file(&self.model, file_name, bytes).map_err(js_err)?)
    }

    /// One input set per text through a `tokenizer.json`.
    #[wasm_bindgen(js_name = textInputs)]
    pub fn text_inputs(&self, tokenizer: &str, texts: Vec<String>, max_length: Option<usize>) -> Result<Array, JsError> {
        let tok = Tokenizer::from_json(tokenizer).map_err(js_err)?;
        feeds_to_js(&text_feeds(&self.model, &tok, &texts, max_length).map_err(js_err)?)
    }
}
