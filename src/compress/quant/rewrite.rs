//! Graph rewrites for each scheme. Weights are found as initializers
//! (`Constant` nodes are hoisted into initializers first); new nodes keep the
//! original node's output names so consumers need no change.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use ndarray::{ArrayD, IxDyn};

use super::gptq::{self, RowGroups};
use super::params::{self, Codes, Grouping, Half, Quantized};
use super::{Resolved, Rounding, Scheme};
use crate::compress::hessian::Hessian;
use crate::compress::record::{Histogram, StepRecord};
use crate::error::{Result, SquishError};
use crate::ir::editor::Editor;
use crate::ir::{opset_of, AttrValue, Attribute, Graph, Node};
use crate::tensor::{small::SmallType, Tensor};

mod branches;
mod schemes;
mod tables;

/// Smallest float initializer converted by the 16-bit storage schemes
/// (shape-like constants and scalars are not worth a Cast node).
const MIN_HALF_ELEMENTS: usize = 16;

/// Whether a node of this type can take `scheme` at all.
pub fn accepts(node: &Node, scheme: Scheme) -> bool {
    let op = node.op_type.as_str();
    node.domain.is_empty()
        && match scheme {
            Scheme::Fp32 | Scheme::Fp16 | Scheme::Bf16 => true,
            Scheme::Int8Weight | Scheme::Int4Weight => matches!(op, "MatMul" | "Gemm" | "Conv" | "ConvTranspose" | "Gather" | "LSTM" | "GRU" | "RNN"),
            Scheme::Int8Dynamic => matches!(op, "MatMul" | "Gemm" | "Conv" | "Gather" | "LSTM" | "GRU" | "RNN"),
            Scheme::Int8Static => matches!(op, "MatMul" | "Gemm" | "Conv" | "Gather" | "LSTM" | "GRU" | "RNN"),
            Scheme::Int4Block | Scheme::Int8Block => matches!(op, "MatMul" | "Gemm" | "Gather" | "LSTM" | "GRU" | "RNN"),
        }
}

/// The schemes an op type can take, for error messages.
pub fn supported_for(op_type: &str) -> String {
    let probe = Node {
        name: String::new(),
        op_type: op_type.into(),
        domain: String::new(),
        inputs: vec![],
        outputs: vec![],
        attributes: vec![],
        doc_string: String::new(),
    };
    let all =
        [Scheme::Fp16, Scheme::Bf16, Scheme::Int8Weight, Scheme::Int4Weight, Scheme::Int8Dynamic, Scheme::Int8Static, Scheme::Int4Block, Scheme::Int8Block];
    let ok: Vec<&str> = all.iter().filter(|s| accepts(&probe, **s)).map(|s| s.name()).collect();
    format!("{op_type} takes {}", ok.join(", "))
}

/// The number of input features of a MatMul/Gemm whose weight error
/// compensation can round: a constant 2-D float weight, activation first.
pub fn compensable_features(g: &Graph, n: &Node) -> Option<usize> {
    let matrix = n.domain.is_empty() && (n.op_type == "MatMul" || (n.op_type == "Gemm" && n.int_attr("transA", 0) == 0));
    let w = g.constant(n.inputs.get(1)?).filter(|_| matrix)?.as_f32()?;
    let trans_b = n.op_type == "Gemm" && n.int_attr("transB", 0) != 0;
    (w.ndim() == 2).then(|| w.shape()[if trans_b { 1 } else { 0 }])
}

/// The activation inputs (input 0) of the nodes that `int8_static` quantises.
pub fn static_activation_names(ed: &Editor, nodes: &[usize]) -> Vec<String> {
    let mut v: Vec<String> = nodes
        .iter()
        .map(|&i| &ed.nodes()[i])
        .filter(|n| accepts(n, Scheme::Int8Static) && n.inputs.len() > 1 && ed.initializer(&n.inputs[1]).is_some())
        .map(|n| n.inputs[0].clone())
        .filter(|x| ed.initializer(x).is_none())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The quantiser's state over the graph editor: weights already converted,
/// activations already quantised (shared by their readers).
pub struct Rewriter<'g> {
    ed: Editor<'g>,
    /// The model's operator sets (the graph alone does not carry them).
    opsets: Vec<(String, i64)>,
    /// Initializers already converted in place (shared weights are converted once).
    converted: HashSet<String>,
    /// Activation → outputs of its DynamicQuantizeLinear (quantised, scale, zero point).
    dynamic: HashMap<String, [String; 3]>,
    /// Activation → its QuantizeLinear/DequantizeLinear output.
    qdq: HashMap<String, String>,
    needs_ms_domain: bool,
    /// Layer input → its Hessian, for `"rounding": "gptq"`.
    hessians: HashMap<String, std::sync::Arc<Hessian>>,
    gptq: gptq::Options,
    /// Rounded weights kept across compressions (a target search).
    memo: crate::compress::Cache,
    /// Input → its prepared Hessian (Q, K and V read one input); also kept
    /// in `memo` across compressions (a search rounds each layer at several settings).
    prepared: std::cell::RefCell<HashMap<String, std::sync::Arc<gptq::Prepared>>>,
}

fn attr(name: &str, value: AttrValue) -> Attribute {
    Attribute { name: name.into(), value }
}

pub(super) fn node(op: &str, name: String, inputs: Vec<String>, outputs: Vec<String>, attributes: Vec<Attribute>) -> Node {
    Node { name, op_type: op.into(), domain: String::new(), inputs, outputs, attributes, doc_string: String::new() }
}

fn float_attr(n: &Node, name: &str, default: f32) -> f32 {
    match n.attr(name) {
        Some(AttrValue::Float(v)) => *v,
        _ => default,
    }
}

fn f32_tensor(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape matches"))
}

/// Codes as a tensor of the quantised type.
fn code_tensor(shape: &[usize], codes: &[i16], kind: Codes) -> Tensor {
    let s = IxDyn(shape);
    match kind {
        Codes::I8 => Tensor::I8(ArrayD::from_shape_vec(s, codes.iter().map(|&c| c as i8).collect()).expect("shape")),
        Codes::U8 => Tensor::U8(ArrayD::from_shape_vec(s, codes.iter().map(|&c| c as u8).collect()).expect("shape")),
        Codes::I4 => Tensor::Small(SmallType::I4, ArrayD::from_shape_vec(s, codes.iter().map(|&c| (c as i8 as u8) & 0xF).collect()).expect("shape")),
        _ => Tensor::Small(SmallType::U4, ArrayD::from_shape_vec(s, codes.iter().map(|&c| c as u8).collect()).expect("shape")),
    }
}

/// A hash of the values (a node may round several tensors: LSTM's W and R).
fn fingerprint(w: &[f32]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    w.iter().for_each(|v| h.write_u32(v.to_bits()));
    h.finish()
}

/// Stored size of `n` codes in the format.
fn code_bytes(n: usize, kind: Codes) -> usize {
    if kind == Codes::I4 || kind == Codes::U4 {
        n.div_ceil(2)
    } else {
        n
    }
}

impl<'g> Rewriter<'g> {
    /// Starts from `graph`; `Constant` nodes holding a tensor become
    /// initializers (one place to find weights; indices still match).
    pub fn new(graph: Cow<'g, Graph>, opsets: Vec<(String, i64)>) -> Rewriter<'g> {
        let mut ed = Editor::new(graph);
        for i in 0..ed.nodes().len() {
            ed.hoist_constant(i);
        }
        Rewriter {
            ed,
            opsets,
            converted: HashSet::new(),
            dynamic: HashMap::new(),
            qdq: HashMap::new(),
            needs_ms_domain: false,
            hessians: HashMap::new(),
            gptq: gptq::Options { damping: 0.01, act_order: false },
            memo: crate::compress::Cache::none(),
            prepared: Default::default(),
        }
    }

    /// Input Hessians for the layers rounded with error compensation.
    pub fn compensate_with(&mut self, hessians: HashMap<String, std::sync::Arc<Hessian>>, options: gptq::Options) {
        self.hessians = hessians;
        self.gptq = options;
    }

    /// Keeps each weight's rounding in `cache` (and reuses it).
    pub fn remember_in(&mut self, cache: crate::compress::Cache) {
        self.memo = cache;
    }

    /// A weight's codes: nearest rounding, or error-compensating when the
    /// layer asks for it and its input Hessian was gathered. `inputs_first`:
    /// the 2-D weight is stored `[inputs][outputs]` (MatMul's `[K, N]`).
    #[allow(clippy::too_many_arguments)]
    fn round(
        &self,
        n: &Node,
        s: Resolved,
        w: &[f32],
        shape: &[usize],
        grouping: Grouping,
        codes: Codes,
        symmetric: bool,
        inputs_first: bool,
    ) -> std::result::Result<Quantized, Stop> {
        let with_histogram = |mut q: Quantized| {
            let after = q.dequantized(shape, grouping);
            let mut histogram = Histogram::of(w, &after);
            histogram.output_error = self.output_error(n, w, &after, shape, inputs_first);
            q.histogram = Some(histogram);
            q
        };
        if !self.memo.is_keeping() {
            return self.round_now(n, s, w, shape, grouping, codes, symmetric, inputs_first).map(with_histogram);
        }
        // The weight's name and the node's settings fix the result (the
        // Hessian belongs to the cache's scope: the model and the inputs).
        let key = format!("round:{}:{:x}:{shape:?}:{s:?}:{grouping:?}:{codes:?}:{symmetric}:{inputs_first}:{:?}", n.name, fingerprint(w), self.gptq);
        if let Some(q) = self.memo.get::<Quantized>(&key) {
            return Ok(Quantized::clone(&q));
        }
        let q = with_histogram(self.round_now(n, s, w, shape, grouping, codes, symmetric, inputs_first)?);
        self.memo.put(&key, std::sync::Arc::new(q.clone()));
        Ok(q)
    }

    /// `Histogram::output_error` of a 2-D weight whose input Hessian is known.
    fn output_error(&self, n: &Node, before: &[f32], after: &[f32], shape: &[usize], inputs_first: bool) -> Option<f64> {
        let h = self.hessians.get(n.inputs.first()?)?;
        let (k, outs) = if inputs_first { (*shape.first()?, *shape.get(1)?) } else { (*shape.get(1)?, *shape.first()?) };
        if shape.len() != 2 || h.k != k {
            return None;
        }
        // Columns of [K, N]: one per output.
        let by_inputs = |v: &[f32]| -> Vec<f32> {
            if inputs_first {
                v.to_vec()
            } else {
                (0..k * outs).map(|x| v[(x % outs) * k + x / outs]).collect()
            }
        };
        let w = by_inputs(before);
        let d: Vec<f32> = w.iter().zip(by_inputs(after)).map(|(a, b)| a - b).collect();
        let signal = h.output_energy(&w, outs);
        (signal > 0.0).then(|| h.output_energy(&d, outs) / signal)
    }

    #[allow(clippy::too_many_arguments)]
    fn round_now(
        &self,
        n: &Node,
        s: Resolved,
        w: &[f32],
        shape: &[usize],
        grouping: Grouping,
        codes: Codes,
        symmetric: bool,
        inputs_first: bool,
    ) -> std::result::Result<Quantized, Stop> {
        let hessian =
            self.hessians.get(&n.inputs[0]).filter(|_| s.rounding == Rounding::Gptq && shape.len() == 2 && matches!(n.op_type.as_str(), "MatMul" | "Gemm"));
        let Some(h) = hessian else { return Ok(params::quantize(w, shape, grouping, codes, symmetric)) };
        let (rows, cols) = if inputs_first { (shape[1], shape[0]) } else { (shape[0], shape[1]) };
        if h.k != cols {
            return Err(Stop::Fail(SquishError::Calibration(format!("node '{}': the input has {} features but the weight {cols}", n.name, h.k))));
        }
        let groups = match grouping {
            Grouping::PerTensor => RowGroups::PerTensor,
            Grouping::PerChannel { .. } => RowGroups::PerRow,
            Grouping::Blocked { block, .. } => RowGroups::Blocks(block),
        };
        let by_rows: Vec<f32> = if inputs_first { (0..w.len()).map(|x| w[(x % cols) * rows + x / cols]).collect() } else { w.to_vec() };
        let memo_key = format!("gptq-prepared:{}:{:?}", n.inputs[0], self.gptq);
        let known = self.prepared.borrow().get(&n.inputs[0]).cloned().or_else(|| self.memo.get::<gptq::Prepared>(&memo_key));
        let prepared = match known {
            Some(p) => p,
            None => {
                let p = std::sync::Arc::new(gptq::prepare(h, self.gptq).map_err(|e| Stop::Fail(SquishError::Calibration(format!("node '{}': {e}", n.name))))?);
                self.memo.put(&memo_key, p.clone());
                p
            }
        };
        self.prepared.borrow_mut().insert(n.inputs[0].clone(), prepared.clone());
        Ok(gptq::quantize(&by_rows, rows, cols, &prepared, groups, codes, symmetric).into_quantized(rows, cols, groups, inputs_first))
    }

    pub fn editor(&self) -> &Editor<'g> {
        &self.ed
    }

    fn fresh(&mut self, base: &str) -> String {
        self.ed.fresh(base)
    }

    fn add_init(&mut self, base: &str, t: Tensor) -> String {
        self.ed.add_initializer(base, t)
    }

    /// A float32 weight input: an initializer no graph input can override.
    /// Borrowed: weights can be most of a model's memory.
    fn weight(&self, name: &str) -> Option<&ArrayD<f32>> {
        if name.is_empty() || self.ed.base().inputs.iter().any(|v| v.name == name) {
            return None;
        }
        self.ed.initializer(name)?.as_f32()
    }

    /// A float32 constant to read (not to convert): a weight, or one reached
    /// through `Identity` nodes (`Graph::constant`).
    fn read_constant(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.ed.constant(name)?.as_f32()
    }

    fn checked_weight(&self, name: &str) -> Result<Option<&ArrayD<f32>>> {
        let Some(w) = self.weight(name) else { return Ok(None) };
        if let Some((i, v)) = params::first_non_finite(w.as_slice().expect("initializers are contiguous")) {
            return Err(SquishError::tensor(name, format!("element {i} is {v}; NaN/Inf weights cannot be compressed (fix or exclude the layer)")));
        }
        Ok(Some(w))
    }

    fn opset(&self) -> i64 {
        opset_of(&self.opsets, "").unwrap_or(1)
    }

    pub fn apply(&mut self, index: usize, s: Resolved, ranges: &BTreeMap<String, (f32, f32)>, record: &mut StepRecord) -> Result<()> {
        if self.ed.is_edited(index) {
            return Ok(()); // a Constant hoisted into an initializer
        }
        let n = self.ed.nodes()[index].clone();
        let has_weights = n.inputs.iter().chain(&crate::runtime::node_captures(&n)).any(|i| self.weight(i).is_some_and(|w| w.len() >= MIN_HALF_ELEMENTS));
        if s.scheme == Scheme::Fp32 || !accepts(&n, s.scheme) {
            // A node with subgraphs has its weights quantised by `rewrite_inside`.
            if has_weights && s.scheme != Scheme::Fp32 && !branches::has_subgraphs(&n) {
                record.kept(&n, supported_for(&n.op_type));
            }
            return Ok(());
        }
        let outcome = match s.scheme {
            Scheme::Fp32 => Ok(()),
            Scheme::Fp16 | Scheme::Bf16 => self.half_storage(&n, if s.scheme == Scheme::Fp16 { Half::F16 } else { Half::BF16 }, record),
            _ if matches!(n.op_type.as_str(), "LSTM" | "GRU" | "RNN") => self.recurrent(&n, s, record),
            Scheme::Int8Weight | Scheme::Int4Weight => self.weight_only(&n, s, record),
            Scheme::Int8Dynamic | Scheme::Int8Static if n.op_type == "Gather" => self.weight_only(&n, s, record),
            Scheme::Int4Block | Scheme::Int8Block if n.op_type == "Gather" => self.blocked_table(index, &n, s, record),
            Scheme::Int8Dynamic => self.dynamic(index, &n, s, record),
            Scheme::Int8Static => self.static_qdq(index, &n, s, ranges, record),
            Scheme::Int4Block | Scheme::Int8Block => self.blocked(index, &n, s, record),
        };
        match outcome {
            Ok(()) => {
                let compensated = matches!(n.op_type.as_str(), "MatMul" | "Gemm") && self.hessians.contains_key(&n.inputs[0]);
                if s.rounding == Rounding::Gptq && has_weights && !compensated && s.scheme.has_integer_weights() {
                    let weight = self.weight_slot(&n).and_then(|(slot, _)| n.inputs.get(slot)).cloned().unwrap_or_default();
                    let why = format!("rounded to nearest: \"gptq\" compensates MatMul and Gemm weights (from their input activations), not {}", n.op_type);
                    record.warn(&n, &weight, why);
                }
                Ok(())
            }
            Err(Stop::Skip(reason)) => {
                if has_weights {
                    record.kept(&n, reason);
                }
                Ok(())
            }
            Err(Stop::Fail(e)) => Err(e),
        }
    }

    /// Stores every large float initializer the node reads as float16 or
    /// bfloat16, followed by a Cast back to float32 under the original name.
    fn half_storage(&mut self, n: &Node, format: Half, record: &mut StepRecord) -> Step {
        if format == Half::BF16 && self.opset() < 13 {
            return Err(Stop::Skip(format!("Cast from bfloat16 needs opset ≥ 13; the model imports {} (use fp16)", self.opset())));
        }
        // A node with subgraphs (If) also reads outer weights inside them: the
        // Cast is added to this graph, and the branches read its output by name.
        let mut names = n.inputs.clone();
        names.extend(crate::runtime::node_captures(n).into_iter().filter(|r| !n.inputs.contains(r)));
        for name in names {
            self.half_tensor(n, &name, format, record)?;
        }
        Ok(())
    }

    /// One weight `n` reads, stored in 16 bits with a Cast back under its name.
    /// Small constants (Clip bounds, shapes) are left alone, ±Inf included.
    pub(super) fn half_tensor(&mut self, n: &Node, name: &str, format: Half, record: &mut StepRecord) -> Step {
        if self.weight(name).is_none_or(|w| w.len() < MIN_HALF_ELEMENTS) || self.converted.contains(name) {
            return Ok(());
        }
        let w = self.checked_weight(name)?.expect("checked above");
        let (shape, len) = (w.shape().to_vec(), w.len());
        let flat = w.as_slice().expect("contiguous");
        if let Some(why) = params::half_refusal(flat, format) {
            record.kept(n, format!("'{name}' stays float32: {why}"));
            return Ok(());
        }
        let (t, err, scheme) = match format {
            Half::F16 => {
                let (v, e) = params::to_f16(flat);
                (Tensor::F16(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("shape")), e, "fp16")
            }
            Half::BF16 => {
                let (v, e) = params::to_bf16(flat);
                (Tensor::BF16(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("shape")), e, "bf16")
            }
        };
        let after: Vec<f32> = t.to_f64_vec().into_iter().map(|v| v as f32).collect();
        let histogram = Histogram::of(flat, &after);
        let stored = self.replace_initializer(name, &format!("{name}_{scheme}"), t.clone());
        let cast_name = self.fresh(&format!("{name}_cast"));
        self.ed.prepend(node("Cast", cast_name, vec![stored], vec![name.to_string()], vec![attr("to", AttrValue::Int(1))]));
        let zeros = t.to_f64_vec().iter().filter(|v| **v == 0.0).count();
        record.entry(name, n, scheme, "every value".into(), (len * 4, len * 2), zeros as f64 / len.max(1) as f64, err).histogram = Some(histogram);
        Ok(())
    }

    /// Removes initializer `old`, adds `t` under a fresh name based on `base`,
    /// and marks `old` converted (its name is now produced by a node).
    fn replace_initializer(&mut self, old: &str, base: &str, t: Tensor) -> String {
        self.ed.remove_initializer(old);
        self.converted.insert(old.to_string());
        self.add_init(base, t)
    }

    /// The weight input of a node and the axis of its output channels.
    fn weight_slot(&self, n: &Node) -> Option<(usize, usize)> {
        match n.op_type.as_str() {
            "MatMul" => Some((1, 1)),
            "Gemm" => Some((1, if n.int_attr("transB", 0) != 0 { 0 } else { 1 })),
            "Conv" => Some((1, 0)),
            "ConvTranspose" => Some((1, 1)),
            "Gather" => Some((0, 0)),
            _ => None,
        }
    }

    /// int8 (or 4-bit) weights behind a DequantizeLinear; the weight's name is
    /// then produced by that node (or by the per-channel scaling after it).
    fn weight_only(&mut self, n: &Node, s: Resolved, record: &mut StepRecord) -> Step {
        let (slot, axis) = self.weight_slot(n).ok_or_else(|| Stop::Skip(supported_for(&n.op_type)))?;
        let name = n.inputs.get(slot).cloned().unwrap_or_default();
        if let Some(why) = (n.op_type == "Gather").then(|| self.table_refusal(n)).flatten() {
            return Err(Stop::Skip(why));
        }
        self.weight_only_at(n, &name, axis, s, record)
    }

    /// `weight_only` for the weight `name` that `n` reads (directly, or
    /// inside its subgraphs), with output channels on `axis`.
    pub(super) fn weight_only_at(&mut self, n: &Node, name: &str, axis: usize, s: Resolved, record: &mut StepRecord) -> Step {
        let name = name.to_string();
        if self.converted.contains(&name) {
            return Ok(());
        }
        let opset = self.opset();
        if opset < 10 {
            return Err(Stop::Skip(format!("DequantizeLinear needs opset ≥ 10; the model imports {opset}")));
        }
        let w = self.checked_weight(&name)?.ok_or_else(|| Stop::Skip(format!("input '{name}' is not a float32 initializer")))?;
        let per_channel = s.per_channel && w.ndim() >= 2;
        // 4-bit levels: INT4/UINT4 tensors need opset 21; below that the same
        // 16 levels are stored in 8-bit codes (exact, but not smaller).
        let four_bit = s.scheme == Scheme::Int4Weight;
        let (levels, storage) = match (four_bit, s.symmetric, opset >= 21) {
            (false, true, _) => (Codes::I8, Codes::I8),
            (false, false, _) => (Codes::U8, Codes::U8),
            (true, true, wide) => (Codes::I4, if wide { Codes::I4 } else { Codes::I8 }),
            (true, false, wide) => (Codes::U4, if wide { Codes::U4 } else { Codes::U8 }),
        };
        let grouping = if per_channel { Grouping::PerChannel { axis } } else { Grouping::PerTensor };
        let inputs_first = !(n.op_type == "Gemm" && n.int_attr("transB", 0) != 0);
        let q = self.round(n, s, w.as_slice().expect("contiguous"), w.shape(), grouping, levels, s.symmetric, inputs_first)?;
        let (shape, len) = (w.shape().to_vec(), w.len());
        // The float32 copy goes first: peak memory is the model plus one tensor's codes.
        self.ed.remove_initializer(&name);
        self.converted.insert(name.clone());
        // Per-axis DequantizeLinear arrived in opset 13; before it, per-channel
        // parameters are applied by float ops after a per-tensor one.
        let (grouping_label, param_bytes) = if per_channel && opset < 13 {
            self.dequantize_per_channel_before_13(&name, &shape, axis, &q, storage);
            let zp_bytes = if s.symmetric { 0 } else { 4 };
            (format!("per channel (axis {axis}; scales applied by Mul: DequantizeLinear has no axis before opset 13)"), q.params.len() * (4 + zp_bytes))
        } else {
            let inputs = self.quantized_weight_inputs(&name, &shape, &q, storage);
            let attrs = if per_channel { vec![attr("axis", AttrValue::Int(axis as i64))] } else { vec![] };
            let dq = self.fresh(&format!("{name}_dequantize"));
            self.ed.prepend(node("DequantizeLinear", dq, inputs, vec![name.clone()], attrs));
            let label = if per_channel { format!("per channel (axis {axis})") } else { "per tensor".into() };
            (label, q.params.len() * (4 + code_bytes(1, storage)))
        };
        let label = if four_bit { "int4_weight" } else { "int8_weight" };
        if storage != levels {
            let detail = "4-bit levels stored in 8-bit codes: INT4 tensors need opset 21 (the model imports {opset}), so the weights are not smaller than int8";
            record.warn(n, &name, detail.replace("{opset}", &opset.to_string()));
        }
        record.entry(&name, n, label, grouping_label, (len * 4, code_bytes(len, storage) + param_bytes), q.sparsity(), q.max_abs_error).histogram =
            q.histogram.clone();
        Ok(())
    }

    /// Per-channel dequantisation for opset < 13: codes through a per-tensor
    /// `DequantizeLinear` (scale 1, zero point 0: the codes as exact floats),
    /// then `Sub` of the per-channel zero points (asymmetric only) and `Mul`
    /// by the per-channel scales, shaped to broadcast along `axis`. This is
    /// `(q − zp)·scale`, the arithmetic of a per-axis DequantizeLinear.
    fn dequantize_per_channel_before_13(&mut self, name: &str, shape: &[usize], axis: usize, q: &Quantized, storage: Codes) {
        let codes = self.add_init(&format!("{name}_quantized"), code_tensor(shape, &q.codes, storage));
        let one = self.add_init(&format!("{name}_unit_scale"), Tensor::scalar(1.0f32));
        let zero = self.add_init(&format!("{name}_zero_point"), code_tensor(&[], &[0], storage));
        let mut bshape = vec![1; shape.len()];
        bshape[axis] = q.params.len();
        let as_float = self.fresh(&format!("{name}_codes"));
        let dq = node("DequantizeLinear", self.fresh(&format!("{name}_dequantize")), vec![codes, one, zero], vec![as_float.clone()], vec![]);
        self.ed.prepend(dq);
        let centred = if q.params.iter().all(|p| p.zero_point == 0) {
            as_float
        } else {
            let zps = self.add_init(&format!("{name}_channel_zero_points"), f32_tensor(&bshape, q.params.iter().map(|p| p.zero_point as f32).collect()));
            let out = self.fresh(&format!("{name}_centred"));
            let sub = node("Sub", self.fresh(&format!("{name}_subtract_zero_points")), vec![as_float, zps], vec![out.clone()], vec![]);
            self.ed.prepend(sub);
            out
        };
        let scales = self.add_init(&format!("{name}_channel_scales"), f32_tensor(&bshape, q.params.iter().map(|p| p.scale).collect()));
        let mul = node("Mul", self.fresh(&format!("{name}_scale")), vec![centred, scales], vec![name.to_string()], vec![]);
        self.ed.prepend(mul);
    }

    /// Initializers for codes, scales and zero points of a quantised weight.
    pub(super) fn quantized_weight_inputs(&mut self, name: &str, shape: &[usize], q: &Quantized, codes: Codes) -> Vec<String> {
        let wq = self.add_init(&format!("{name}_quantized"), code_tensor(shape, &q.codes, codes));
        let scales: Vec<f32> = q.params.iter().map(|p| p.scale).collect();
        let zps: Vec<i16> = q.params.iter().map(|p| p.zero_point as i16).collect();
        let scale = self.add_init(&format!("{name}_scale"), f32_tensor(&q.param_shape, scales));
        let zp = self.add_init(&format!("{name}_zero_point"), code_tensor(&q.param_shape, &zps, codes));
        vec![wq, scale, zp]
    }

    /// The rewritten graph (prelude nodes, then every node or its
    /// replacement, unread initializers dropped) and the opsets, with
    /// `com.microsoft` added when a contrib op was written.
    pub fn finish(self) -> (Graph, Vec<(String, i64)>) {
        let mut opsets = self.opsets;
        if self.needs_ms_domain && opset_of(&opsets, "com.microsoft").is_none() {
            opsets.push(("com.microsoft".into(), 1));
        }
        (self.ed.finish(), opsets)
    }
}

/// Why a scheme step stopped: the layer stays fp32 (recorded), or a real error.
pub(super) enum Stop {
    Skip(String),
    Fail(SquishError),
}

impl From<SquishError> for Stop {
    fn from(e: SquishError) -> Self {
        Stop::Fail(e)
    }
}

pub(super) type Step = std::result::Result<(), Stop>;
