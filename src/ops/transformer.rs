//! onnxruntime's transformer fusions (`com.microsoft`), as its transformer
//! optimizer writes them: FastGelu, BiasGelu, QuickGelu,
//! SkipLayerNormalization, EmbedLayerNormalization and RotaryEmbedding
//! (float32). Attention and MultiHeadAttention are in `attention.rs`.
//! Semantics follow onnxruntime's contrib operator documentation and CPU
//! kernels; cases Squish does not implement are errors naming the attribute
//! or input.

use ndarray::{ArrayD, IxDyn};

use super::facts::{input, like_first, Facts};
use super::{optional_f32, required, required_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::ir::{Dim, Node};
use crate::kernels::active as k;
use crate::tensor::{DType, Tensor};

const MS: &str = "com.microsoft";

pub fn register(r: &mut Registry) {
    r.insert(MS, "FastGelu", |_| Ok(Box::new(Gelu { kind: GeluKind::Tanh })));
    r.insert(MS, "BiasGelu", |_| Ok(Box::new(Gelu { kind: GeluKind::Erf })));
    r.insert(MS, "QuickGelu", |ctx| Ok(Box::new(Gelu { kind: GeluKind::Quick(ctx.attrs().float("alpha", 1.702)?) })));
    r.insert(MS, "SkipLayerNormalization", build_skip_ln);
    r.insert(MS, "EmbedLayerNormalization", build_embed_ln);
    r.insert(MS, "RotaryEmbedding", build_rotary);
    r.facts(MS, &["FastGelu", "BiasGelu", "QuickGelu", "RotaryEmbedding"], like_first);
    r.facts(MS, &["SkipLayerNormalization"], skip_ln_facts);
    r.facts(MS, &["EmbedLayerNormalization"], embed_ln_facts);
}

/// Output, mean and inverse standard deviation (the input's shape with a
/// last axis of 1), and the sum before normalisation.
fn skip_ln_facts(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let stats = x.shape.clone().map(|mut s| {
        if let Some(last) = s.last_mut() {
            *last = Dim::Fixed(1);
        }
        s
    });
    vec![Facts::with(x.dtype, x.shape.clone()), Facts::with(x.dtype, stats.clone()), Facts::with(x.dtype, stats), Facts::with(x.dtype, x.shape)]
}

/// `[batch, seq, hidden]`, the mask index `[batch]` (int32) and the sum of
/// the embeddings `[batch, seq, hidden]`.
fn embed_ln_facts(_: &Node, ins: &[Facts]) -> Vec<Facts> {
    let (ids, word) = (input(ins, 0), input(ins, 2));
    let shape = match (&ids.shape, &word.shape) {
        (Some(i), Some(w)) if i.len() == 2 && w.len() == 2 => Some(vec![i[0].clone(), i[1].clone(), w[1].clone()]),
        _ => None,
    };
    let batch = ids.shape.as_ref().filter(|i| i.len() == 2).map(|i| vec![i[0].clone()]);
    vec![Facts::with(word.dtype, shape.clone()), Facts::with(Some(DType::I32), batch), Facts::with(word.dtype, shape)]
}

/// A 1-D per-channel input (`what`, input `i`) that must match the last axis.
fn channel_vector<'t>(inputs: &[Option<&'t Tensor>], i: usize, what: &str, channels: usize) -> Result<Option<&'t ArrayD<f32>>> {
    let v = optional_f32(inputs, i, what)?;
    if let Some(v) = v {
        if v.shape() != [channels] {
            return Err(SquishError::op(format!("{what} (input {i}) has shape {:?}; expected [{channels}] (the last axis of the input)", v.shape())));
        }
    }
    Ok(v)
}

#[derive(Clone, Copy)]
enum GeluKind {
    /// FastGelu: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    Tanh,
    /// BiasGelu: `0.5·x·(1 + erf(x/√2))`.
    Erf,
    /// QuickGelu: `x·sigmoid(alpha·x)`.
    Quick(f32),
}

/// The GELU family; FastGelu and BiasGelu add a per-channel bias first.
struct Gelu {
    kind: GeluKind,
}

impl Op for Gelu {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required_f32(inputs, 0, "X")?;
        let c = x.shape().last().copied().unwrap_or(1);
        let bias = match self.kind {
            GeluKind::Erf => Some(channel_vector(inputs, 1, "bias B", c)?.ok_or_else(|| SquishError::op("bias B (input 1) is required"))?),
            GeluKind::Tanh => channel_vector(inputs, 1, "bias", c)?,
            GeluKind::Quick(_) => None,
        };
        let mut v = super::contiguous(x).into_owned();
        if let Some(b) = bias {
            let b = super::contiguous(b);
            v.chunks_exact_mut(c.max(1)).for_each(|row| row.iter_mut().zip(b.iter()).for_each(|(x, b)| *x += b));
        }
        match self.kind {
            GeluKind::Tanh => v.iter_mut().for_each(|x| *x = 0.5 * *x * (1.0 + (0.797_884_6 * (*x + 0.044_715 * *x * *x * *x)).tanh())),
            GeluKind::Erf => {
                let mut e: Vec<f32> = v.iter().map(|x| x * std::f32::consts::FRAC_1_SQRT_2).collect();
                k::erf_f32(&mut e);
                v.iter_mut().zip(&e).for_each(|(x, e)| *x = 0.5 * *x * (1.0 + e));
            }
            GeluKind::Quick(alpha) => v.iter_mut().for_each(|x| *x /= 1.0 + (-alpha * *x).exp()),
        }
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(x.shape()), v).expect("same size"))])
    }
}

/// Normalises each row of `rows` (length `c`) in place, `(x − mean)/√(var + ε)·γ + β`;
/// returns each row's mean and inverse standard deviation.
fn layer_norm_rows(rows: &mut [f32], c: usize, eps: f32, gamma: &[f32], beta: Option<&[f32]>) -> (Vec<f32>, Vec<f32>) {
    let (mut means, mut inv) = (Vec::new(), Vec::new());
    for row in rows.chunks_exact_mut(c) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / c as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / c as f64;
        let r = 1.0 / (var + eps as f64).sqrt();
        for (j, v) in row.iter_mut().enumerate() {
            *v = ((*v as f64 - mean) * r) as f32 * gamma[j] + beta.map_or(0.0, |b| b[j]);
        }
        means.push(mean as f32);
        inv.push(r as f32);
    }
    (means, inv)
}

fn epsilon(ctx: &BuildCtx) -> Result<f32> {
    let a = ctx.attrs();
    let eps = a.float("epsilon", 1e-12)?;
    if eps.is_nan() || eps < 0.0 {
        return Err(a.error("epsilon", format!("must be ≥ 0, got {eps}")));
    }
    Ok(eps)
}

/// `LayerNorm(input + skip + bias)`; `skip` may also be `[1, seq, hidden]` or `[seq, hidden]`.
struct SkipLayerNorm {
    eps: f32,
}

fn build_skip_ln(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(SkipLayerNorm { eps: epsilon(ctx)? }))
}

impl Op for SkipLayerNorm {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required_f32(inputs, 0, "input")?;
        let skip = required_f32(inputs, 1, "skip")?;
        let shape = x.shape().to_vec();
        if shape.len() < 2 {
            return Err(SquishError::op(format!("input must be [batch, seq, hidden] or [rows, hidden], got {shape:?}")));
        }
        let c = shape[shape.len() - 1];
        // skip may repeat over the batch: [batch, seq, hidden], [1, seq, hidden] or [seq, hidden].
        let tail = &shape[shape.len() - 2..];
        let ss = skip.shape();
        if ss != shape.as_slice() && ss != tail && !(shape.len() == 3 && ss.len() == 3 && ss[0] == 1 && &ss[1..] == tail) {
            return Err(SquishError::op(format!("skip has shape {ss:?}; expected the input's {shape:?}, [1, {}, {c}] or [{}, {c}]", tail[0], tail[0])));
        }
        let gamma = channel_vector(inputs, 2, "gamma", c)?.ok_or_else(|| SquishError::op("gamma (input 2) is required"))?;
        let beta = channel_vector(inputs, 3, "beta", c)?;
        let bias = channel_vector(inputs, 4, "bias", c)?;
        let (xv, sv) = (super::contiguous(x), super::contiguous(skip));
        let mut sum: Vec<f32> = xv.iter().enumerate().map(|(i, v)| v + sv[i % sv.len()]).collect();
        if let Some(b) = bias {
            let b = super::contiguous(b);
            sum.chunks_exact_mut(c.max(1)).for_each(|row| row.iter_mut().zip(b.iter()).for_each(|(x, b)| *x += b));
        }
        let mut y = sum.clone();
        let beta = beta.map(|b| super::contiguous(b).into_owned());
        let (means, inv) = layer_norm_rows(&mut y, c, self.eps, &super::contiguous(gamma), beta.as_deref());
        let mut stats = shape.clone();
        *stats.last_mut().expect("rank ≥ 2") = 1;
        let t = |v: Vec<f32>, s: &[usize]| Tensor::F32(ArrayD::from_shape_vec(IxDyn(s), v).expect("sized"));
        Ok(vec![t(y, &shape), t(means, &stats), t(inv, &stats), t(sum, &shape)])
    }
}

/// Word + position (+ segment) embeddings, layer-normalised; the mask
/// index counts each row's ones.
struct EmbedLayerNorm {
    eps: f32,
}

fn build_embed_ln(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    if a.int("mask_index_type", 1)? != 1 && ctx.node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(a.error("mask_index_type", "only 1 (a 1-D mask index) is supported when the mask_index output is used"));
    }
    Ok(Box::new(EmbedLayerNorm { eps: epsilon(ctx)? }))
}

/// An int32/int64 id input as indices into a table of `rows` rows.
fn ids(t: &Tensor, what: &str, rows: usize) -> Result<Vec<usize>> {
    let v = t
        .to_i64_vec()
        .filter(|_| matches!(t.dtype(), DType::I32 | DType::I64))
        .ok_or_else(|| SquishError::op(format!("{what} must be int32 or int64, got {}", t.dtype())))?;
    v.iter()
        .map(|&i| {
            usize::try_from(i).ok().filter(|&i| i < rows).ok_or_else(|| SquishError::op(format!("{what} value {i} is out of range for a table of {rows} rows")))
        })
        .collect()
}

fn table<'t>(inputs: &[Option<&'t Tensor>], i: usize, what: &str, hidden: Option<usize>) -> Result<&'t ArrayD<f32>> {
    let t = required_f32(inputs, i, what)?;
    if t.ndim() != 2 || hidden.is_some_and(|h| t.shape()[1] != h) {
        return Err(SquishError::op(format!(
            "{what} (input {i}) has shape {:?}; expected [rows, {}]",
            t.shape(),
            hidden.map_or("hidden".into(), |h| h.to_string())
        )));
    }
    Ok(t)
}

impl Op for EmbedLayerNorm {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let input_ids = required(inputs, 0)?;
        let &[b, s] = input_ids.shape() else {
            return Err(SquishError::op(format!("input_ids must be [batch, seq], got {:?}", input_ids.shape())));
        };
        let word = table(inputs, 2, "word_embedding", None)?;
        let h = word.shape()[1];
        let pos = table(inputs, 3, "position_embedding", Some(h))?;
        let two_d = |i: usize, what: &str| -> Result<Option<&Tensor>> {
            let t = inputs.get(i).copied().flatten();
            match t {
                Some(t) if t.shape() != [b, s] && !(i == 8 && t.shape() == [1, s]) => {
                    Err(SquishError::op(format!("{what} (input {i}) has shape {:?}; expected [{b}, {s}]", t.shape())))
                }
                _ => Ok(t),
            }
        };
        let words = ids(input_ids, "input_ids", word.shape()[0])?;
        let positions = match two_d(8, "position_ids")? {
            Some(p) => ids(p, "position_ids", pos.shape()[0])?,
            None => ids(&Tensor::i64_vec((0..s as i64).collect()), "position (sequence length)", pos.shape()[0])?,
        };
        let segments = match (two_d(1, "segment_ids")?, inputs.get(4).copied().flatten()) {
            (Some(ids_t), Some(_)) => {
                let seg = table(inputs, 4, "segment_embedding", Some(h))?;
                Some((ids(ids_t, "segment_ids", seg.shape()[0])?, super::contiguous(seg)))
            }
            (None, None) => None,
            _ => return Err(SquishError::op("segment_ids (input 1) and segment_embedding (input 4) must be given together")),
        };
        let gamma = channel_vector(inputs, 5, "gamma", h)?.ok_or_else(|| SquishError::op("gamma (input 5) is required"))?;
        let beta = channel_vector(inputs, 6, "beta", h)?.ok_or_else(|| SquishError::op("beta (input 6) is required"))?;
        let (wv, pv) = (super::contiguous(word), super::contiguous(pos));
        let mut sum = vec![0.0f32; b * s * h];
        for (r, row) in sum.chunks_exact_mut(h.max(1)).enumerate() {
            let p = positions[if positions.len() == s { r % s } else { r }];
            for (j, v) in row.iter_mut().enumerate() {
                *v = wv[words[r] * h + j] + pv[p * h + j] + segments.as_ref().map_or(0.0, |(ids, t)| t[ids[r] * h + j]);
            }
        }
        let mut y = sum.clone();
        layer_norm_rows(&mut y, h, self.eps, &super::contiguous(gamma), Some(&super::contiguous(beta)));
        let mask_index: Vec<i32> = match two_d(7, "mask")? {
            Some(m) => m.to_f64_vec().chunks(s.max(1)).map(|row| row.iter().filter(|&&v| v == 1.0).count() as i32).collect(),
            None => vec![0; b],
        };
        let t = |v: Vec<f32>| Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[b, s, h]), v).expect("sized"));
        Ok(vec![t(y), Tensor::I32(ArrayD::from_shape_vec(IxDyn(&[b]), mask_index).expect("one per batch entry")), t(sum)])
    }
}

/// Rotary position embedding of `[batch, seq, hidden]` or
/// `[batch, heads, seq, head]` inputs from cos/sin caches `[positions, rotary/2]`.
struct Rotary {
    interleaved: bool,
    num_heads: usize,
    rotary_dim: usize,
}

fn build_rotary(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let nonneg = |name: &str| -> Result<usize> {
        let v = a.int(name, 0)?;
        usize::try_from(v).map_err(|_| a.error(name, format!("must be ≥ 0, got {v}")))
    };
    if a.int("is_packed_batching", 0)? != 0 {
        return Err(a.error("is_packed_batching", "packed (ragged) batches are not supported"));
    }
    let (num_heads, rotary_dim) = (nonneg("num_heads")?, nonneg("rotary_embedding_dim")?);
    if rotary_dim > 0 && num_heads == 0 {
        return Err(a.error("num_heads", "is required when rotary_embedding_dim is given"));
    }
    if rotary_dim % 2 == 1 {
        return Err(a.error("rotary_embedding_dim", format!("must be even, got {rotary_dim}")));
    }
    let interleaved = a.int("interleaved", 0)?;
    if interleaved != 0 && interleaved != 1 {
        return Err(a.error("interleaved", format!("must be 0 or 1, got {interleaved}")));
    }
    Ok(Box::new(Rotary { interleaved: interleaved == 1, num_heads, rotary_dim }))
}

/// The geometry of one rotary call: element strides of a head vector.
struct RotaryShape {
    batch: usize,
    seq: usize,
    heads: usize,
    head: usize,
    /// Strides of batch, sequence position and head.
    strides: [usize; 3],
}

impl Rotary {
    fn shape(&self, x: &[usize], half: usize) -> Result<RotaryShape> {
        match *x {
            [batch, seq, hidden] => {
                let head = hidden.checked_div(self.num_heads).unwrap_or(2 * half);
                if head == 0 || hidden % head != 0 {
                    return Err(SquishError::op(format!("input hidden size {hidden} is not a multiple of the head size {head}")));
                }
                let heads = hidden / head;
                Ok(RotaryShape { batch, seq, heads, head, strides: [seq * hidden, hidden, head] })
            }
            [batch, heads, seq, head] => Ok(RotaryShape { batch, seq, heads, head, strides: [heads * seq * head, head, seq * head] }),
            _ => Err(SquishError::op(format!("input must be [batch, seq, hidden] or [batch, heads, seq, head], got {x:?}"))),
        }
    }
}

impl Op for Rotary {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required_f32(inputs, 0, "input")?;
        let pos = required(inputs, 1)?;
        let (cos, sin) = (required_f32(inputs, 2, "cos_cache")?, required_f32(inputs, 3, "sin_cache")?);
        if cos.ndim() != 2 || cos.shape() != sin.shape() {
            return Err(SquishError::op(format!(
                "cos_cache and sin_cache must both be [positions, rotary_dim / 2], got {:?} and {:?}",
                cos.shape(),
                sin.shape()
            )));
        }
        let (max_pos, half) = (cos.shape()[0], cos.shape()[1]);
        let g = self.shape(x.shape(), half)?;
        let rot = if self.rotary_dim > 0 { self.rotary_dim } else { g.head };
        if rot > g.head || rot != 2 * half {
            return Err(SquishError::op(format!(
                "the caches hold {half} frequencies; the rotary dimension is {rot} (head size {}), expected {half} × 2",
                g.head
            )));
        }
        let p = pos.to_i64_vec().ok_or_else(|| SquishError::op(format!("position_ids must be integers, got {}", pos.dtype())))?;
        let position = |b: usize, s: usize| -> Result<usize> {
            let v = match p.len() {
                1 => p[0] + s as i64,
                n if n == g.batch * g.seq => p[b * g.seq + s],
                _ => return Err(SquishError::op(format!("position_ids has shape {:?}; expected [{}, {}] or one offset", pos.shape(), g.batch, g.seq))),
            };
            usize::try_from(v).ok().filter(|&v| v < max_pos).ok_or_else(|| SquishError::op(format!("position {v} is outside the caches' {max_pos} positions")))
        };
        let (cv, sv) = (super::contiguous(cos), super::contiguous(sin));
        let src = super::contiguous(x);
        let mut out = src.to_vec();
        for b in 0..g.batch {
            for s in 0..g.seq {
                let at = position(b, s)? * half;
                let (c, sn) = (&cv[at..at + half], &sv[at..at + half]);
                for n in 0..g.heads {
                    let o = b * g.strides[0] + s * g.strides[1] + n * g.strides[2];
                    for i in 0..half {
                        let (i1, i2) = if self.interleaved { (o + 2 * i, o + 2 * i + 1) } else { (o + i, o + i + half) };
                        out[i1] = src[i1] * c[i] - src[i2] * sn[i];
                        out[i2] = src[i2] * c[i] + src[i1] * sn[i];
                    }
                }
            }
        }
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("same size"))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AttrValue;
    use crate::ops::test_util::{f32s, run};
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn unsupported_attributes_are_named() {
        let x = f32s(&[1, 1, 4], &[0.0; 4]);
        let pos = Tensor::from_vec(&[1], vec![0i64]).unwrap();
        let cache = f32s(&[2, 2], &[1.0; 4]);
        let err = run(MS, "RotaryEmbedding", &[("is_packed_batching", AttrValue::Int(1))], 17, &[&x, &pos, &cache, &cache]).unwrap_err().to_string();
        assert!(err.contains("attribute 'is_packed_batching'"), "{err}");
        let err = run(MS, "RotaryEmbedding", &[("rotary_embedding_dim", AttrValue::Int(2))], 17, &[&x, &pos, &cache, &cache]).unwrap_err().to_string();
        assert!(err.contains("attribute 'num_heads': is required when rotary_embedding_dim is given"), "{err}");
        let err = run(MS, "SkipLayerNormalization", &[("epsilon", AttrValue::Float(-1.0))], 17, &[&x, &x, &f32s(&[4], &[1.0; 4])]).unwrap_err().to_string();
        assert!(err.contains("attribute 'epsilon'"), "{err}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn wrong_shapes_and_ids_are_errors() {
        let x = f32s(&[1, 2, 4], &[0.0; 8]);
        let err = run(MS, "FastGelu", &[], 17, &[&x, &f32s(&[3], &[0.0; 3])]).unwrap_err().to_string();
        assert!(err.contains("bias (input 1) has shape [3]; expected [4]"), "{err}");
        let err = run(MS, "SkipLayerNormalization", &[], 17, &[&x, &f32s(&[2, 2], &[0.0; 4]), &f32s(&[4], &[1.0; 4])]).unwrap_err().to_string();
        assert!(err.contains("skip has shape [2, 2]"), "{err}");
        let ids = Tensor::from_vec(&[1, 2], vec![0i32, 9]).unwrap();
        let (word, pos, g) = (f32s(&[3, 4], &[0.0; 12]), f32s(&[2, 4], &[0.0; 8]), f32s(&[4], &[1.0; 4]));
        let inputs = [Some(&ids), None, Some(&word), Some(&pos), None, Some(&g), Some(&g)];
        let err = crate::ops::test_util::run_opt(MS, "EmbedLayerNormalization", &[], 17, &inputs).unwrap_err().to_string();
        assert!(err.contains("input_ids value 9 is out of range for a table of 3 rows"), "{err}");
        let pos_ids = Tensor::from_vec(&[1, 1], vec![7i64]).unwrap();
        let cache = f32s(&[2, 2], &[1.0; 4]);
        let err = run(MS, "RotaryEmbedding", &[], 17, &[&f32s(&[1, 1, 4], &[0.0; 4]), &pos_ids, &cache, &cache]).unwrap_err().to_string();
        assert!(err.contains("position 7 is outside the caches' 2 positions"), "{err}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn gelus_match_their_formulas() {
        let x = f32s(&[3], &[-1.0, 0.0, 2.0]);
        let quick = run(MS, "QuickGelu", &[], 17, &[&x]).unwrap()[0].to_f64_vec();
        let want: Vec<f64> = [-1.0f64, 0.0, 2.0].iter().map(|v| v / (1.0 + (-1.702 * v).exp())).collect();
        quick.iter().zip(&want).for_each(|(g, w)| assert!((g - w).abs() < 1e-6, "{g} vs {w}"));
        let fast = run(MS, "FastGelu", &[], 17, &[&x]).unwrap()[0].to_f64_vec();
        let bias = run(MS, "BiasGelu", &[], 17, &[&x, &f32s(&[3], &[0.0; 3])]).unwrap()[0].to_f64_vec();
        fast.iter().zip(&bias).for_each(|(f, b)| assert!((f - b).abs() < 1e-3, "tanh and erf forms agree: {f} vs {b}"));
    }
}
