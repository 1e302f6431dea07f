//! onnxruntime's attention fusions (`com.microsoft`, float32):
//!
//! * Attention: one projection of the input to Q, K and V (merged weights,
//!   optional `qkv_hidden_sizes`), optional `past` (`present` out);
//! * MultiHeadAttention: Q, K and V given (3-D, with an optional merged
//!   bias), K and V already split into heads (4-D), or Q, K and V packed in
//!   the query (`[batch, seq, heads, 3, head]`); optional past key and value.
//!
//! Both: `softmax(scale·Q·Kᵀ + mask + attention_bias)·V` per head, the mask
//! being `mask_filter_value` (default −10000) where a key is masked — by a
//! key-padding mask (`[batch]` valid lengths, `[2·batch]` end and start
//! positions, `[batch, total]` or `[batch, seq, total]` of 0/1) or, with
//! `unidirectional`, after the query's own position — and 0 elsewhere, as
//! onnxruntime's CPU kernels compute it. Other layouts and options are
//! errors naming the attribute or input.

use ndarray::{ArrayD, IxDyn};

use super::facts::{input, Facts};
use super::{optional_f32, required_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::ir::infer::fixed;
use crate::ir::{Dim, Node};
use crate::kernels::active as k;
use crate::tensor::Tensor;

const MS: &str = "com.microsoft";

pub fn register(r: &mut Registry) {
    r.insert(MS, "Attention", build_attention);
    r.insert(MS, "MultiHeadAttention", build_mha);
    r.facts(MS, &["Attention"], attention_facts);
    r.facts(MS, &["MultiHeadAttention"], mha_facts);
}

/// `[batch, seq, v_hidden]` (v_hidden from `qkv_hidden_sizes` or a third of the weights' columns).
fn attention_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let (x, w) = (input(ins, 0), input(ins, 1));
    let v = match crate::ir::infer::ints_attr(node, "qkv_hidden_sizes") {
        Some(s) if s.len() == 3 => Dim::Fixed(s[2]),
        _ => w.shape.as_ref().filter(|s| s.len() == 2).and_then(|s| fixed(&s[1])).filter(|c| c % 3 == 0).map_or(Dim::Unknown, |c| Dim::Fixed(c / 3)),
    };
    let shape = x.shape.filter(|s| s.len() == 3).map(|s| vec![s[0].clone(), s[1].clone(), v]);
    vec![Facts::with(x.dtype, shape), Facts::with(x.dtype, None)]
}

/// `[batch, seq, v_hidden]` for 3-D query and value.
fn mha_facts(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    let (q, v) = (input(ins, 0), input(ins, 2));
    let shape = match (&q.shape, &v.shape) {
        (Some(q), Some(v)) if q.len() == 3 && v.len() == 3 => Some(vec![q[0].clone(), q[1].clone(), v[2].clone()]),
        (Some(q), Some(v)) if q.len() == 3 && v.len() == 4 => {
            let hidden = fixed(&v[1]).zip(fixed(&v[3])).map_or(Dim::Unknown, |(n, h)| Dim::Fixed(n * h));
            Some(vec![q[0].clone(), q[1].clone(), hidden])
        }
        _ => None,
    };
    vec![Facts::with(q.dtype, shape), Facts::with(q.dtype, None), Facts::with(q.dtype, None)]
}

/// Settings both ops share.
struct Common {
    heads: usize,
    scale: Option<f32>,
    causal: bool,
    mask_filter: f32,
}

fn common(ctx: &BuildCtx) -> Result<Common> {
    let a = ctx.attrs();
    let heads = a.required_int("num_heads")?;
    if heads < 1 {
        return Err(a.error("num_heads", format!("must be ≥ 1, got {heads}")));
    }
    let causal = a.int("unidirectional", 0)?;
    if causal != 0 && causal != 1 {
        return Err(a.error("unidirectional", format!("must be 0 or 1, got {causal}")));
    }
    Ok(Common { heads: heads as usize, scale: a.opt_float("scale")?, causal: causal == 1, mask_filter: a.float("mask_filter_value", -10000.0)? })
}

/// Per-head values, `[batch, heads, len, size]`.
struct Heads {
    data: Vec<f32>,
    batch: usize,
    heads: usize,
    len: usize,
    size: usize,
}

impl Heads {
    /// Columns `col .. col + heads·size` of rows `[batch·len, stride]`, split into heads.
    fn from_rows(rows: &[f32], (batch, len, heads, size): (usize, usize, usize, usize), stride: usize, col: usize) -> Heads {
        let mut data = vec![0.0f32; batch * heads * len * size];
        for b in 0..batch {
            for l in 0..len {
                let row = &rows[(b * len + l) * stride + col..][..heads * size];
                for n in 0..heads {
                    data[((b * heads + n) * len + l) * size..][..size].copy_from_slice(&row[n * size..(n + 1) * size]);
                }
            }
        }
        Heads { data, batch, heads, len, size }
    }

    fn of(t: &ArrayD<f32>) -> Heads {
        let s = t.shape();
        Heads { data: super::contiguous(t).into_owned(), batch: s[0], heads: s[1], len: s[2], size: s[3] }
    }

    fn head(&self, b: usize, n: usize) -> &[f32] {
        &self.data[(b * self.heads + n) * self.len * self.size..][..self.len * self.size]
    }

    /// `past` (same batch, heads and size) followed by these values.
    fn after(self, past: Option<Heads>, what: &str) -> Result<Heads> {
        let Some(p) = past else { return Ok(self) };
        if (p.batch, p.heads, p.size) != (self.batch, self.heads, self.size) {
            let want = format!("[{}, {}, past_len, {}]", self.batch, self.heads, self.size);
            return Err(SquishError::op(format!("{what} has shape [{}, {}, {}, {}]; expected {want}", p.batch, p.heads, p.len, p.size)));
        }
        let len = p.len + self.len;
        let mut data = Vec::with_capacity(self.batch * self.heads * len * self.size);
        for b in 0..self.batch {
            for n in 0..self.heads {
                data.extend_from_slice(p.head(b, n));
                data.extend_from_slice(self.head(b, n));
            }
        }
        Ok(Heads { data, len, ..self })
    }

    fn tensor(&self) -> Tensor {
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[self.batch, self.heads, self.len, self.size]), self.data.clone()).expect("sized"))
    }
}

/// Where the queries of one call may look: sizes and the masks.
struct Scene<'a> {
    batch: usize,
    seq: usize,
    total: usize,
    past: usize,
    mask: Option<&'a Tensor>,
    mask_what: &'a str,
    bias: Option<&'a ArrayD<f32>>,
}

impl Common {
    /// The additive mask `[batch, seq, total]`, `None` when nothing is masked.
    fn mask(&self, sc: &Scene) -> Result<Option<Vec<f32>>> {
        let (b, s, t, what) = (sc.batch, sc.seq, sc.total, sc.mask_what);
        if sc.mask.is_none() && !self.causal {
            return Ok(None);
        }
        let mut keep = vec![true; b * s * t];
        if let Some(m) = sc.mask {
            let v = m.to_i64_vec().ok_or_else(|| SquishError::op(format!("{what} must be integers (int32), got {}", m.dtype())))?;
            let shape = m.shape();
            let lens = |row: usize, j: usize| -> bool {
                let end = v[row].clamp(0, t as i64) as usize;
                let start = if v.len() == 2 * b { v[row + b].clamp(0, t as i64) as usize } else { 0 };
                (start..end).contains(&j)
            };
            for (i, kp) in keep.iter_mut().enumerate() {
                let (bi, qi, j) = (i / (s * t), (i / t) % s, i % t);
                *kp = match shape.len() {
                    1 if shape[0] == b || shape[0] == 2 * b => lens(bi, j),
                    2 if shape == [b, t] => v[bi * t + j] > 0,
                    3 if shape == [b, s, t] => v[(bi * s + qi) * t + j] > 0,
                    _ => {
                        return Err(SquishError::op(format!(
                            "{what} has shape {shape:?}; supported: [{b}] (valid lengths), [{}] (end and start positions), [{b}, {t}] or [{b}, {s}, {t}] (0/1 masks)",
                            2 * b
                        )))
                    }
                };
            }
        }
        if self.causal {
            keep.iter_mut().enumerate().filter(|(i, _)| i % t > sc.past + (i / t) % s).for_each(|(_, kp)| *kp = false);
        }
        Ok(Some(keep.into_iter().map(|kp| if kp { 0.0 } else { self.mask_filter }).collect()))
    }

    /// `softmax(scale·QKᵀ + mask + bias)·V` per head, as rows `[batch·seq, heads·v_size]`.
    fn attend(&self, q: &Heads, kh: &Heads, v: &Heads, sc: &Scene) -> Result<Vec<f32>> {
        let (b, n, s, t, hq, hv) = (q.batch, q.heads, q.len, kh.len, q.size, v.size);
        if (kh.batch, kh.heads, kh.size) != (b, n, hq) || (v.batch, v.heads, v.len) != (b, n, t) {
            return Err(SquishError::op(format!(
                "query [{b}, {n} heads, {s}, {hq}], key [{}, {} heads, {}, {}] and value [{}, {} heads, {}, {hv}] do not fit together",
                kh.batch, kh.heads, kh.len, kh.size, v.batch, v.heads, v.len
            )));
        }
        let mask = self.mask(sc)?;
        let bias = sc.bias.map(|a| attention_bias(a, b, n, s, t)).transpose()?;
        let scale = self.scale.unwrap_or(1.0 / (hq as f32).sqrt());
        let mut out = vec![0.0f32; b * s * n * hv];
        let (mut kt, mut scores, mut ctx) = (vec![0.0f32; hq * t], vec![0.0f32; s * t], vec![0.0f32; s * hv]);
        for bi in 0..b {
            for ni in 0..n {
                let kbn = kh.head(bi, ni);
                (0..hq * t).for_each(|i| kt[i] = kbn[(i % t) * hq + i / t]);
                gemm(s, hq, t, q.head(bi, ni), &kt, &mut scores);
                for (i, sv) in scores.iter_mut().enumerate() {
                    *sv = *sv * scale + mask.as_ref().map_or(0.0, |m| m[bi * s * t + i]) + bias.as_ref().map_or(0.0, |(a, st)| a[bi * st[0] + ni * st[1] + i]);
                }
                k::softmax_f32(&mut scores, t);
                gemm(s, t, hv, &scores, v.head(bi, ni), &mut ctx);
                for qi in 0..s {
                    out[(bi * s + qi) * n * hv + ni * hv..][..hv].copy_from_slice(&ctx[qi * hv..(qi + 1) * hv]);
                }
            }
        }
        Ok(out)
    }
}

fn gemm(m: usize, kk: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if kk == 0 {
        c.fill(0.0);
    } else if m > 0 && n > 0 {
        k::gemm_f32(m, kk, n, a, b, c);
    }
}

/// The attention bias as data with batch and head strides (0 where it broadcasts).
fn attention_bias(a: &ArrayD<f32>, b: usize, n: usize, s: usize, t: usize) -> Result<(Vec<f32>, [usize; 2])> {
    let sh = a.shape();
    if sh.len() != 4 || !(sh[0] == b || sh[0] == 1) || !(sh[1] == n || sh[1] == 1) || sh[2] != s || sh[3] != t {
        return Err(SquishError::op(format!("attention_bias has shape {sh:?}; expected [{b} or 1, {n} or 1, {s}, {t}]")));
    }
    let head = if sh[1] == 1 { 0 } else { s * t };
    Ok((super::contiguous(a).into_owned(), [if sh[0] == 1 { 0 } else { sh[1] * s * t }, head]))
}

fn rows_tensor(rows: Vec<f32>, b: usize, s: usize) -> Tensor {
    let c = rows.len() / (b * s).max(1);
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[b, s, c]), rows).expect("sized"))
}

/// Optional inputs an op does not implement: an error naming them when given.
fn refuse(inputs: &[Option<&Tensor>], which: &[(usize, &str)]) -> Result<()> {
    match which.iter().find(|(i, _)| inputs.get(*i).copied().flatten().is_some()) {
        Some((i, what)) => Err(SquishError::op(format!("{what} (input {i}) is not supported"))),
        None => Ok(()),
    }
}

struct Attention {
    common: Common,
    /// Q, K and V widths from `qkv_hidden_sizes` (`None`: thirds of the weights).
    sizes: Option<[usize; 3]>,
    /// Whether the node reads the `present` output.
    present: bool,
}

fn build_attention(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let common = common(ctx)?;
    for name in ["do_rotary", "past_present_share_buffer"] {
        if a.int(name, 0)? != 0 {
            return Err(a.error(name, "only 0 is supported"));
        }
    }
    let sizes = match a.opt_ints("qkv_hidden_sizes")? {
        None => None,
        Some(&[q, kk, v]) if q == kk && q > 0 && v > 0 && q as usize % common.heads == 0 && v as usize % common.heads == 0 => {
            Some([q as usize, kk as usize, v as usize])
        }
        Some(v) => {
            return Err(
                a.error("qkv_hidden_sizes", format!("{v:?}: expected three positive sizes, Q and K equal, each a multiple of num_heads = {}", common.heads))
            )
        }
    };
    let present = ctx.node.outputs.get(1).is_some_and(|o| !o.is_empty());
    if present && sizes.is_some_and(|[_, kk, v]| kk != v) {
        return Err(a.error("qkv_hidden_sizes", "the present output needs equal K and V hidden sizes"));
    }
    Ok(Box::new(Attention { common, sizes, present }))
}

impl Attention {
    /// The input projected to Q, K and V heads.
    fn project(&self, inputs: &[Option<&Tensor>]) -> Result<(Heads, Heads, Heads)> {
        let x = required_f32(inputs, 0, "input")?;
        let w = required_f32(inputs, 1, "weights")?;
        let &[b, s, hin] = x.shape() else { return Err(SquishError::op(format!("input must be [batch, seq, hidden], got {:?}", x.shape()))) };
        if w.ndim() != 2 || w.shape()[0] != hin {
            return Err(SquishError::op(format!("weights has shape {:?}; expected [{hin}, q + k + v hidden sizes]", w.shape())));
        }
        let cols = w.shape()[1];
        let n = self.common.heads;
        let [dq, dk, dv] = self.sizes.unwrap_or([cols / 3; 3]);
        if dq + dk + dv != cols || dq % n != 0 || dv % n != 0 || dq == 0 {
            return Err(SquishError::op(format!("weights has {cols} columns; expected Q + K + V = {dq} + {dk} + {dv}, each a multiple of num_heads = {n}")));
        }
        let mut proj = vec![0.0f32; b * s * cols];
        gemm(b * s, hin, cols, &super::contiguous(x), &super::contiguous(w), &mut proj);
        if let Some(bias) = optional_f32(inputs, 2, "bias")? {
            if bias.shape() != [cols] {
                return Err(SquishError::op(format!("bias has shape {:?}; expected [{cols}]", bias.shape())));
            }
            let bv = super::contiguous(bias);
            proj.chunks_exact_mut(cols).for_each(|r| r.iter_mut().zip(bv.iter()).for_each(|(p, b)| *p += b));
        }
        let geo = |d: usize| (b, s, n, d / n);
        Ok((Heads::from_rows(&proj, geo(dq), cols, 0), Heads::from_rows(&proj, geo(dk), cols, dq), Heads::from_rows(&proj, geo(dv), cols, dq + dk)))
    }
}

impl Op for Attention {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        refuse(inputs, &[(6, "past_sequence_length")])?;
        let (q, kh, v) = self.project(inputs)?;
        let (b, s) = (q.batch, q.len);
        let (past_k, past_v) = match optional_f32(inputs, 4, "past")? {
            None => (None, None),
            Some(p) if p.ndim() == 5 && p.shape()[0] == 2 && kh.size == v.size => {
                let half = p.len() / 2;
                let shape = &p.shape()[1..];
                let part = |i: usize| ArrayD::from_shape_vec(IxDyn(shape), super::contiguous(p)[i * half..(i + 1) * half].to_vec()).expect("half of past");
                (Some(Heads::of(&part(0))), Some(Heads::of(&part(1))))
            }
            Some(p) => {
                return Err(SquishError::op(format!(
                    "past has shape {:?}; expected [2, batch, num_heads, past_len, head] (and equal K and V head sizes)",
                    p.shape()
                )))
            }
        };
        let past = past_k.as_ref().map_or(0, |p| p.len);
        let kh = kh.after(past_k, "past")?;
        let v = v.after(past_v, "past")?;
        let mask = inputs.get(3).copied().flatten();
        let bias = optional_f32(inputs, 5, "attention_bias")?;
        let scene = Scene { batch: b, seq: s, total: kh.len, past, mask, mask_what: "mask_index (input 3)", bias };
        let out = rows_tensor(self.common.attend(&q, &kh, &v, &scene)?, b, s);
        if !self.present {
            return Ok(vec![out]);
        }
        let mut data = kh.data.clone();
        data.extend_from_slice(&v.data);
        let present = ArrayD::from_shape_vec(IxDyn(&[2, b, kh.heads, kh.len, kh.size]), data).expect("equal K and V head sizes");
        Ok(vec![out, Tensor::F32(present)])
    }
}

struct MultiHeadAttention {
    common: Common,
}

fn build_mha(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    if ctx.node.outputs.get(3).is_some_and(|o| !o.is_empty()) {
        return Err(SquishError::Attribute {
            node: ctx.node.name.clone(),
            op_type: ctx.node.op_type.clone(),
            attribute: "qk".into(),
            detail: "the qk output (output 3) is not supported".into(),
        });
    }
    Ok(Box::new(MultiHeadAttention { common: common(ctx)? }))
}

impl MultiHeadAttention {
    /// Q, K and V heads from the layouts MultiHeadAttention accepts.
    fn heads(&self, inputs: &[Option<&Tensor>]) -> Result<(Heads, Heads, Heads)> {
        let q = required_f32(inputs, 0, "query")?;
        let (key, value) = (optional_f32(inputs, 1, "key")?, optional_f32(inputs, 2, "value")?);
        let bias = optional_f32(inputs, 3, "bias")?;
        let n = self.common.heads;
        let bias_of = |cols: usize| -> Result<Option<Vec<f32>>> {
            match bias {
                Some(b) if b.shape() != [cols] => Err(SquishError::op(format!("bias has shape {:?}; expected [{cols}] (Q, K and V widths)", b.shape()))),
                b => Ok(b.map(|b| super::contiguous(b).into_owned())),
            }
        };
        match (q.shape(), key.map(|k| k.shape()), value.map(|v| v.shape())) {
            (&[b, s, d], Some(&[kb, l, dk]), Some(&[vb, vl, dv])) if kb == b && vb == b && vl == l && dk == d => {
                if d % n != 0 || dv % n != 0 {
                    return Err(SquishError::op(format!("hidden sizes {d} (Q, K) and {dv} (V) must be multiples of num_heads = {n}")));
                }
                let bias = bias_of(2 * d + dv)?;
                let split = |t: &ArrayD<f32>, len: usize, w: usize, off: usize| {
                    let mut rows = super::contiguous(t).into_owned();
                    if let Some(bv) = &bias {
                        rows.chunks_exact_mut(w).for_each(|r| r.iter_mut().zip(&bv[off..off + w]).for_each(|(x, b)| *x += b));
                    }
                    Heads::from_rows(&rows, (b, len, n, w / n), w, 0)
                };
                Ok((split(q, s, d, 0), split(key.expect("matched"), l, d, d), split(value.expect("matched"), l, dv, 2 * d)))
            }
            (&[b, s, d], Some(&[kb, kn, _, kh]), Some(&[vb, vn, _, _])) if kb == b && vb == b && kn == n && vn == n && d == n * kh => {
                if bias.is_some() {
                    return Err(SquishError::op("bias (input 3) with key and value already split into heads (4-D) is not supported"));
                }
                Ok((Heads::from_rows(&super::contiguous(q), (b, s, n, kh), d, 0), Heads::of(key.expect("matched")), Heads::of(value.expect("matched"))))
            }
            (&[b, s, qn, 3, h], None, None) if qn == n => {
                let mut rows = super::contiguous(q).into_owned();
                if let Some(bv) = bias_of(3 * n * h)? {
                    // Row layout [heads, 3, head]; the bias is [Q | K | V], each [heads, head].
                    rows.chunks_exact_mut(3 * n * h).for_each(|r| (0..3 * n * h).for_each(|i| r[i] += bv[((i / h) % 3) * n * h + (i / (3 * h)) * h + i % h]));
                }
                let part = |p: usize| {
                    let picked: Vec<f32> = rows.chunks_exact(h).enumerate().filter(|(i, _)| i % 3 == p).flat_map(|(_, c)| c.iter().copied()).collect();
                    Heads::from_rows(&picked, (b, s, n, h), n * h, 0)
                };
                Ok((part(0), part(1), part(2)))
            }
            (qs, ks, vs) => Err(SquishError::op(format!(
                "query {qs:?}, key {ks:?} and value {vs:?}: supported are 3-D query, key and value; 3-D query with 4-D [batch, {n}, len, head] key and value; or packed [batch, seq, {n}, 3, head] query alone"
            ))),
        }
    }
}

impl Op for MultiHeadAttention {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        refuse(inputs, &[(8, "past_sequence_length"), (9, "cache_indirection")])?;
        let (q, kh, v) = self.heads(inputs)?;
        let past = |i: usize, what: &str| -> Result<Option<Heads>> {
            match optional_f32(inputs, i, what)? {
                Some(p) if p.ndim() == 4 => Ok(Some(Heads::of(p))),
                Some(p) => Err(SquishError::op(format!("{what} (input {i}) has shape {:?}; expected [batch, num_heads, past_len, head]", p.shape()))),
                None => Ok(None),
            }
        };
        let (pk, pv) = (past(6, "past_key")?, past(7, "past_value")?);
        if pk.is_some() != pv.is_some() {
            return Err(SquishError::op("past_key (input 6) and past_value (input 7) must be given together"));
        }
        let past_len = pk.as_ref().map_or(0, |p| p.len);
        let (kh, v) = (kh.after(pk, "past_key")?, v.after(pv, "past_value")?);
        let (b, s) = (q.batch, q.len);
        let mask = inputs.get(4).copied().flatten();
        let bias = optional_f32(inputs, 5, "attention_bias")?;
        let scene = Scene { batch: b, seq: s, total: kh.len, past: past_len, mask, mask_what: "key_padding_mask (input 4)", bias };
        let out = rows_tensor(self.common.attend(&q, &kh, &v, &scene)?, b, s);
        Ok(vec![out, kh.tensor(), v.tensor()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AttrValue;
    use crate::ops::test_util::{f32s, node, run, run_opt};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn seeded(n: usize, seed: u32) -> Vec<f32> {
        (0..n).map(|i| (((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0).collect()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn unsupported_attributes_and_inputs_are_named() {
        let heads = ("num_heads", AttrValue::Int(2));
        let (x, w) = (f32s(&[1, 2, 4], &seeded(8, 1)), f32s(&[4, 12], &seeded(48, 2)));
        for (attr, want) in [
            (("do_rotary", AttrValue::Int(1)), "attribute 'do_rotary': only 0 is supported"),
            (("qkv_hidden_sizes", AttrValue::Ints(vec![4, 2, 6])), "attribute 'qkv_hidden_sizes'"),
            (("unidirectional", AttrValue::Int(2)), "attribute 'unidirectional': must be 0 or 1"),
        ] {
            let err = run(MS, "Attention", &[heads.clone(), attr], 17, &[&x, &w]).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        let err = run(MS, "Attention", &[], 17, &[&x, &w]).unwrap_err().to_string();
        assert!(err.contains("attribute 'num_heads': is required"), "{err}");
        let mut n = node(MS, "MultiHeadAttention", std::slice::from_ref(&heads), 3);
        n.outputs = vec!["y".into(), String::new(), String::new(), "qk".into()];
        let err = crate::ops::build_standalone(&n, 17).err().unwrap().to_string();
        assert!(err.contains("attribute 'qk'"), "{err}");
        let odd_mask = Tensor::from_vec(&[4], vec![2i32, 2, 0, 0]).unwrap();
        let inputs = [Some(&x), Some(&w), None, Some(&odd_mask)];
        let err = run_opt(MS, "Attention", std::slice::from_ref(&heads), 17, &inputs).unwrap_err().to_string();
        assert!(err.contains("mask_index (input 3) has shape [4]; supported: [1] (valid lengths), [2] (end and start positions)"), "{err}");
        let len = Tensor::from_vec(&[1], vec![0i32]).unwrap();
        let inputs = [Some(&x), Some(&w), None, Some(&len), None, None, Some(&len)];
        let err = run_opt(MS, "Attention", &[heads], 17, &inputs).unwrap_err().to_string();
        assert!(err.contains("past_sequence_length (input 6) is not supported"), "{err}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn packed_qkv_equals_separate_inputs() {
        let (b, s, n, h) = (2, 3, 2, 4);
        let packed = seeded(b * s * n * 3 * h, 7);
        let bias = seeded(3 * n * h, 9);
        let part = |p: usize| -> Vec<f32> { packed.chunks(h).enumerate().filter(|(i, _)| i % 3 == p).flat_map(|(_, c)| c.to_vec()).collect() };
        let heads = [("num_heads", AttrValue::Int(n as i64))];
        let q5 = f32s(&[b, s, n, 3, h], &packed);
        let bias_t = f32s(&[3 * n * h], &bias);
        let got = run_opt(MS, "MultiHeadAttention", &heads, 17, &[Some(&q5), None, None, Some(&bias_t)]).unwrap();
        let (q, k, v) = (f32s(&[b, s, n * h], &part(0)), f32s(&[b, s, n * h], &part(1)), f32s(&[b, s, n * h], &part(2)));
        let want = run(MS, "MultiHeadAttention", &heads, 17, &[&q, &k, &v, &bias_t]).unwrap();
        assert_eq!(got[0].shape(), &[b, s, n * h]);
        got[0].to_f64_vec().iter().zip(want[0].to_f64_vec()).for_each(|(g, w)| assert!((g - w).abs() < 1e-6, "{g} vs {w}"));
    }
}
