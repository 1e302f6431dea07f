//! Inputs for a comparison: seeded random values from the declared shapes,
//! numpy `.npz`, JSON arrays, CSV, WAV audio and decoded images (the page
//! decodes PNG/JPEG to RGBA; resizing and normalisation happen here).
//! Every reader returns feeds checked against the model's inputs by name.

use std::collections::BTreeMap;
use std::io::Read;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Feed;
use crate::error::{Result, SquishError};
use crate::graph::{Dim, Model, ValueInfo};
use crate::onnx::ops::array::cast;
use crate::tensor::{checked_numel, npy::read_npy, DType, Tensor};

/// Largest random input, in elements (a typo in a dimension must not
/// allocate gigabytes).
pub const MAX_RANDOM_ELEMENTS: usize = 1 << 26;

fn data_err(format: &'static str, detail: impl Into<String>) -> SquishError {
    SquishError::DataFile { format, detail: detail.into() }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomSpec {
    pub seed: u64,
    /// Input sets to make.
    pub count: usize,
    /// Values for symbolic dimensions by name (e.g. `"batch": 1`); other
    /// dynamic dimensions take `default_dim`.
    pub dims: BTreeMap<String, usize>,
    pub default_dim: usize,
    /// `[low, high)` per input name. Floats default to a standard normal,
    /// integers to [0, 10) (masks and type ids to {0, 1}), booleans to a fair coin.
    pub ranges: BTreeMap<String, (f64, f64)>,
}

impl Default for RandomSpec {
    fn default() -> Self {
        RandomSpec { seed: 0, count: 8, dims: BTreeMap::new(), default_dim: 1, ranges: BTreeMap::new() }
    }
}

/// The concrete shape of an input under `spec`.
pub fn concrete_shape(vi: &ValueInfo, spec: &RandomSpec) -> Result<Vec<usize>> {
    let crate::graph::ValueType::Tensor { shape: Some(dims), .. } = &vi.ty else {
        return Err(SquishError::input(&vi.name, "the model does not declare this input's shape; give the input as a file"));
    };
    let shape: Vec<usize> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) if *v >= 0 => *v as usize,
            Dim::Symbolic(s) => spec.dims.get(s).copied().unwrap_or(spec.default_dim),
            _ => spec.default_dim,
        })
        .collect();
    let n = checked_numel(&shape, &vi.name)?;
    if n > MAX_RANDOM_ELEMENTS {
        return Err(SquishError::input(&vi.name, format!("shape {shape:?} has {n} elements, more than the {MAX_RANDOM_ELEMENTS} allowed for random inputs")));
    }
    Ok(shape)
}

/// Integers default to [0, 10), masks and segment/type ids to {0, 1}
/// (an out-of-range token type fails the embedding lookup).
fn default_int_range(name: &str) -> (f64, f64) {
    let n = name.to_ascii_lowercase();
    if ["mask", "type", "segment"].iter().any(|k| n.contains(k)) {
        (0.0, 2.0)
    } else {
        (0.0, 10.0)
    }
}

/// `spec.count` seeded input sets: the same seed gives the same values on
/// every platform (ChaCha8).
pub fn random_feeds(model: &Model, spec: &RandomSpec) -> Result<Vec<Feed>> {
    for name in spec.ranges.keys() {
        if !model.graph.real_inputs().any(|v| &v.name == name) {
            return Err(SquishError::input(name, "a range was given for an input the model does not have"));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let normal = rand_distr::StandardNormal;
    let mut feeds = Vec::with_capacity(spec.count);
    for _ in 0..spec.count {
        let mut feed = Vec::new();
        for vi in model.graph.real_inputs() {
            let shape = concrete_shape(vi, spec)?;
            let n: usize = shape.iter().product();
            let dtype = vi.ty.dtype().ok_or_else(|| SquishError::input(&vi.name, "the model does not declare a supported element type"))?;
            let range = spec.ranges.get(&vi.name).copied();
            if let Some((lo, hi)) = range {
                if lo >= hi || !lo.is_finite() || !hi.is_finite() {
                    return Err(SquishError::input(&vi.name, format!("range [{lo}, {hi}) is empty or not finite")));
                }
            }
            let t = if dtype.is_float() {
                let v: Vec<f32> = match range {
                    Some((lo, hi)) => (0..n).map(|_| rng.random_range(lo..hi) as f32).collect(),
                    None => (0..n).map(|_| rng.sample::<f64, _>(normal) as f32).collect(),
                };
                cast(&Tensor::from_vec(&shape, v)?, dtype)?
            } else if dtype == DType::Bool {
                Tensor::from_vec(&shape, (0..n).map(|_| rng.random_bool(0.5)).collect())?
            } else {
                let (lo, hi) = range.unwrap_or_else(|| default_int_range(&vi.name));
                let (lo, hi) = (lo.ceil() as i64, hi.ceil() as i64);
                if lo >= hi {
                    return Err(SquishError::input(&vi.name, "the range holds no integer"));
                }
                cast(&Tensor::from_vec(&shape, (0..n).map(|_| rng.random_range(lo..hi)).collect())?, dtype)?
            };
            feed.push((vi.name.clone(), t));
        }
        feeds.push(feed);
    }
    Ok(feeds)
}

/// Binds named arrays to the model's inputs: by name, or in input order
/// when the names are numpy's `arr_0, arr_1, …` or `input_0, …`. Numeric
/// arrays are converted to the declared element type (numpy's float64 and
/// int64 defaults).
pub fn bind(model: &Model, arrays: Vec<(String, Tensor)>) -> Result<Feed> {
    let inputs: Vec<&ValueInfo> = model.graph.real_inputs().collect();
    let positional = |n: &str| n.strip_prefix("arr_").or_else(|| n.strip_prefix("input_")).and_then(|i| i.parse::<usize>().ok());
    let mut feed = Vec::new();
    for (name, t) in arrays {
        let vi = match inputs.iter().find(|v| v.name == name) {
            Some(v) => *v,
            None => match positional(&name).and_then(|i| inputs.get(i)) {
                Some(v) => *v,
                None => {
                    let names: Vec<&str> = inputs.iter().map(|v| v.name.as_str()).collect();
                    return Err(SquishError::input(&name, format!("the model has no such input (it takes: {})", names.join(", "))));
                }
            },
        };
        let t = match vi.ty.dtype() {
            Some(want) if want != t.dtype() && want != DType::Bool && t.dtype() != DType::Bool => {
                cast(&t, want).map_err(|e| SquishError::input(&vi.name, format!("cannot convert {} to {want}: {e}", t.dtype())))?
            }
            _ => t,
        };
        feed.push((vi.name.clone(), t));
    }
    for vi in &inputs {
        if !feed.iter().any(|(n, _)| *n == vi.name) {
            return Err(SquishError::input(&vi.name, "no array was given for this input"));
        }
    }
    Ok(feed)
}

/// The `.npy` members of a numpy `.npz` archive (stored or deflated), by
/// name without the extension.
pub fn read_npz(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| data_err("npz", format!("not a zip archive: {e}")))?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).map_err(|e| data_err("npz", format!("member {i}: {e}")))?;
        let name = f.name().to_string();
        let Some(stem) = name.strip_suffix(".npy") else { continue };
        // The declared size bounds the read: a forged header cannot make it allocate more.
        let size = f.size();
        let mut buf = Vec::with_capacity((size as usize).min(1 << 28));
        f.by_ref().take(size).read_to_end(&mut buf).map_err(|e| data_err("npz", format!("member '{name}': {e}")))?;
        let t = read_npy(&buf).map_err(|e| data_err("npz", format!("member '{name}': {e}")))?;
        out.push((stem.to_string(), t));
    }
    if out.is_empty() {
        return Err(data_err("npz", "the archive holds no .npy member"));
    }
    Ok(out)
}

/// A rectangular nested JSON array of numbers as a float64 tensor.
fn json_tensor(v: &serde_json::Value, what: &str) -> Result<Tensor> {
    let mut shape = Vec::new();
    let mut cur = v;
    while let serde_json::Value::Array(a) = cur {
        shape.push(a.len());
        match a.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    let mut flat = Vec::new();
    fn walk(v: &serde_json::Value, depth: usize, shape: &[usize], flat: &mut Vec<f64>, what: &str) -> Result<()> {
        match v {
            serde_json::Value::Array(a) => {
                if depth >= shape.len() || a.len() != shape[depth] {
                    return Err(data_err("JSON", format!("{what}: ragged array (rows of different lengths)")));
                }
                a.iter().try_for_each(|x| walk(x, depth + 1, shape, flat, what))
            }
            serde_json::Value::Number(n) if depth == shape.len() => {
                flat.push(n.as_f64().unwrap_or(f64::NAN));
                Ok(())
            }
            serde_json::Value::Bool(b) if depth == shape.len() => {
                flat.push(*b as u8 as f64);
                Ok(())
            }
            other => Err(data_err("JSON", format!("{what}: expected a number at depth {depth}, found {other}"))),
        }
    }
    walk(v, 0, &shape, &mut flat, what)?;
    Tensor::from_vec(&shape, flat)
}

/// JSON inputs: a nested array (one-input models), an object of arrays by
/// input name, or an array of such objects (several input sets).
pub fn read_json(text: &str, model: &Model) -> Result<Vec<Feed>> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| data_err("JSON", e.to_string()))?;
    let one = |obj: &serde_json::Map<String, serde_json::Value>| -> Result<Feed> {
        let arrays = obj.iter().map(|(k, v)| Ok((k.clone(), json_tensor(v, k)?))).collect::<Result<Vec<_>>>()?;
        bind(model, arrays)
    };
    match &v {
        serde_json::Value::Object(o) => Ok(vec![one(o)?]),
        serde_json::Value::Array(a) if a.first().is_some_and(|x| x.is_object()) => {
            a.iter().enumerate().map(|(i, x)| x.as_object().ok_or_else(|| data_err("JSON", format!("item {i} is not an object"))).and_then(&one)).collect()
        }
        serde_json::Value::Array(_) => {
            let inputs: Vec<&ValueInfo> = model.graph.real_inputs().collect();
            if inputs.len() != 1 {
                return Err(data_err(
                    "JSON",
                    format!("a bare array fits one-input models; this one takes {} (use an object keyed by input name)", inputs.len()),
                ));
            }
            Ok(vec![bind(model, vec![(inputs[0].name.clone(), json_tensor(&v, &inputs[0].name)?)])?])
        }
        _ => Err(data_err("JSON", "expected an array or an object of arrays")),
    }
}

/// CSV of numbers (an optional header row is skipped) for a one-input model:
/// one example per row, batched as `[rows, columns]`.
pub fn read_csv(text: &str, model: &Model) -> Result<Vec<Feed>> {
    let inputs: Vec<&ValueInfo> = model.graph.real_inputs().collect();
    if inputs.len() != 1 {
        return Err(data_err("CSV", format!("CSV fits one-input models; this one takes {}", inputs.len())));
    }
    let t = csv_matrix(text)?;
    Ok(vec![bind(model, vec![(inputs[0].name.clone(), t)])?])
}

/// The numbers of a CSV as a `[rows, columns]` float64 tensor.
pub fn csv_matrix(text: &str) -> Result<Tensor> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split([',', ';', '\t']).map(|c| c.trim()).collect();
        let parsed: std::result::Result<Vec<f64>, _> = cells.iter().map(|c| c.parse::<f64>()).collect();
        match parsed {
            Ok(r) => {
                if let Some(first) = rows.first() {
                    if first.len() != r.len() {
                        return Err(data_err("CSV", format!("line {} has {} columns, the first row has {}", ln + 1, r.len(), first.len())));
                    }
                }
                rows.push(r);
            }
            Err(_) if rows.is_empty() && ln == 0 => continue, // header
            Err(_) => return Err(data_err("CSV", format!("line {}: not all cells are numbers", ln + 1))),
        }
    }
    if rows.is_empty() {
        return Err(data_err("CSV", "no rows of numbers"));
    }
    let (r, c) = (rows.len(), rows[0].len());
    Tensor::from_vec(&[r, c], rows.into_iter().flatten().collect())
}

/// WAV (PCM 8/16/24/32-bit or float) as mono float samples in [-1, 1],
/// channels averaged, linearly resampled to `rate` when given. Returns
/// `[1, samples]` and the file's own rate.
pub fn read_wav(bytes: &[u8], rate: Option<u32>) -> Result<(Tensor, u32)> {
    let mut r = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| data_err("WAV", e.to_string()))?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let raw: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<std::result::Result<_, _>>(),
        hound::SampleFormat::Int => {
            let full = (1i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            r.samples::<i32>().map(|s| s.map(|v| v as f32 / full)).collect()
        }
    }
    .map_err(|e| data_err("WAV", e.to_string()))?;
    let mono: Vec<f32> = raw.chunks(ch).map(|c| c.iter().sum::<f32>() / ch as f32).collect();
    let out = match rate {
        Some(to) if to != spec.sample_rate && to > 0 => resample_linear(&mono, spec.sample_rate, to),
        _ => mono,
    };
    let n = out.len();
    Ok((Tensor::from_vec(&[1, n], out)?, spec.sample_rate))
}

pub fn resample_linear(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if x.is_empty() {
        return Vec::new();
    }
    let n = ((x.len() as u64 * to as u64) / from as u64).max(1) as usize;
    let step = from as f64 / to as f64;
    (0..n)
        .map(|i| {
            let p = i as f64 * step;
            let j = (p as usize).min(x.len() - 1);
            let f = (p - j as f64) as f32;
            let next = x[(j + 1).min(x.len() - 1)];
            x[j] * (1.0 - f) + next * f
        })
        .collect()
}

/// How a decoded image becomes a tensor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImageSpec {
    pub width: usize,
    pub height: usize,
    /// "nchw" or "nhwc".
    pub layout: String,
    /// "rgb", "bgr" or "gray".
    pub channels: String,
    /// Pixel values (0–255) are multiplied by this, then (x − mean) / std.
    pub scale: f32,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec::preset("imagenet").expect("built-in preset")
    }
}

impl ImageSpec {
    /// Presets: `imagenet` (224², RGB, ImageNet mean/std), `unit` ([0, 1]),
    /// `symmetric` ([-1, 1]), `raw` (0–255).
    pub fn preset(name: &str) -> Option<ImageSpec> {
        let base =
            |scale: f32, mean: Vec<f32>, std: Vec<f32>| ImageSpec { width: 224, height: 224, layout: "nchw".into(), channels: "rgb".into(), scale, mean, std };
        Some(match name {
            "imagenet" => base(1.0 / 255.0, vec![0.485, 0.456, 0.406], vec![0.229, 0.224, 0.225]),
            "unit" => base(1.0 / 255.0, vec![0.0], vec![1.0]),
            "symmetric" => base(1.0 / 255.0, vec![0.5], vec![0.5]),
            "raw" => base(1.0, vec![0.0], vec![1.0]),
            _ => return None,
        })
    }
}

impl ImageSpec {
    /// `{ "preset": "imagenet", "width": 96, … }`: a preset (default
    /// imagenet) with any fields overridden.
    pub fn from_json(text: &str) -> Result<ImageSpec> {
        let bad = |detail: String| SquishError::Decode { what: "image preprocessing settings".into(), detail };
        let mut v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let preset = v.as_object_mut().and_then(|o| o.remove("preset")).and_then(|p| p.as_str().map(String::from)).unwrap_or_else(|| "imagenet".into());
        let base = ImageSpec::preset(&preset).ok_or_else(|| bad(format!("unknown preset '{preset}' (imagenet, unit, symmetric, raw)")))?;
        let mut merged = serde_json::to_value(base).map_err(|e| bad(e.to_string()))?;
        if let (Some(m), Some(o)) = (merged.as_object_mut(), v.as_object()) {
            for (k, val) in o {
                m.insert(k.clone(), val.clone());
            }
        }
        serde_json::from_value(merged).map_err(|e| bad(e.to_string()))
    }
}

/// RGBA pixels (`width × height × 4`, as canvases give them) → a `[1, C, H, W]`
/// or `[1, H, W, C]` float tensor: bilinear resize, channel order, scale,
/// mean and std per channel (one value applies to all).
pub fn image_tensor(rgba: &[u8], width: usize, height: usize, spec: &ImageSpec) -> Result<Tensor> {
    let bad = |d: String| data_err("image", d);
    if width == 0 || height == 0 || rgba.len() != width * height * 4 {
        return Err(bad(format!("{} bytes do not hold {width}×{height} RGBA pixels", rgba.len())));
    }
    if spec.width == 0 || spec.height == 0 || spec.width * spec.height > 1 << 24 {
        return Err(bad(format!("target size {}×{} is out of range", spec.width, spec.height)));
    }
    let order: &[usize] = match spec.channels.as_str() {
        "rgb" => &[0, 1, 2],
        "bgr" => &[2, 1, 0],
        "gray" => &[0],
        other => return Err(bad(format!("channels must be rgb, bgr or gray, not '{other}'"))),
    };
    let c = order.len();
    let per = |v: &[f32], what: &str| -> Result<Vec<f32>> {
        match v.len() {
            1 => Ok(vec![v[0]; c]),
            n if n == c => Ok(v.to_vec()),
            n => Err(bad(format!("{what} has {n} values for {c} channels"))),
        }
    };
    let (mean, std) = (per(&spec.mean, "mean")?, per(&spec.std, "std")?);
    if std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
        return Err(bad("std must be non-zero".into()));
    }
    let (tw, th) = (spec.width, spec.height);
    let sample = |x: f32, y: f32, ch: usize| -> f32 {
        let px = |xi: usize, yi: usize| -> f32 {
            let p = &rgba[(yi * width + xi) * 4..][..4];
            if ch == 3 {
                0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
            } else {
                p[ch] as f32
            }
        };
        let (x0, y0) = (x.floor().max(0.0) as usize, y.floor().max(0.0) as usize);
        let (x0, y0) = (x0.min(width - 1), y0.min(height - 1));
        let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
        let (fx, fy) = ((x - x0 as f32).clamp(0.0, 1.0), (y - y0 as f32).clamp(0.0, 1.0));
        let top = px(x0, y0) * (1.0 - fx) + px(x1, y0) * fx;
        let bottom = px(x0, y1) * (1.0 - fx) + px(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let mut out = vec![0f32; c * tw * th];
    for yo in 0..th {
        // Pixel centres align (half-pixel mapping, as image libraries do).
        let y = ((yo as f32 + 0.5) * height as f32 / th as f32 - 0.5).max(0.0);
        for xo in 0..tw {
            let x = ((xo as f32 + 0.5) * width as f32 / tw as f32 - 0.5).max(0.0);
            for (k, &src) in order.iter().enumerate() {
                let src = if c == 1 { 3 } else { src };
                let v = (sample(x, y, src) * spec.scale - mean[k]) / std[k];
                let idx = match spec.layout.as_str() {
                    "nhwc" => (yo * tw + xo) * c + k,
                    _ => k * tw * th + yo * tw + xo,
                };
                out[idx] = v;
            }
        }
    }
    let shape = match spec.layout.as_str() {
        "nchw" => vec![1, c, th, tw],
        "nhwc" => vec![1, th, tw, c],
        other => return Err(bad(format!("layout must be nchw or nhwc, not '{other}'"))),
    };
    Tensor::from_vec(&shape, out)
}

fn extension(file_name: &str) -> String {
    file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
}

/// Input sets from one file, by extension: `.npz` (arrays by input name),
/// `.json`, `.csv`, `.npy` or `.pb` (one-input models, or a `.pb` whose
/// tensor is named after the input).
pub fn read_file(model: &Model, file_name: &str, bytes: &[u8]) -> Result<Vec<Feed>> {
    let text = || std::str::from_utf8(bytes).map_err(|_| data_err("text", format!("'{file_name}' is not UTF-8 text")));
    let single = |t: Tensor, name: Option<String>| -> Result<Vec<Feed>> {
        let inputs: Vec<&ValueInfo> = model.graph.real_inputs().collect();
        let name = match name.filter(|n| inputs.iter().any(|v| v.name == *n)) {
            Some(n) => n,
            None if inputs.len() == 1 => inputs[0].name.clone(),
            None => {
                return Err(data_err(
                    "inputs",
                    format!("'{file_name}' holds one array but the model takes {} inputs; use .npz or a folder of input_J files", inputs.len()),
                ))
            }
        };
        Ok(vec![bind(model, vec![(name, t)])?])
    };
    match extension(file_name).as_str() {
        "npz" => Ok(vec![bind(model, read_npz(bytes)?)?]),
        "json" => read_json(text()?, model),
        "csv" | "tsv" | "txt" => read_csv(text()?, model),
        "npy" => single(read_npy(bytes)?, None),
        "pb" => {
            let tp = crate::onnx::proto::decode_tensor(bytes)?;
            let t = crate::onnx::tensor_io::tensor_from_proto(&tp)?;
            single(t, Some(tp.name))
        }
        other => Err(data_err("inputs", format!("'{file_name}': unsupported extension '.{other}' (use .npz, .npy, .pb, .json or .csv)"))),
    }
}

/// One input set per text: `input_ids`, `attention_mask` and
/// `token_type_ids` (whichever the model takes, matched by name) as `[1, L]`.
/// L is the model's fixed sequence length when it declares one, else the
/// longest text's length (after truncation to `max_length`, or the
/// tokenizer's); shorter texts are padded with the pad id and a zero mask.
pub fn text_feeds(model: &Model, tokenizer: &crate::text::Tokenizer, texts: &[String], max_length: Option<usize>) -> Result<Vec<Feed>> {
    let inputs: Vec<&ValueInfo> = model.graph.real_inputs().collect();
    let role = |name: &str| -> Option<usize> {
        let n = name.to_ascii_lowercase();
        if n.contains("mask") {
            Some(1)
        } else if n.contains("type") || n.contains("segment") {
            Some(2)
        } else if n.contains("ids") || n.contains("input") {
            Some(0)
        } else {
            None
        }
    };
    for vi in &inputs {
        if role(&vi.name).is_none() {
            return Err(SquishError::input(&vi.name, "not a text input (expected input_ids, attention_mask or token_type_ids)"));
        }
    }
    let fixed_len = inputs.iter().find_map(|vi| match &vi.ty {
        crate::graph::ValueType::Tensor { shape: Some(d), .. } => match d.get(1) {
            Some(Dim::Fixed(v)) if *v > 0 => Some(*v as usize),
            _ => None,
        },
        _ => None,
    });
    let encodings: Vec<_> = texts.iter().map(|t| tokenizer.encode(t, fixed_len.or(max_length))).collect();
    // Without a fixed length, every text pads to the longest: outputs then
    // have one shape per example, which the comparison needs.
    let len = fixed_len.unwrap_or_else(|| encodings.iter().map(|e| e.ids.len()).max().unwrap_or(0));
    let mut feeds = Vec::with_capacity(texts.len());
    for e in encodings {
        let pad = |v: &[u32], fill: u32| -> Vec<i64> { v.iter().map(|&x| x as i64).chain(std::iter::repeat(fill as i64)).take(len).collect() };
        let columns = [pad(&e.ids, tokenizer.pad_id()), pad(&e.attention_mask, 0), pad(&e.type_ids, 0)];
        let arrays = inputs
            .iter()
            .map(|vi| Ok((vi.name.clone(), Tensor::from_vec(&[1, len], columns[role(&vi.name).expect("checked above")].clone())?)))
            .collect::<Result<Vec<_>>>()?;
        feeds.push(bind(model, arrays)?);
    }
    Ok(feeds)
}

/// Labels: `.npy`, a one-column (or one-row) `.csv`, or a JSON array.
pub fn read_labels(file_name: &str, bytes: &[u8]) -> Result<Tensor> {
    let text = || std::str::from_utf8(bytes).map_err(|_| data_err("labels", format!("'{file_name}' is not UTF-8 text")));
    match extension(file_name).as_str() {
        "npy" => read_npy(bytes),
        "csv" | "txt" => {
            let m = csv_matrix(text()?)?;
            let n = m.len();
            m.reshaped(&[n])
        }
        "json" => {
            let v: serde_json::Value = serde_json::from_str(text()?).map_err(|e| data_err("labels", e.to_string()))?;
            json_tensor(&v, "labels")
        }
        other => Err(data_err("labels", format!("'{file_name}': unsupported extension '.{other}' (use .npy, .csv or .json)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_and_errors() {
        let t = csv_matrix("a,b\n1,2\n3.5,-4\n").unwrap();
        assert_eq!(t.shape(), &[2, 2]);
        assert_eq!(t.to_f64_vec(), vec![1.0, 2.0, 3.5, -4.0]);
        assert!(csv_matrix("1,2\n3\n").unwrap_err().to_string().contains("line 2 has 1 columns"));
        assert!(csv_matrix("1,2\n3,x\n").unwrap_err().to_string().contains("line 2"));
        assert!(csv_matrix("").is_err());
    }

    #[test]
    fn json_arrays() {
        let v: serde_json::Value = serde_json::from_str("[[1, 2], [3, 4], [5, 6]]").unwrap();
        let t = json_tensor(&v, "x").unwrap();
        assert_eq!(t.shape(), &[3, 2]);
        let v: serde_json::Value = serde_json::from_str("[[1, 2], [3]]").unwrap();
        assert!(json_tensor(&v, "x").unwrap_err().to_string().contains("ragged"));
        let v: serde_json::Value = serde_json::from_str("[[1, \"a\"]]").unwrap();
        assert!(json_tensor(&v, "x").is_err());
    }

    #[test]
    fn integer_defaults_keep_masks_and_type_ids_valid() {
        assert_eq!(default_int_range("token_type_ids"), (0.0, 2.0));
        assert_eq!(default_int_range("attention_mask"), (0.0, 2.0));
        assert_eq!(default_int_range("segment_ids"), (0.0, 2.0));
        assert_eq!(default_int_range("input_ids"), (0.0, 10.0));
    }

    #[test]
    fn resample_by_hand() {
        // 4 samples at 8 kHz → 2 at 4 kHz: positions 0 and 2.
        assert_eq!(resample_linear(&[0.0, 1.0, 2.0, 3.0], 8000, 4000), vec![0.0, 2.0]);
        // Upsampling interpolates: positions 0, 0.5, 1, 1.5.
        assert_eq!(resample_linear(&[0.0, 1.0], 1, 2), vec![0.0, 0.5, 1.0, 1.0]);
    }

    #[test]
    fn image_by_hand() {
        // 2×1 image: red then blue. Same size, unit scaling, NCHW.
        let rgba = [255, 0, 0, 255, 0, 0, 255, 255];
        let mut spec = ImageSpec::preset("unit").unwrap();
        spec.width = 2;
        spec.height = 1;
        let t = image_tensor(&rgba, 2, 1, &spec).unwrap();
        assert_eq!(t.shape(), &[1, 3, 1, 2]);
        assert_eq!(t.to_f64_vec(), vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        spec.layout = "nhwc".into();
        spec.channels = "bgr".into();
        let t = image_tensor(&rgba, 2, 1, &spec).unwrap();
        assert_eq!(t.shape(), &[1, 1, 2, 3]);
        assert_eq!(t.to_f64_vec(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        // Downsampling 2 → 1 averages the two pixels (bilinear at the centre).
        spec.width = 1;
        spec.channels = "rgb".into();
        let t = image_tensor(&rgba, 2, 1, &spec).unwrap();
        assert_eq!(t.to_f64_vec(), vec![0.5, 0.0, 0.5]);
        assert!(image_tensor(&rgba[..7], 2, 1, &spec).is_err());
        spec.std = vec![0.0];
        assert!(image_tensor(&rgba, 2, 1, &spec).is_err());
        // A preset with overrides; unknown presets and keys are named.
        let s = ImageSpec::from_json(r#"{"preset": "symmetric", "width": 96, "layout": "nhwc"}"#).unwrap();
        assert_eq!((s.width, s.height, s.layout.as_str(), s.mean.clone()), (96, 224, "nhwc", vec![0.5]));
        assert!(ImageSpec::from_json(r#"{"preset": "sepia"}"#).unwrap_err().to_string().contains("unknown preset 'sepia'"));
        assert!(ImageSpec::from_json(r#"{"widht": 3}"#).unwrap_err().to_string().contains("widht"));
    }
}
