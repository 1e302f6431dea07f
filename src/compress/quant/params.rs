//! Quantisation arithmetic: scales and zero points per tensor, per channel
//! or per block; codes; the error they introduce; float16/bfloat16 storage
//! with an overflow guard.

use half::{bf16, f16};

use crate::compress::record::Histogram;

/// Integer code range of a quantised format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Codes {
    pub lo: i32,
    pub hi: i32,
}

impl Codes {
    pub const I8: Codes = Codes { lo: -128, hi: 127 };
    pub const U8: Codes = Codes { lo: 0, hi: 255 };
    pub const I4: Codes = Codes { lo: -8, hi: 7 };
    pub const U4: Codes = Codes { lo: 0, hi: 15 };
}

/// Scale and zero point of one group of values (a tensor, channel or block).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub scale: f32,
    pub zero_point: i32,
}

impl Affine {
    /// Symmetric: zero point at the middle of the range (0 for signed codes,
    /// 128 or 8 for unsigned), scale from the largest magnitude, so that
    /// ±max|x| map to ±(hi − mid) and no code is wasted on the far negative end.
    pub fn symmetric(lo: f32, hi: f32, codes: Codes) -> Affine {
        let mid = (codes.lo + codes.hi + 1) / 2;
        let m = lo.abs().max(hi.abs());
        let scale = m / (codes.hi - mid) as f32;
        Affine { scale: if scale > 0.0 { scale } else { 1.0 }, zero_point: mid }
    }

    /// Asymmetric: the range widened to include 0 (so 0 is exact), spread
    /// over every code.
    pub fn asymmetric(lo: f32, hi: f32, codes: Codes) -> Affine {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = (hi - lo) / (codes.hi - codes.lo) as f32;
        if scale <= 0.0 {
            return Affine { scale: 1.0, zero_point: codes.lo.max(0).min(codes.hi) };
        }
        let zp = (codes.lo as f32 - lo / scale).round_ties_even().clamp(codes.lo as f32, codes.hi as f32) as i32;
        Affine { scale, zero_point: zp }
    }

    pub fn new(lo: f32, hi: f32, codes: Codes, symmetric: bool) -> Affine {
        if symmetric {
            Affine::symmetric(lo, hi, codes)
        } else {
            Affine::asymmetric(lo, hi, codes)
        }
    }

    /// QuantizeLinear's rule: divide in f32, round half to even, saturate.
    pub fn quantize(&self, x: f32, codes: Codes) -> i32 {
        ((x / self.scale).round_ties_even() + self.zero_point as f32).clamp(codes.lo as f32, codes.hi as f32) as i32
    }

    pub fn dequantize(&self, q: i32) -> f32 {
        (q - self.zero_point) as f32 * self.scale
    }
}

/// How a tensor's elements group into quantisation parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Grouping {
    PerTensor,
    /// One group per index of `axis`.
    PerChannel {
        axis: usize,
    },
    /// Runs of `block` consecutive indices of `axis`, per index of every other axis.
    Blocked {
        axis: usize,
        block: usize,
    },
}

/// A quantised tensor: codes in the tensor's layout and parameters laid out
/// as ONNX expects them (per channel: `[dim]`; blocked: the tensor's shape
/// with `axis` divided by the block, rounded up).
#[derive(Debug, Clone)]
pub struct Quantized {
    /// Codes (at most 8 bits, so i16 holds any of them: half the memory of i32).
    pub codes: Vec<i16>,
    pub params: Vec<Affine>,
    pub param_shape: Vec<usize>,
    /// Largest |x − dequantize(quantize(x))|.
    pub max_abs_error: f32,
    /// Values whose code is their group's zero point (they dequantise to 0).
    pub zeros: usize,
    /// The weights before and after (dequantised), for the record.
    pub histogram: Option<Histogram>,
}

impl Quantized {
    /// Share of values that dequantise to exactly 0.
    pub fn sparsity(&self) -> f64 {
        self.zeros as f64 / self.codes.len().max(1) as f64
    }

    /// The values the codes stand for, in the weight's layout (`shape` and
    /// `grouping` as quantised).
    pub fn dequantized(&self, shape: &[usize], grouping: Grouping) -> Vec<f32> {
        let (_, group) = group_of(shape, grouping);
        self.codes.iter().enumerate().map(|(i, &c)| self.params[group(i)].dequantize(c as i32)).collect()
    }
}

/// For element `i` of `shape`, the index of its parameter group.
pub fn group_of(shape: &[usize], grouping: Grouping) -> (Vec<usize>, Box<dyn Fn(usize) -> usize>) {
    match grouping {
        Grouping::PerTensor => (vec![], Box::new(|_| 0)),
        Grouping::PerChannel { axis } => {
            let inner: usize = shape[axis + 1..].iter().product();
            let dim = shape[axis];
            (vec![dim], Box::new(move |i| (i / inner.max(1)) % dim.max(1)))
        }
        Grouping::Blocked { axis, block } => {
            let inner: usize = shape[axis + 1..].iter().product();
            let dim = shape[axis];
            let blocks = dim.div_ceil(block);
            let mut pshape = shape.to_vec();
            pshape[axis] = blocks;
            (
                pshape,
                Box::new(move |i| {
                    let outer = i / (inner * dim).max(1);
                    let pos = (i / inner.max(1)) % dim.max(1);
                    (outer * blocks + pos / block) * inner + i % inner.max(1)
                }),
            )
        }
    }
}

/// Quantises `x` (finite values) with one affine map per group.
pub fn quantize(x: &[f32], shape: &[usize], grouping: Grouping, codes: Codes, symmetric: bool) -> Quantized {
    let (param_shape, group) = group_of(shape, grouping);
    let groups = param_shape.iter().product::<usize>().max(1);
    let mut lo = vec![f32::INFINITY; groups];
    let mut hi = vec![f32::NEG_INFINITY; groups];
    for (i, &v) in x.iter().enumerate() {
        let g = group(i);
        lo[g] = lo[g].min(v);
        hi[g] = hi[g].max(v);
    }
    let params: Vec<Affine> = lo
        .iter()
        .zip(&hi)
        .map(|(&l, &h)| {
            if l > h {
                Affine { scale: 1.0, zero_point: if symmetric { (codes.lo + codes.hi + 1) / 2 } else { codes.lo.max(0) } }
            } else {
                Affine::new(l, h, codes, symmetric)
            }
        })
        .collect();
    let mut max_abs_error = 0.0f32;
    let mut zeros = 0;
    let codes_out = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let p = &params[group(i)];
            let q = p.quantize(v, codes);
            max_abs_error = max_abs_error.max((v - p.dequantize(q)).abs());
            zeros += (q == p.zero_point) as usize;
            q as i16
        })
        .collect();
    Quantized { codes: codes_out, params, param_shape, max_abs_error, zeros, histogram: None }
}

/// The first non-finite value of `x`, if any (NaN/Inf weights are an error,
/// never silently quantised).
pub fn first_non_finite(x: &[f32]) -> Option<(usize, f32)> {
    x.iter().enumerate().find(|(_, v)| !v.is_finite()).map(|(i, &v)| (i, v))
}

/// 16-bit float storage formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    F16,
    BF16,
}

/// Why a tensor cannot be stored in a 16-bit format: a value would overflow
/// to ±Inf. (Values below float16's subnormals flush to 0; they are at least
/// 2^-24 smaller than 1, so that is rounding, reported as the error.)
pub fn half_refusal(x: &[f32], format: Half) -> Option<String> {
    let (max, name) = match format {
        Half::F16 => (f16::MAX.to_f32(), "float16"),
        Half::BF16 => (bf16::MAX.to_f32(), "bfloat16"),
    };
    if let Some(v) = x.iter().find(|v| v.abs() > max) {
        return Some(format!("value {v} exceeds the {name} range (±{max})"));
    }
    None
}

/// Rounds to the 16-bit format and returns the largest error.
pub fn to_f16(x: &[f32]) -> (Vec<f16>, f32) {
    let v: Vec<f16> = x.iter().map(|&a| f16::from_f32(a)).collect();
    let err = x.iter().zip(&v).fold(0.0f32, |m, (a, b)| m.max((a - b.to_f32()).abs()));
    (v, err)
}

pub fn to_bf16(x: &[f32]) -> (Vec<bf16>, f32) {
    let v: Vec<bf16> = x.iter().map(|&a| bf16::from_f32(a)).collect();
    let err = x.iter().zip(&v).fold(0.0f32, |m, (a, b)| m.max((a - b.to_f32()).abs()));
    (v, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn symmetric_int8_maps_the_largest_magnitude_to_127() {
        let p = Affine::symmetric(-0.5, 2.54, Codes::I8);
        assert_eq!(p.zero_point, 0);
        assert!((p.scale - 0.02).abs() < 1e-7);
        assert_eq!(p.quantize(2.54, Codes::I8), 127);
        assert_eq!(p.quantize(-2.54, Codes::I8), -127);
        assert_eq!(p.quantize(0.03, Codes::I8), 2); // 1.5 rounds to even
        let u = Affine::symmetric(-1.0, 1.0, Codes::U4);
        assert_eq!(u.zero_point, 8);
        assert_eq!(u.quantize(-1.0, Codes::U4), 1);
        assert_eq!(u.quantize(1.0, Codes::U4), 15);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn asymmetric_keeps_zero_exact_and_uses_every_code() {
        let p = Affine::asymmetric(1.0, 3.55, Codes::U8); // widened to [0, 3.55]
        assert_eq!(p.zero_point, 0);
        assert_eq!(p.quantize(3.55, Codes::U8), 255);
        let p = Affine::asymmetric(-1.0, 1.55, Codes::U8);
        assert_eq!(p.dequantize(p.quantize(0.0, Codes::U8)), 0.0);
        assert_eq!(p.quantize(-1.0, Codes::U8), 0);
        assert_eq!(p.quantize(1.55, Codes::U8), 255);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn per_channel_and_blocked_groups_follow_onnx_layouts() {
        // [K=4, N=2], per output column (axis 1).
        let x = [1.0, -10.0, 0.5, 5.0, -1.0, 2.0, 0.25, 10.0];
        let q = quantize(&x, &[4, 2], Grouping::PerChannel { axis: 1 }, Codes::I8, true);
        assert_eq!(q.param_shape, vec![2]);
        assert!((q.params[0].scale - 1.0 / 127.0).abs() < 1e-9 && (q.params[1].scale - 10.0 / 127.0).abs() < 1e-9);
        assert_eq!(q.codes[0], 127);
        // Blocks of 2 along K: parameters [2, 2].
        let b = quantize(&x, &[4, 2], Grouping::Blocked { axis: 0, block: 2 }, Codes::I4, true);
        assert_eq!(b.param_shape, vec![2, 2]);
        assert!((b.params[0].scale - 1.0 / 7.0).abs() < 1e-7); // column 0, rows 0–1: max |1, 0.5|
        assert!((b.params[3].scale - 10.0 / 7.0).abs() < 1e-6); // column 1, rows 2–3
        assert!(b.max_abs_error <= 10.0 / 7.0 / 2.0 + 1e-6);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn half_precision_guard_names_the_overflowing_value() {
        assert!(half_refusal(&[1.0, 70000.0], Half::F16).unwrap().contains("70000"));
        assert!(half_refusal(&[1.0, 70000.0], Half::BF16).is_none());
        assert!(half_refusal(&[1e-9, 1e-9, 1.0], Half::F16).is_none());
        let (v, err) = to_f16(&[1.0, 0.1]);
        assert_eq!(v[0].to_f32(), 1.0);
        assert!(err > 0.0 && err < 1e-4);
    }
}
