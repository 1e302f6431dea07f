//! Every `#[wasm_bindgen]` export, and the only place where `SquishError`
//! becomes a JavaScript `Error`. Tensors cross the boundary as plain objects
//! `{ name, dtype, dims, data }` with `data` a typed array.

use half::{bf16, f16};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::error::SquishError;
use crate::formats::data::npy;
use crate::formats::onnx;
use crate::ir::summary::summarize;
use crate::kernels;
use crate::runtime::Session;
use crate::tensor::{DType, Tensor};

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

/// `{ version, kernels }`: which build the page or CLI actually loaded.
/// Current size of the wasm linear memory in bytes (it only grows, so after
/// a call this bounds that call's peak).
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

#[wasm_bindgen(js_name = buildInfo)]
pub fn build_info() -> Result<JsValue, JsError> {
    #[derive(serde::Serialize)]
    struct Info {
        version: &'static str,
        kernels: &'static str,
    }
    to_js(&Info { version: env!("CARGO_PKG_VERSION"), kernels: kernels::active_name() })
}

/// Model summary without planning it (works for models with unsupported ops).
#[wasm_bindgen]
pub fn inspect(bytes: &[u8]) -> Result<JsValue, JsError> {
    let model = onnx::load_model(bytes).map_err(js_err)?;
    to_js(&summarize(&model, bytes.len() as u64))
}

/// Loads and re-encodes a model: what Squish writes for it (checks that a
/// model survives Squish's reader and writer).
#[wasm_bindgen(js_name = convertModel)]
pub fn convert_model(bytes: &[u8]) -> Result<Vec<u8>, JsError> {
    let model = onnx::load_model(bytes).map_err(js_err)?;
    Ok(onnx::model_to_bytes(&model))
}

/// Compresses a model with a recipe (JSON text, the README's format).
/// `calibration` is an array of samples, each an array of named tensor
/// objects (needed by `int8_static`). Returns `{ model: Uint8Array, record }`.
#[wasm_bindgen(js_name = compressModel)]
pub fn compress_model(bytes: Vec<u8>, recipe: &str, calibration: Array) -> Result<JsValue, JsError> {
    let recipe = crate::compress::Recipe::from_json(recipe).map_err(js_err)?;
    // Owned bytes are freed once decoded: peak memory stays near twice the weights.
    let file_bytes = bytes.len();
    let model = onnx::load_model_owned(bytes).map_err(js_err)?;
    let feeds = feeds_from_js(&calibration, "calibration sample")?;
    let (compressed, record) = crate::compress::compress_owned(model, &recipe, &feeds, Some(file_bytes)).map_err(js_err)?;
    let obj = Object::new();
    set(&obj, "model", &js_sys::Uint8Array::from(&onnx::model_to_bytes(&compressed)[..]).into())?;
    set(&obj, "record", &to_js(&record)?)?;
    Ok(obj.into())
}

/// Feeds from JS: an array of input sets, each an array of named tensors.
fn feeds_from_js(feeds: &Array, what: &str) -> Result<Vec<Vec<(String, Tensor)>>, JsError> {
    let mut out = Vec::with_capacity(feeds.length() as usize);
    for (i, sample) in feeds.iter().enumerate() {
        let sample: Array = sample.dyn_into().map_err(|_| JsError::new(&format!("{what} {i} is not an array of tensors")))?;
        out.push(named_tensors(&sample).map_err(|e| JsError::new(&format!("{what} {i}: {e}")))?);
    }
    Ok(out)
}

fn feeds_to_js(feeds: &[Vec<(String, Tensor)>]) -> Result<Array, JsError> {
    let out = Array::new();
    for feed in feeds {
        let one = Array::new();
        for (name, t) in feed {
            one.push(&tensor_to_js(Some(name), t)?);
        }
        out.push(&one);
    }
    Ok(out)
}

/// Compares two models on `feeds` (input sets). `labels`: a tensor object
/// or null. `record`: the record `compressModel` returned, or null.
/// `options`: JSON (README: "Comparing"), may be empty. `progress(stage,
/// done, total)` is called between steps. Returns `{ report, markdown }`.
#[wasm_bindgen(js_name = compareModels)]
pub fn compare_models(
    original: &[u8],
    compressed: &[u8],
    feeds: Array,
    labels: JsValue,
    record: JsValue,
    options: &str,
    progress: Option<js_sys::Function>,
) -> Result<JsValue, JsError> {
    use crate::compare;
    let options = compare::Options::from_json(options).map_err(js_err)?;
    let feeds = feeds_from_js(&feeds, "input set")?;
    let labels =
        if labels.is_null() || labels.is_undefined() { None } else { Some(tensor_from_js(&labels).map_err(|e| JsError::new(&format!("labels: {e}")))?) };
    let record: Option<crate::compress::Record> = if record.is_null() || record.is_undefined() {
        None
    } else {
        Some(serde_wasm_bindgen::from_value(record).map_err(|e| JsError::new(&format!("record: {e}")))?)
    };
    let session =
        |bytes: &[u8], which: &str| onnx::load_model(bytes).and_then(Session::for_comparison).map_err(|e| JsError::new(&format!("{which} model: {e}")));
    let (a, b) = (session(original, "original")?, session(compressed, "compressed")?);
    let mut report_progress = |stage: &str, done: usize, total: usize| {
        if let Some(f) = &progress {
            let _ = f.call3(&JsValue::NULL, &stage.into(), &JsValue::from_f64(done as f64), &JsValue::from_f64(total as f64));
        }
    };
    let mut report = compare::compare(&a, &b, &feeds, labels.as_ref(), record.as_ref(), &options, &mut report_progress).map_err(js_err)?;
    report_progress("measuring sizes", 0, 1);
    report.sizes = Some(compare::Sizes { original: compare::size_of(original), compressed: compare::size_of(compressed) });
    let obj = Object::new();
    set(&obj, "markdown", &compare::markdown::render(&report).into())?;
    set(&obj, "report", &to_js(&report)?)?;
    Ok(obj.into())
}

/// Seeded random input sets from the model's declared inputs (`spec`: JSON,
/// README "Comparing"). Returns an array of input sets.
#[wasm_bindgen(js_name = randomInputs)]
pub fn random_inputs(model: &[u8], spec: &str) -> Result<Array, JsError> {
    let spec: crate::formats::data::feeds::RandomSpec =
        if spec.trim().is_empty() { Default::default() } else { serde_json::from_str(spec).map_err(|e| JsError::new(&format!("random inputs: {e}")))? };
    let model = onnx::load_model(model).map_err(js_err)?;
    feeds_to_js(&crate::formats::data::feeds::random_feeds(&model, &spec).map_err(js_err)?)
}

/// Input sets from a file (.npz, .npy, .pb, .json, .csv), bound to the model's inputs.
#[wasm_bindgen(js_name = readInputFile)]
pub fn read_input_file(model: &[u8], file_name: &str, bytes: &[u8]) -> Result<Array, JsError> {
    let model = onnx::load_model(model).map_err(js_err)?;
    feeds_to_js(&crate::formats::data::feeds::read_file(&model, file_name, bytes).map_err(js_err)?)
}

/// One input set per text through a `tokenizer.json` (WordPiece or byte-level BPE).
#[wasm_bindgen(js_name = textInputs)]
pub fn text_inputs(model: &[u8], tokenizer: &str, texts: Vec<String>, max_length: Option<usize>) -> Result<Array, JsError> {
    let model = onnx::load_model(model).map_err(js_err)?;
    let tok = crate::formats::tokenizer::Tokenizer::from_json(tokenizer).map_err(js_err)?;
    feeds_to_js(&crate::formats::data::feeds::text_feeds(&model, &tok, &texts, max_length).map_err(js_err)?)
}

/// Token ids of one text (`{ ids, typeIds, attentionMask }`).
#[wasm_bindgen]
pub fn tokenize(tokenizer: &str, text: &str, max_length: Option<usize>) -> Result<JsValue, JsError> {
    let tok = crate::formats::tokenizer::Tokenizer::from_json(tokenizer).map_err(js_err)?;
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
    tensor_to_js(None, &crate::formats::data::labels::read_labels(file_name, bytes).map_err(js_err)?)
}

/// WAV → `{ tensor: [1, samples] float32 mono, sampleRate }` (resampled to `rate` when given).
#[wasm_bindgen(js_name = readWav)]
pub fn read_wav(bytes: &[u8], rate: Option<u32>) -> Result<JsValue, JsError> {
    let (t, sr) = crate::formats::data::wav::read_wav(bytes, rate).map_err(js_err)?;
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
    let spec = crate::formats::data::image::ImageSpec::from_json(spec).map_err(js_err)?;
    tensor_to_js(None, &crate::formats::data::image::image_tensor(rgba, width, height, &spec).map_err(js_err)?)
}

/// Sensitivity, one layer per call so the page can show progress and cancel
/// between layers: `layers()`, then `measure(node)` for each, then `finish()`.
#[wasm_bindgen]
pub struct SensitivityStudy {
    study: crate::compare::sensitivity::Study,
    layers: Vec<crate::compress::Unit>,
    baseline: crate::compare::sensitivity::Outcome,
    done: Vec<crate::compare::sensitivity::LayerSensitivity>,
}

#[wasm_bindgen]
impl SensitivityStudy {
    #[wasm_bindgen(constructor)]
    pub fn new(original: &[u8], recipe: &str, calibration: Array, feeds: Array) -> Result<SensitivityStudy, JsError> {
        use crate::compare::sensitivity::Study;
        let recipe = crate::compress::Recipe::from_json(recipe).map_err(js_err)?;
        let model = onnx::load_model(original).map_err(js_err)?;
        let calibration = feeds_from_js(&calibration, "calibration sample")?;
        let feeds = feeds_from_js(&feeds, "input set")?;
        let study = Study::new(model, recipe, calibration, feeds).map_err(js_err)?;
        let (layers, baseline) = study.baseline().map_err(js_err)?;
        Ok(SensitivityStudy { study, layers, baseline, done: Vec::new() })
    }

    /// `[node, …]`: the layers the recipe compresses.
    pub fn layers(&self) -> Array {
        self.layers.iter().map(|u| JsValue::from_str(&u.node)).collect()
    }

    /// Measures one layer (only it compressed; it alone restored).
    pub fn measure(&mut self, node: &str) -> Result<JsValue, JsError> {
        let unit = self.layers.iter().find(|u| u.node == node).ok_or_else(|| JsError::new(&format!("node '{node}' is not compressed by the recipe")))?;
        let r = self.study.layer(unit, &self.layers, &self.baseline).map_err(js_err)?;
        let js = to_js(&r)?;
        self.done.retain(|d| d.node != node);
        self.done.push(r);
        Ok(js)
    }

    /// `{ sensitivity, markdown }`: the ranked list and the suggested
    /// `exclude.nodes` from the layers measured.
    pub fn finish(&self) -> Result<JsValue, JsError> {
        let s = crate::compare::sensitivity::summarise(self.baseline, self.done.clone());
        let obj = Object::new();
        set(&obj, "markdown", &crate::compare::markdown::sensitivity(&s).into())?;
        set(&obj, "sensitivity", &to_js(&s)?)?;
        Ok(obj.into())
    }
}

#[wasm_bindgen]
pub struct Engine {
    session: Session,
    file_bytes: u64,
}

#[wasm_bindgen]
impl Engine {
    /// Loads and plans a model; fails with every unsupported op listed.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Engine, JsError> {
        let session = crate::load_session(bytes).map_err(js_err)?;
        Ok(Engine { session, file_bytes: bytes.len() as u64 })
    }

    pub fn summary(&self) -> Result<JsValue, JsError> {
        to_js(&summarize(self.session.model(), self.file_bytes))
    }

    /// Runs once and returns `[{ node, op_type, ms }]` in execution order.
    pub fn profile(&self, inputs: Array) -> Result<JsValue, JsError> {
        let named = named_inputs(&inputs)?;
        let (_, timings) = self.session.run_profiled(named).map_err(js_err)?;
        to_js(&timings)
    }

    /// Runs the model. `inputs` is an array of tensor objects; the result is
    /// `{ outputs: [tensor…], peakBytes }`.
    pub fn run(&self, inputs: Array) -> Result<JsValue, JsError> {
        let named = named_inputs(&inputs)?;
        let result = self.session.run(named).map_err(js_err)?;
        let outputs = Array::new();
        for (name, t) in &result.outputs {
            outputs.push(&tensor_to_js(Some(name), t)?);
        }
        let obj = Object::new();
        set(&obj, "outputs", &outputs)?;
        set(&obj, "peakBytes", &JsValue::from_f64(result.peak_bytes as f64))?;
        Ok(obj.into())
    }
}

fn named_inputs(inputs: &Array) -> Result<Vec<(String, Tensor)>, JsError> {
    named_tensors(inputs).map_err(|e| JsError::new(&e))
}

fn named_tensors(inputs: &Array) -> Result<Vec<(String, Tensor)>, String> {
    let mut named = Vec::with_capacity(inputs.length() as usize);
    for (i, v) in inputs.iter().enumerate() {
        let name = Reflect::get(&v, &"name".into()).ok().and_then(|n| n.as_string()).ok_or_else(|| format!("input #{i}: tensor object has no 'name'"))?;
        let t = tensor_from_js(&v).map_err(|e| format!("input '{name}': {e}"))?;
        named.push((name, t));
    }
    Ok(named)
}

/// Parses a `.npy` file into a tensor object.
#[wasm_bindgen(js_name = readNpy)]
pub fn read_npy(bytes: &[u8]) -> Result<JsValue, JsError> {
    let t = npy::read_npy(bytes).map_err(js_err)?;
    tensor_to_js(None, &t)
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
    let name = Reflect::get(&tensor, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    let t = tensor_from_js(&tensor).map_err(|e| JsError::new(&e))?;
    Ok(onnx::tensor_io::tensor_to_proto(&name, &t).encode_to_vec())
}

fn set(obj: &Object, key: &str, v: &JsValue) -> Result<(), JsError> {
    Reflect::set(obj, &key.into(), v).map(|_| ()).map_err(|_| JsError::new("cannot build result object"))
}

fn tensor_to_js(name: Option<&str>, t: &Tensor) -> Result<JsValue, JsError> {
    let obj = Object::new();
    if let Some(name) = name {
        set(&obj, "name", &name.into())?;
    }
    set(&obj, "dtype", &t.dtype().name().into())?;
    let dims = Array::new();
    for &d in t.shape() {
        dims.push(&JsValue::from_f64(d as f64));
    }
    set(&obj, "dims", &dims)?;
    macro_rules! typed {
        ($arr:ty, $a:expr) => {
            <$arr>::from(&$a.iter().copied().collect::<Vec<_>>()[..]).into()
        };
    }
    let data: JsValue = match t {
        Tensor::F32(a) => typed!(js_sys::Float32Array, a),
        Tensor::F64(a) => typed!(js_sys::Float64Array, a),
        Tensor::I8(a) => typed!(js_sys::Int8Array, a),
        Tensor::U8(a) => typed!(js_sys::Uint8Array, a),
        Tensor::I16(a) => typed!(js_sys::Int16Array, a),
        Tensor::U16(a) => typed!(js_sys::Uint16Array, a),
        Tensor::I32(a) => typed!(js_sys::Int32Array, a),
        Tensor::U32(a) => typed!(js_sys::Uint32Array, a),
        Tensor::I64(a) => typed!(js_sys::BigInt64Array, a),
        Tensor::U64(a) => typed!(js_sys::BigUint64Array, a),
        Tensor::F16(a) => js_sys::Uint16Array::from(&a.iter().map(|v| v.to_bits()).collect::<Vec<_>>()[..]).into(),
        Tensor::BF16(a) => js_sys::Uint16Array::from(&a.iter().map(|v| v.to_bits()).collect::<Vec<_>>()[..]).into(),
        Tensor::Bool(a) => js_sys::Uint8Array::from(&a.iter().map(|&v| v as u8).collect::<Vec<_>>()[..]).into(),
        // Small formats travel as their bit patterns, one per byte.
        Tensor::Small(_, a) => typed!(js_sys::Uint8Array, a),
    };
    set(&obj, "data", &data)?;
    Ok(obj.into())
}

fn tensor_from_js(v: &JsValue) -> Result<Tensor, String> {
    let get = |k: &str| Reflect::get(v, &k.into()).map_err(|_| format!("cannot read '{k}'"));
    let dtype_name = get("dtype")?.as_string().ok_or("'dtype' must be a string such as \"float32\"")?;
    let dtype = DType::from_name(&dtype_name).ok_or_else(|| format!("unknown dtype '{dtype_name}'"))?;
    let dims_js = get("dims")?;
    if !Array::is_array(&dims_js) {
        return Err("'dims' must be an array of non-negative integers".into());
    }
    let mut dims = Vec::new();
    for d in Array::from(&dims_js).iter() {
        let f = d.as_f64().ok_or("'dims' must contain numbers")?;
        if !(f >= 0.0 && f.fract() == 0.0 && f < 4.0e9) {
            return Err(format!("invalid dimension {f} in 'dims'"));
        }
        dims.push(f as usize);
    }
    let data = get("data")?;
    macro_rules! from_typed {
        ($arr:ty, $conv:expr) => {{
            let arr = data.dyn_into::<$arr>().map_err(|_| format!("'data' must be a {} for dtype {dtype_name}", stringify!($arr)))?;
            Tensor::from_vec(&dims, arr.to_vec().into_iter().map($conv).collect()).map_err(|e| e.to_string())
        }};
    }
    match dtype {
        DType::F32 => from_typed!(js_sys::Float32Array, |x: f32| x),
        DType::F64 => from_typed!(js_sys::Float64Array, |x: f64| x),
        DType::I8 => from_typed!(js_sys::Int8Array, |x: i8| x),
        DType::U8 => from_typed!(js_sys::Uint8Array, |x: u8| x),
        DType::I16 => from_typed!(js_sys::Int16Array, |x: i16| x),
        DType::U16 => from_typed!(js_sys::Uint16Array, |x: u16| x),
        DType::I32 => from_typed!(js_sys::Int32Array, |x: i32| x),
        DType::U32 => from_typed!(js_sys::Uint32Array, |x: u32| x),
        DType::I64 => from_typed!(js_sys::BigInt64Array, |x: i64| x),
        DType::U64 => from_typed!(js_sys::BigUint64Array, |x: u64| x),
        DType::F16 => from_typed!(js_sys::Uint16Array, f16::from_bits),
        DType::BF16 => from_typed!(js_sys::Uint16Array, bf16::from_bits),
        DType::Bool => from_typed!(js_sys::Uint8Array, |x: u8| x != 0),
        DType::Small(st) => {
            let arr = data.dyn_into::<js_sys::Uint8Array>().map_err(|_| format!("'data' must be a Uint8Array of {dtype_name} codes"))?;
            let shape = ndarray::IxDyn(&dims);
            let codes = arr.to_vec();
            crate::tensor::checked_numel(&dims, "input").map_err(|e| e.to_string())?;
            ndarray::ArrayD::from_shape_vec(shape, codes).map(|a| Tensor::Small(st, a)).map_err(|e| e.to_string())
        }
    }
}

/// f32 GEMM timing harness for `npm run bench`: Squish's `gemm_f32` (packing
/// included) next to the prepacked ceiling micro-kernel, on the same data.
/// JavaScript times the calls.
#[wasm_bindgen]
pub struct GemmBench {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    a_packed: Vec<f32>,
    b_packed: Vec<f32>,
    c: Vec<f32>,
    /// The runtime's operands for constant weights: f32 B packed once, and
    /// int8 B (centred, packed as i16 pairs) with u8 activations.
    b_runtime_f32: Vec<f32>,
    b_runtime_i16: Vec<i16>,
    b_runtime_pn: Option<Vec<u8>>,
    a_u8: Vec<u8>,
    c_i32: Vec<i32>,
}

#[wasm_bindgen]
impl GemmBench {
    #[wasm_bindgen(constructor)]
    pub fn new(m: usize, k: usize, n: usize) -> Result<GemmBench, JsError> {
        if m % 4 != 0 || n % 8 != 0 || m * k > 1 << 26 || k * n > 1 << 26 {
            return Err(JsError::new("GemmBench needs m a multiple of 4, n of 8, and operands under 2^26 elements"));
        }
        let fill = |len: usize, seed: u32| {
            (0..len).map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / (1 << 24) as f32 - 0.5).collect::<Vec<f32>>()
        };
        let (a, b) = (fill(m * k, 1), fill(k * n, 2));
        let a_packed = kernels::ceiling::pack_a(m, k, &a);
        let b_packed = kernels::ceiling::pack_b(k, n, &b);
        let b_runtime_f32 = kernels::pack_b_f32(k, n, &b);
        let b_i16: Vec<i16> = b.iter().map(|v| (v * 254.0).round() as i16).collect();
        let b_runtime_i16 = kernels::pack_b_i16(k, n, &b_i16);
        let b_runtime_pn = if cfg!(target_feature = "relaxed-simd") { kernels::pack_b_pn(k, n, &b_i16) } else { None };
        let a_u8 = a.iter().map(|v| ((v + 0.5) * 255.0) as u8).collect();
        Ok(GemmBench { m, k, n, a, b, a_packed, b_packed, c: vec![0.0; m * n], b_runtime_f32, b_runtime_i16, b_runtime_pn, a_u8, c_i32: vec![0; m * n] })
    }

    pub fn squish(&mut self) {
        kernels::active::gemm_f32(self.m, self.k, self.n, &self.a, &self.b, &mut self.c);
    }

    pub fn ceiling(&mut self) {
        kernels::ceiling::gemm_prepacked(self.m, self.k, self.n, &self.a_packed, &self.b_packed, &mut self.c);
    }

    /// f32 GEMM as MatMul runs it with a constant (prepacked) weight.
    #[wasm_bindgen(js_name = squishPackedB)]
    pub fn squish_packed_b(&mut self) {
        kernels::active::gemm_f32_packed(self.m, self.k, self.n, &self.a, &self.b_runtime_f32, &mut self.c);
    }

    /// int8 GEMM as MatMulInteger runs it: u8 activations centred and packed
    /// (included), int8 weights prepacked, i32 out.
    /// The relaxed build's sign-split kernel (`relaxed_dot_i8x16_i7x16_add`),
    /// measured beside `int8` to show whether it would pay; false elsewhere.
    #[wasm_bindgen(js_name = int8SignSplit)]
    pub fn int8_sign_split(&mut self) -> bool {
        let Some(bp) = &self.b_runtime_pn else { return false };
        let a8: Vec<i8> = self.a_u8.iter().map(|&v| (v as i16 - 128) as i8).collect();
        kernels::active::gemm_i8_pn_packed(self.m, self.k, self.n, &kernels::pack_a_i8(self.m, self.k, &a8), bp, &mut self.c_i32);
        true
    }

    /// int8 GEMM as MatMulInteger runs it (i16 pairs in both builds).
    pub fn int8(&mut self) {
        let centred: Vec<i16> = self.a_u8.iter().map(|&v| v as i16 - 128).collect();
        let ap = kernels::pack_a_i16(self.m, self.k, &centred);
        kernels::active::gemm_i16_packed(self.m, self.k, self.n, &ap, &self.b_runtime_i16, &mut self.c_i32);
    }

    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64
    }
}
