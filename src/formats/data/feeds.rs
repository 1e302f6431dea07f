//! Input sets for a model ("feeds"): named arrays bound to its declared
//! inputs, read from a file, made from texts, or drawn at random (seeded,
//! from the declared shapes).

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::{csv::csv_matrix, data_err, extension, json::json_tensor, npy::read_npy, npz::read_npz};
use crate::error::{Result, SquishError};
use crate::ir::{Dim, Model, ValueInfo, ValueType};
use crate::tensor::cast::cast;
use crate::tensor::{checked_numel, DType, Tensor};

/// One input set: a value for every graph input.
pub type Feed = Vec<(String, Tensor)>;

/// Largest random input, in elements (a typo in a dimension must not
/// allocate gigabytes).
pub const MAX_RANDOM_ELEMENTS: usize = 1 << 26;

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
    let crate::ir::ValueType::Tensor { shape: Some(dims), .. } = &vi.ty else {
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

/// Whether every input of the model takes any batch size.
pub fn batch_is_dynamic(model: &Model) -> bool {
    model.graph.real_inputs().all(|vi| matches!(&vi.ty, ValueType::Tensor { shape: Some(d), .. } if !d.is_empty() && !matches!(d[0], Dim::Fixed(_))))
}

/// One input set per example, when a set holds a batch (every tensor's
/// first axis the same, above 1) of a model whose inputs take any batch: the
/// split into searched and held-back inputs is then per example.
pub fn per_example(model: &Model, feeds: Vec<Feed>) -> Vec<Feed> {
    if !batch_is_dynamic(model) {
        return feeds;
    }
    let batch = |f: &Feed| {
        let b = f.first().and_then(|(_, t)| t.shape().first().copied())?;
        f.iter().all(|(_, t)| t.shape().first() == Some(&b)).then_some(b)
    };
    let mut out = Vec::with_capacity(feeds.len());
    for f in feeds {
        match batch(&f) {
            Some(b) if b > 1 => out.extend((0..b).map(|i| {
                let row = |t: &Tensor| crate::map_tensor!(t, a => a.index_axis(ndarray::Axis(0), i).insert_axis(ndarray::Axis(0)).to_owned());
                f.iter().map(|(n, t)| (n.clone(), row(t))).collect()
            })),
            _ => out.push(f),
        }
    }
    out
}

/// One text example without its padding: when the model takes any
/// sequence length and every input of `feed` is `[1, L]` integers, one of
/// them an attention mask (named so) of ones then zeros, each input is cut
/// to the mask's ones. The padded positions are masked out of attention and
/// pooling, so the model's outputs for the real tokens do not change, but
/// every layer does less work. Other feeds come back as they were.
pub fn trim_padding(model: &Model, feed: Feed) -> Feed {
    let width = match feed.first().map(|(_, t)| t.shape()) {
        Some([1, w]) => *w,
        _ => return feed,
    };
    let text = feed.iter().all(|(_, t)| t.shape() == [1, width] && !t.dtype().is_float());
    let sequence_dynamic =
        model.graph.real_inputs().all(|vi| matches!(&vi.ty, ValueType::Tensor { shape: Some(d), .. } if d.len() == 2 && !matches!(d[1], Dim::Fixed(_))));
    let Some(mask) = feed.iter().find(|(n, _)| n.to_ascii_lowercase().contains("mask")).and_then(|(_, t)| t.to_i64_vec()) else { return feed };
    let len = mask.iter().take_while(|&&v| v == 1).count();
    if !text || !sequence_dynamic || len == 0 || len == width || mask[len..].iter().any(|&v| v != 0) {
        return feed;
    }
    feed.into_iter()
        .map(|(n, t)| {
            let cut = crate::map_tensor!(&t, a => a.slice_axis(ndarray::Axis(1), ndarray::Slice::from(0..len)).to_owned());
            (n, cut)
        })
        .collect()
}

/// The feeds joined along the first axis (each example has it at 1).
pub fn join(feeds: &[Feed]) -> Option<Feed> {
    if feeds.len() == 1 {
        return Some(feeds[0].clone());
    }
    if feeds.iter().flatten().any(|(_, t)| t.shape().first() != Some(&1)) {
        return None;
    }
    fn cat<T: Clone>(parts: Vec<&ndarray::ArrayD<T>>) -> Option<ndarray::ArrayD<T>> {
        let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
        ndarray::concatenate(ndarray::Axis(0), &views).ok()
    }
    let mut out = Vec::with_capacity(feeds[0].len());
    for (j, (name, first)) in feeds[0].iter().enumerate() {
        let col = feeds.iter().map(|f| &f[j].1);
        let t = match first {
            Tensor::F32(_) => Tensor::F32(cat(col.map(|t| t.as_f32()).collect::<Option<_>>()?)?),
            Tensor::I64(_) => Tensor::I64(cat(col.map(|t| if let Tensor::I64(a) = t { Some(a) } else { None }).collect::<Option<_>>()?)?),
            Tensor::I32(_) => Tensor::I32(cat(col.map(|t| if let Tensor::I32(a) = t { Some(a) } else { None }).collect::<Option<_>>()?)?),
            _ => return None,
        };
        out.push((name.clone(), t));
    }
    Some(out)
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
            let tp = crate::formats::onnx::proto::decode_tensor(bytes)?;
            let t = crate::formats::onnx::tensor_io::tensor_from_proto(&tp)?;
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
pub fn text_feeds(model: &Model, tokenizer: &crate::formats::tokenizer::Tokenizer, texts: &[String], max_length: Option<usize>) -> Result<Vec<Feed>> {
    encode_texts(model, tokenizer, texts, max_length, None)
}

/// As `text_feeds`, every text cut and padded to `length` tokens (text
/// probes: changed texts keep the clean input sets' shape).
pub fn text_feeds_of_length(model: &Model, tokenizer: &crate::formats::tokenizer::Tokenizer, texts: &[String], length: usize) -> Result<Vec<Feed>> {
    encode_texts(model, tokenizer, texts, Some(length), Some(length))
}

fn encode_texts(
    model: &Model,
    tokenizer: &crate::formats::tokenizer::Tokenizer,
    texts: &[String],
    max_length: Option<usize>,
    length: Option<usize>,
) -> Result<Vec<Feed>> {
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
        crate::ir::ValueType::Tensor { shape: Some(d), .. } => match d.get(1) {
            Some(Dim::Fixed(v)) if *v > 0 => Some(*v as usize),
            _ => None,
        },
        _ => None,
    });
    let encodings: Vec<_> = texts.iter().map(|t| tokenizer.encode(t, fixed_len.or(max_length))).collect();
    // Without a fixed length, every text pads to the longest: outputs then
    // have one shape per example, which the comparison needs.
    let len = fixed_len.or(length).unwrap_or_else(|| encodings.iter().map(|e| e.ids.len()).max().unwrap_or(0));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_defaults_keep_masks_and_type_ids_valid() {
        assert_eq!(default_int_range("token_type_ids"), (0.0, 2.0));
        assert_eq!(default_int_range("attention_mask"), (0.0, 2.0));
        assert_eq!(default_int_range("segment_ids"), (0.0, 2.0));
        assert_eq!(default_int_range("input_ids"), (0.0, 10.0));
    }

    #[test]
    fn padding_is_cut_from_text_examples_only() {
        let vi = |name: &str, len: Dim| ValueInfo {
            name: name.into(),
            ty: ValueType::Tensor { elem_type: 7, shape: Some(vec![Dim::Symbolic("batch".into()), len]) },
            doc_string: String::new(),
        };
        let mut model = Model {
            ir_version: 8,
            opsets: vec![(String::new(), 17)],
            producer_name: String::new(),
            producer_version: String::new(),
            domain: String::new(),
            model_version: 0,
            doc_string: String::new(),
            metadata: vec![],
            graph: crate::ir::Graph {
                name: "g".into(),
                doc_string: String::new(),
                nodes: vec![],
                inputs: vec![],
                outputs: vec![],
                initializers: vec![],
                value_info: vec![],
                sparse_stored: Default::default(),
            },
        };
        model.graph.inputs = vec![vi("input_ids", Dim::Symbolic("seq".into())), vi("attention_mask", Dim::Symbolic("seq".into()))];
        let feed = |ids: Vec<i64>, mask: Vec<i64>| -> Feed {
            vec![
                ("input_ids".into(), Tensor::from_vec(&[1, ids.len()], ids).unwrap()),
                ("attention_mask".into(), Tensor::from_vec(&[1, mask.len()], mask).unwrap()),
            ]
        };
        assert_eq!(trim_padding(&model, feed(vec![101, 7, 102, 0, 0], vec![1, 1, 1, 0, 0])), feed(vec![101, 7, 102], vec![1, 1, 1]));
        // A mask with a hole, no padding, or a model of fixed length: unchanged.
        for f in [feed(vec![1, 2, 3, 0], vec![1, 0, 1, 0]), feed(vec![1, 2], vec![1, 1])] {
            assert_eq!(trim_padding(&model, f.clone()), f);
        }
        model.graph.inputs = vec![vi("input_ids", Dim::Fixed(5)), vi("attention_mask", Dim::Fixed(5))];
        let f = feed(vec![101, 7, 102, 0, 0], vec![1, 1, 1, 0, 0]);
        assert_eq!(trim_padding(&model, f.clone()), f);
    }
}
