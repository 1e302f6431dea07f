//! 8-bit integer linear algebra: DynamicQuantizeLinear, MatMulInteger,
//! ConvInteger, QLinearMatMul and QLinearConv. Operands become i16 with
//! their zero points subtracted, then run on the exact integer GEMM
//! (`i32x4.dot_i16x8_s` under SIMD128); constant right-hand matrices are
//! packed once at load time.

use ndarray::{ArrayD, IxDyn};

use std::borrow::Cow;

use super::conv::{as_2d, depthwise_shape, group_attr, im2col, lift_geometry};
use super::linalg::batched_matmul;
use super::spatial::Window;
use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::{active as k, pack_a_i16, pack_b_i16, Centred, Codes, IntOut, PlaneInPadding, RowScale};
use crate::tensor::{checked_numel, DType, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "DynamicQuantizeLinear", |_| Ok(Box::new(DynamicQuantize)));
    r.insert("", "MatMulInteger", |ctx| build_matmul(ctx, false));
    r.insert("", "QLinearMatMul", |ctx| build_matmul(ctx, true));
    r.insert("", "ConvInteger", |ctx| build_conv(ctx, false));
    r.insert("", "QLinearConv", |ctx| build_conv(ctx, true));
}

/// Quantises `x` to u8 as DynamicQuantizeLinear defines it: the range is
/// widened to include 0, scale = range / 255, zero point and values rounded
/// half to even (divisions in f32, as onnxruntime does). An all-zero input
/// gets scale 0 and zero point 0.
pub fn quantize_u8_dynamic(x: &[f32]) -> Result<(Vec<u8>, f32, u8)> {
    let (scale, zp) = dynamic_range(x)?;
    if scale == 0.0 {
        return Ok((vec![0; x.len()], 0.0, 0));
    }
    let mut q = vec![0u8; x.len()];
    k::quantize_u8(x, scale, zp as f32, &mut q);
    Ok((q, scale, zp))
}

/// DynamicQuantizeLinear's scale and zero point for `x` (see
/// `quantize_u8_dynamic`); scale 0 means every code is 0.
pub(super) fn dynamic_range(x: &[f32]) -> Result<(f32, u8)> {
    let (lo, hi) = k::min_max_f32(x);
    if x.is_empty() {
        return Ok((0.0, 0));
    }
    if !lo.is_finite() || !hi.is_finite() {
        return Err(SquishError::op("cannot quantise: the input holds NaN or ±Inf"));
    }
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = (hi - lo) / 255.0;
    if scale == 0.0 {
        return Ok((0.0, 0));
    }
    Ok((scale, (-lo / scale).round_ties_even().clamp(0.0, 255.0) as u8))
}

struct DynamicQuantize;

impl Op for DynamicQuantize {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = super::required_f32(inputs, 0, "input x")?;
        let (q, scale, zp) = quantize_u8_dynamic(&super::linalg::contiguous(x))?;
        Ok(vec![Tensor::U8(ArrayD::from_shape_vec(IxDyn(x.shape()), q).expect("same shape")), Tensor::scalar(scale), Tensor::scalar(zp)])
    }
}

/// The 8-bit values of `t` (u8 or i8) as i16.
fn int8_values(t: &Tensor, what: &str) -> Result<Vec<i16>> {
    // Contiguous data converts as a slice: ndarray's n-d iterator costs
    // several ns per element, which showed up next to the GEMM itself.
    match t {
        Tensor::U8(a) => Ok(match a.as_slice() {
            Some(s) => s.iter().map(|&v| v as i16).collect(),
            None => a.iter().map(|&v| v as i16).collect(),
        }),
        Tensor::I8(a) => Ok(match a.as_slice() {
            Some(s) => s.iter().map(|&v| v as i16).collect(),
            None => a.iter().map(|&v| v as i16).collect(),
        }),
        other => Err(SquishError::op(format!("{what} must be uint8 or int8, got {}", other.dtype()))),
    }
}

/// Subtracts zero points in place: one for the whole tensor, or one per
/// index of the axis whose elements are `inner` apart and `dim` long.
fn center(values: &mut [i16], data_type: DType, zp: Option<&Tensor>, inner: usize, dim: usize, what: &str) -> Result<()> {
    let Some(zp) = zp else { return Ok(()) };
    if zp.dtype() != data_type {
        return Err(SquishError::op(format!("{what} zero point is {}, but the data is {data_type}", zp.dtype())));
    }
    let zps = int8_values(zp, what)?;
    match zps.len() {
        1 => values.iter_mut().for_each(|v| *v -= zps[0]),
        n if n == dim && inner > 0 => {
            for (i, v) in values.iter_mut().enumerate() {
                *v -= zps[(i / inner) % dim];
            }
        }
        n => return Err(SquishError::op(format!("{what} zero point has {n} values; expected 1 or {dim}"))),
    }
    Ok(())
}

/// Per-tensor or per-`dim` float parameters (scales).
fn params(t: &Tensor, dim: usize, what: &str) -> Result<Vec<f32>> {
    let v: Vec<f32> = t.to_f64_vec().into_iter().map(|x| x as f32).collect();
    if v.len() != 1 && v.len() != dim {
        return Err(SquishError::op(format!("{what} has {} values; expected 1 or {dim}", v.len())));
    }
    Ok(v)
}

/// Integer product of dense row-major matrices.
fn gemm_i32(m: usize, kk: usize, n: usize, a: &[i16], b: &[i16], c: &mut [i32]) {
    k::gemm_i16_packed(m, kk, n, &pack_a_i16(m, kk, a), &pack_b_i16(kk, n, b), c);
}

/// A constant 2-D right-hand operand with its zero points subtracted, packed
/// for the best integer GEMM of this build.
pub(super) struct PackedIntB {
    k: usize,
    n: usize,
    layout: IntLayout,
}

enum IntLayout {
    /// i16 pairs for `gemm_i16_packed` (any 8-bit operands).
    Pairs(Vec<i16>),
    /// Sign-split 7-bit panels for the relaxed `gemm_i8_pn_packed`, with the
    /// column sums that correct for the activations' offset.
    SignSplit { panels: Vec<u8>, col_sums: Vec<i32> },
}

impl PackedIntB {
    fn new(k: usize, n: usize, centred: &[i16], sign_split: bool) -> PackedIntB {
        let split = if sign_split { crate::kernels::pack_b_pn(k, n, centred) } else { None };
        let layout = match split {
            Some(panels) => {
                let mut col_sums = vec![0i32; n];
                for row in centred.chunks_exact(n.max(1)).take(k) {
                    col_sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v as i32);
                }
                IntLayout::SignSplit { panels, col_sums }
            }
            None => IntLayout::Pairs(pack_b_i16(k, n, centred)),
        };
        PackedIntB { k, n, layout }
    }

    /// `(A − a_zp) · B` for raw 8-bit A (`rows × k`) with one zero point per row.
    fn multiply(&self, a: &Tensor, row_zp: &[i16], rows: usize) -> Result<Vec<i32>> {
        let (kk, n) = (self.k, self.n);
        let mut out = vec![0i32; rows * n];
        match &self.layout {
            IntLayout::Pairs(panels) => {
                let ap = match a {
                    Tensor::U8(x) => crate::kernels::pack_a_i16_centred(rows, kk, &super::linalg::contiguous(x), row_zp),
                    Tensor::I8(x) => crate::kernels::pack_a_i16_centred(rows, kk, &super::linalg::contiguous(x), row_zp),
                    other => return Err(SquishError::op(format!("input A must be uint8 or int8, got {}", other.dtype()))),
                };
                k::gemm_i16_packed(rows, kk, n, &ap, panels, &mut out);
            }
            IntLayout::SignSplit { panels, col_sums } => {
                // u8 activations shift by 128 into i8; (a − zp) = a' + (128 − zp).
                let shift = if a.dtype() == DType::U8 { 128 } else { 0 };
                let a8: Vec<i8> = int8_values(a, "input A")?.iter().map(|&v| (v - shift) as i8).collect();
                k::gemm_i8_pn_packed(rows, kk, n, &crate::kernels::pack_a_i8(rows, kk, &a8), panels, &mut out);
                for (r, row) in out.chunks_exact_mut(n.max(1)).enumerate() {
                    let offset = (shift - row_zp[r]) as i32;
                    if offset != 0 {
                        row.iter_mut().zip(col_sums).for_each(|(o, &s)| *o += offset * s);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Whether the runtime packs weights for the sign-split relaxed kernel.
/// Off: in V8 on x86 without AVX-VNNI lowering, `relaxed_dot_i8x16_i7x16_add`
/// becomes pmaddubsw + pmaddwd + paddd, and the kernel needs two of them
/// (P and N) per 16 products, against two instructions per 8 for the i16
/// pairs: `npm run bench` measures both in the relaxed build every run
/// (`int8_signsplit_gemm_*`), 39–41 vs 72–76 GOP/s on the test machines.
/// Timing it at load time was tried and is unreliable (the first calls run
/// in V8's baseline tier).
const SIGN_SPLIT: bool = false;

/// A's zero point for each of `rows` rows (per tensor, or per row of the last matrix).
fn row_zero_points(zp: Option<&Tensor>, data_type: DType, rows: usize, m: usize) -> Result<Vec<i16>> {
    let Some(zp) = zp else { return Ok(vec![0; rows]) };
    if zp.dtype() != data_type {
        return Err(SquishError::op(format!("A zero point is {}, but the data is {data_type}", zp.dtype())));
    }
    let z = int8_values(zp, "A")?;
    match z.len() {
        1 => Ok(vec![z[0]; rows]),
        l if l == m => Ok((0..rows).map(|r| z[r % m]).collect()),
        l => Err(SquishError::op(format!("A zero point has {l} values; expected 1 or {m}"))),
    }
}

pub(super) struct IntMatMul {
    /// QLinearMatMul (requantised u8/i8 output) rather than MatMulInteger (i32).
    pub(super) requantize: bool,
    pub(super) packed: Option<PackedIntB>,
}

/// Input positions of A, its zero point, B, its zero point.
fn matmul_slots(requantize: bool) -> (usize, usize, usize, usize) {
    if requantize {
        (0, 2, 3, 5)
    } else {
        (0, 2, 1, 3)
    }
}

fn build_matmul(ctx: &BuildCtx, requantize: bool) -> Result<Box<dyn Op>> {
    Ok(build_int_matmul(ctx, requantize)?)
}

pub(super) fn build_int_matmul(ctx: &BuildCtx, requantize: bool) -> Result<Box<IntMatMul>> {
    let (_, _, bi, bzi) = matmul_slots(requantize);
    let packed = match (ctx.constant(bi), ctx.node.inputs.get(bzi).is_none_or(|s| s.is_empty()) || ctx.constant(bzi).is_some()) {
        (Some(b), true) if b.shape().len() == 2 => {
            let (kk, n) = (b.shape()[0], b.shape()[1]);
            let mut vals = int8_values(b, "input B")?;
            center(&mut vals, b.dtype(), ctx.constant(bzi), 1, n, "B")?;
            Some(PackedIntB::new(kk, n, &vals, SIGN_SPLIT))
        }
        _ => None,
    };
    Ok(Box::new(IntMatMul { requantize, packed }))
}

impl IntMatMul {
    pub(super) fn product(&self, inputs: &[Option<&Tensor>]) -> Result<ArrayD<i32>> {
        let (ai, azi, bi, bzi) = matmul_slots(self.requantize);
        let a = required(inputs, ai)?;
        let ash = a.shape().to_vec();
        if ash.is_empty() {
            return Err(SquishError::op("input A must have rank ≥ 1"));
        }
        let kk = *ash.last().expect("rank ≥ 1");
        let m = if ash.len() >= 2 { ash[ash.len() - 2] } else { 1 };
        if let (Some(p), true) = (&self.packed, ash.len() >= 2) {
            if kk != p.k {
                return Err(SquishError::op(format!("inner dimensions differ: {ash:?} × [{}, {}]", p.k, p.n)));
            }
            let rows = a.len().checked_div(kk).unwrap_or_else(|| ash[..ash.len() - 1].iter().product());
            let row_zp = row_zero_points(inputs.get(azi).copied().flatten(), a.dtype(), rows, m)?;
            let out = p.multiply(a, &row_zp, rows)?;
            let mut shape = ash[..ash.len() - 1].to_vec();
            shape.push(p.n);
            return Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("rows·n values"));
        }
        let mut av = int8_values(a, "input A")?;
        center(&mut av, a.dtype(), inputs.get(azi).copied().flatten(), kk, m, "A")?;
        let b = required(inputs, bi)?;
        let n = *b.shape().last().ok_or_else(|| SquishError::op("input B must have rank ≥ 1"))?;
        let mut bv = int8_values(b, "input B")?;
        // Per-column zero points: element i is in column i mod n (a 1-D B is one column).
        center(&mut bv, b.dtype(), inputs.get(bzi).copied().flatten(), 1, if b.shape().len() == 1 { 1 } else { n }, "B")?;
        let a_arr = ArrayD::from_shape_vec(IxDyn(&ash), av).expect("same count");
        let b_arr = ArrayD::from_shape_vec(IxDyn(b.shape()), bv).expect("same count");
        batched_matmul(&a_arr, &b_arr, gemm_i32)
    }
}

impl Op for IntMatMul {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let acc = self.product(inputs)?;
        if !self.requantize {
            return Ok(vec![Tensor::I32(acc)]);
        }
        let a = required(inputs, 0)?;
        let rows = if a.shape().len() >= 2 { a.shape()[a.shape().len() - 2] } else { 1 };
        let n = *acc.shape().last().unwrap_or(&1);
        let a_s = params(required(inputs, 1)?, rows, "a_scale")?;
        let b_s = params(required(inputs, 4)?, n, "b_scale")?;
        let y_s = params(required(inputs, 6)?, 1, "y_scale")?[0];
        let y_zp = inputs.get(7).copied().flatten();
        let (shape, acc) = (acc.shape().to_vec(), acc.into_raw_vec_and_offset().0);
        let scale_at = |i: usize| {
            let (row, col) = ((i / n.max(1)) % rows.max(1), i % n.max(1));
            a_s[if a_s.len() == 1 { 0 } else { row }] * b_s[if b_s.len() == 1 { 0 } else { col }] / y_s
        };
        Ok(vec![requantize_output(&acc, &shape, scale_at, y_zp, a.dtype())?])
    }
}

/// `saturate(round(acc · scale(i)) + y_zero_point)` in the zero point's type
/// (the input's type when the zero point is omitted).
fn requantize_output(acc: &[i32], shape: &[usize], scale: impl Fn(usize) -> f32, y_zp: Option<&Tensor>, default: DType) -> Result<Tensor> {
    let out_type = y_zp.map(|z| z.dtype()).unwrap_or(default);
    let zp = match y_zp {
        Some(z) if z.len() != 1 => return Err(SquishError::op(format!("y_zero_point must be a single value, got shape {:?}", z.shape()))),
        Some(z) => z.to_f64_vec()[0] as f32,
        None => 0.0,
    };
    let (lo, hi) = match out_type {
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        other => return Err(SquishError::op(format!("output type {other} is not supported; expected uint8 or int8"))),
    };
    let q = acc.iter().enumerate().map(|(i, &v)| ((v as f32 * scale(i)).round_ties_even() + zp).clamp(lo, hi));
    Ok(match out_type {
        DType::U8 => Tensor::U8(ArrayD::from_shape_vec(IxDyn(shape), q.map(|v| v as u8).collect()).expect("same count")),
        _ => Tensor::I8(ArrayD::from_shape_vec(IxDyn(shape), q.map(|v| v as i8).collect()).expect("same count")),
    })
}

pub(super) struct IntConv {
    requantize: bool,
    window: Window,
    group: usize,
    /// Constant filters, centred and packed per group at load time.
    packed_w: Option<PackedFilters>,
}

/// A constant filter bank `[M, C/group, kh, kw]` with its zero points
/// subtracted: packed as the GEMM's left operand, one panel set per group,
/// or (depthwise) as it is for the direct kernel.
struct PackedFilters {
    shape: Vec<usize>,
    per_group: Vec<Vec<i16>>,
    depthwise: Vec<i16>,
}

impl PackedFilters {
    /// `None` when the filters or their zero points are not constants (or are
    /// malformed: the run reports that).
    fn new(ctx: &BuildCtx, wi: usize, wzi: usize, group: usize) -> Option<PackedFilters> {
        let w = ctx.constant(wi)?;
        let zp = match ctx.node.inputs.get(wzi).filter(|s| !s.is_empty()) {
            Some(_) => Some(ctx.constant(wzi)?),
            None => None,
        };
        let shape = w.shape().to_vec();
        let m = *shape.first()?;
        if shape.len() < 3 || group == 0 || m % group != 0 {
            return None;
        }
        let wv = centred_filters(w, zp).ok()?;
        if shape[1] == 1 && m == group {
            return Some(PackedFilters { shape, per_group: Vec::new(), depthwise: wv });
        }
        let (mg, per_filter) = (m / group, wv.len() / m.max(1));
        let per_group = wv.chunks(mg * per_filter).map(|wg| pack_a_i16(mg, per_filter, wg)).collect();
        Some(PackedFilters { shape, per_group, depthwise: Vec::new() })
    }
}

/// Filters `[M, …]` as i16 minus their zero point (one, or one per filter).
fn centred_filters(w: &Tensor, w_zp: Option<&Tensor>) -> Result<Vec<i16>> {
    let m = w.shape().first().copied().unwrap_or(0);
    let mut wv = int8_values(w, "weights w")?;
    let per_filter = wv.len().checked_div(m).unwrap_or(0);
    center(&mut wv, w.dtype(), w_zp, per_filter, m, "w")?;
    Ok(wv)
}

/// An 8-bit tensor's codes as one contiguous slice.
enum Codes8<'a> {
    U8(Cow<'a, [u8]>),
    I8(Cow<'a, [i8]>),
}

impl Codes8<'_> {
    fn of<'a>(t: &'a Tensor, what: &str) -> Result<Codes8<'a>> {
        match t {
            Tensor::U8(a) => Ok(Codes8::U8(a.as_slice().map_or_else(|| Cow::Owned(a.iter().copied().collect()), Cow::Borrowed))),
            Tensor::I8(a) => Ok(Codes8::I8(a.as_slice().map_or_else(|| Cow::Owned(a.iter().copied().collect()), Cow::Borrowed))),
            other => Err(SquishError::op(format!("{what} must be uint8 or int8, got {}", other.dtype()))),
        }
    }
}

/// The input's one zero point (0 when absent), of the input's type.
fn input_zero_point(x: &Tensor, x_zp: Option<&Tensor>) -> Result<i16> {
    let Some(zp) = x_zp else { return Ok(0) };
    if zp.dtype() != x.dtype() {
        return Err(SquishError::op(format!("x zero point is {}, but the data is {}", zp.dtype(), x.dtype())));
    }
    match int8_values(zp, "x")?.as_slice() {
        [z] => Ok(*z),
        _ => Err(SquishError::op("x_zero_point must be a single value (per-tensor)")),
    }
}

pub(super) fn int_conv(ctx: &BuildCtx) -> Result<IntConv> {
    let group = group_attr(ctx)?;
    Ok(IntConv { requantize: false, window: Window::from_attrs(ctx)?, group, packed_w: PackedFilters::new(ctx, 1, 3, group) })
}

fn build_conv(ctx: &BuildCtx, requantize: bool) -> Result<Box<dyn Op>> {
    let group = group_attr(ctx)?;
    let (wi, wzi) = if requantize { (3, 5) } else { (1, 3) };
    Ok(Box::new(IntConv { requantize, window: Window::from_attrs(ctx)?, group, packed_w: PackedFilters::new(ctx, wi, wzi, group) }))
}

/// A convolution's sums: exact i32, or finished as floats by a `RowScale`.
pub(super) enum ConvSums {
    I32(Vec<i32>),
    F32(Vec<f32>),
}

impl ConvSums {
    /// The `[start, end)` outputs as a kernel output, finished by rows
    /// `first…` of `finish` when floats.
    fn part<'a>(&'a mut self, range: std::ops::Range<usize>, finish: Option<&'a RowScale<'a>>, first: usize) -> IntOut<'a> {
        match (self, finish) {
            (ConvSums::F32(v), Some(rs)) => IntOut::F32(&mut v[range], rs.from_row(first)),
            (ConvSums::I32(v), _) => IntOut::I32(&mut v[range]),
            (ConvSums::F32(_), None) => unreachable!("float sums are made with a RowScale"),
        }
    }
}

impl IntConv {
    /// `(x − x_zp) ⊛ (w − w_zp)` with the output shape: exact i32 sums, or
    /// floats when `finish` scales each output channel (the fused chains).
    /// Shared by ConvInteger, QLinearConv and the runtime's fused convolutions.
    pub(super) fn accumulate(
        &self,
        x: &Tensor,
        x_zp: Option<&Tensor>,
        w: &Tensor,
        w_zp: Option<&Tensor>,
        finish: Option<RowScale>,
    ) -> Result<(ConvSums, Vec<usize>)> {
        let xz = input_zero_point(x, x_zp)?;
        match Codes8::of(x, "input x")? {
            Codes8::U8(s) => self.accumulate_centred(&Codes { codes: &s[..], zero_point: xz }, x.shape(), w, w_zp, finish),
            Codes8::I8(s) => self.accumulate_centred(&Codes { codes: &s[..], zero_point: xz }, x.shape(), w, w_zp, finish),
        }
    }

    /// `accumulate` of an input given as centred values (stored codes, or
    /// floats quantised as they are read) of shape `x_shape`.
    pub(super) fn accumulate_centred<S: Centred>(
        &self,
        x: &S,
        x_shape: &[usize],
        w: &Tensor,
        w_zp: Option<&Tensor>,
        finish: Option<RowScale>,
    ) -> Result<(ConvSums, Vec<usize>)> {
        if w.shape().len() != x_shape.len() {
            return Err(SquishError::op(format!("weights {:?} and input {:?} differ in rank", w.shape(), x_shape)));
        }
        let (n, c, h, wd) = as_2d(x_shape, "input x")?;
        let (m, cg, _, _) = as_2d(w.shape(), "weights w")?;
        let group = self.group;
        if c % group != 0 || m % group != 0 || cg * group != c {
            return Err(SquishError::op(format!("input has {c} channels, weights {:?} and group {group} do not match", w.shape())));
        }
        if finish.is_some_and(|rs| rs.scale.len() != m || rs.bias.is_some_and(|b| b.len() != m)) {
            return Err(SquishError::op(format!("the output scales must have one value per output channel ({m})")));
        }
        let packed = self.packed_w.as_ref().filter(|p| p.shape == w.shape());
        let geom = self.window.resolve(&x_shape[2..], Some(&w.shape()[2..]))?;
        let mut out_shape = vec![n, m];
        out_shape.extend(&geom.output);
        let total = checked_numel(&out_shape, "output")?;
        let g = lift_geometry(geom);
        let plane = g.output[0] * g.output[1];
        let mut sums = if finish.is_some() { ConvSums::F32(vec![0.0; total]) } else { ConvSums::I32(vec![0; total]) };
        let owned = if packed.is_some() { Vec::new() } else { centred_filters(w, w_zp)? };
        if cg == 1 && m == group {
            let taps = packed.map_or(&owned, |p| &p.depthwise);
            let shape = depthwise_shape(h, wd, &g)?;
            let place = PlaneInPadding { h, w: wd, top: g.pad_begin[0], left: g.pad_begin[1] };
            let out = sums.part(0..total, finish.as_ref(), 0);
            k::depthwise_codes(x, place, taps, shape, out);
            return Ok((sums, out_shape));
        }
        let kdim = cg * g.kernel[0] * g.kernel[1];
        let mg = m / group;
        let panels: Vec<Cow<[i16]>> = match packed {
            Some(p) => p.per_group.iter().map(|v| Cow::Borrowed(v.as_slice())).collect(),
            None => owned.chunks(mg * kdim).map(|wg| Cow::Owned(pack_a_i16(mg, kdim, wg))).collect(),
        };
        // A 1×1 window with unit stride and no padding reads the input as it
        // is: B is packed straight from the codes.
        let direct = g.kernel == [1, 1] && g.strides == [1, 1] && g.dilations == [1, 1] && g.pad_begin == [0, 0] && g.pad_end == [0, 0];
        let mut col = if direct { Vec::new() } else { vec![0i16; kdim * plane] };
        let mut xv = vec![0i16; if direct { 0 } else { x.len() }];
        if !direct {
            k::centred_values(x, 0, &mut xv);
        }
        for b in 0..n {
            for (gi, panel) in panels.iter().enumerate() {
                let range = (b * c + gi * cg) * h * wd..(b * c + (gi + 1) * cg) * h * wd;
                let packed_b = if direct {
                    k::pack_b_codes(kdim, plane, x, range.start)
                } else {
                    // Zero-padding the centred input is padding with the zero point, as onnxruntime does.
                    im2col(&xv[range], cg, h, wd, &g, &mut col);
                    pack_b_i16(kdim, plane, &col)
                };
                match sums.part((b * m + gi * mg) * plane..(b * m + (gi + 1) * mg) * plane, finish.as_ref(), gi * mg) {
                    IntOut::I32(out) => k::gemm_i16_packed(mg, kdim, plane, panel, &packed_b, out),
                    IntOut::F32(out, rs) => k::gemm_i16_packed_scaled(mg, kdim, plane, panel, &packed_b, rs, out),
                }
            }
        }
        Ok((sums, out_shape))
    }
}

impl Op for IntConv {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (xi, xzi, wi, wzi) = if self.requantize { (0, 2, 3, 5) } else { (0, 2, 1, 3) };
        let (x, w) = (required(inputs, xi)?, required(inputs, wi)?);
        let (sums, out_shape) = self.accumulate(x, inputs.get(xzi).copied().flatten(), w, inputs.get(wzi).copied().flatten(), None)?;
        let ConvSums::I32(mut acc) = sums else { unreachable!("no RowScale: i32 sums") };
        let m = out_shape[1];
        let plane: usize = out_shape[2..].iter().product();
        if !self.requantize {
            return Ok(vec![Tensor::I32(ArrayD::from_shape_vec(IxDyn(&out_shape), acc).expect("sized above"))]);
        }
        let x_s = params(required(inputs, 1)?, 1, "x_scale")?[0];
        let w_s = params(required(inputs, 4)?, m, "w_scale")?;
        let y_s = params(required(inputs, 6)?, 1, "y_scale")?[0];
        if let Some(bias) = inputs.get(8).copied().flatten() {
            let bias = match bias {
                Tensor::I32(b) if b.len() == m => b.iter().copied().collect::<Vec<i32>>(),
                other => return Err(SquishError::op(format!("bias B must be int32 with {m} values, got {} of shape {:?}", other.dtype(), other.shape()))),
            };
            for (i, v) in acc.iter_mut().enumerate() {
                *v += bias[(i / plane.max(1)) % m];
            }
        }
        let scale_at = |i: usize| x_s * w_s[if w_s.len() == 1 { 0 } else { (i / plane.max(1)) % m }] / y_s;
        Ok(vec![requantize_output(&acc, &out_shape, scale_at, inputs.get(7).copied().flatten(), x.dtype())?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn dynamic_quantisation_follows_the_onnx_definition() {
        // The ONNX spec example: [0, 2, -3, -2.5, 1.34, 0.5] → scale 5/255, zp 153.
        let (q, s, z) = quantize_u8_dynamic(&[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]).unwrap();
        assert!((s - 0.019_607_844).abs() < 1e-9);
        assert_eq!(z, 153);
        assert_eq!(q, vec![153, 255, 0, 26, 221, 179]);
        assert_eq!(quantize_u8_dynamic(&[0.0, 0.0]).unwrap(), (vec![0, 0], 0.0, 0));
        let err = quantize_u8_dynamic(&[1.0, f32::NAN]).unwrap_err().to_string();
        assert!(err.contains("NaN"), "{err}");
    }

    fn as_u8(v: &[i16]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.iter().map(|&x| x as u8).collect::<Vec<u8>>()).unwrap()
    }

    fn as_i8(v: &[i16]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.iter().map(|&x| x as i8).collect::<Vec<i8>>()).unwrap()
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn both_packed_layouts_give_the_exact_product() {
        let (kk, n, rows) = (37, 10, 6);
        let b: Vec<i16> = (0..kk * n).map(|i| ((i * 7919) % 255) as i16 - 127).collect();
        let raw: Vec<i16> = (0..rows * kk).map(|i| ((i * 104729) % 256) as i16).collect();
        let row_zp: Vec<i16> = (0..rows).map(|r| (r * 40) as i16).collect();
        let want: Vec<i32> = (0..rows * n).map(|o| (0..kk).map(|p| (raw[(o / n) * kk + p] - row_zp[o / n]) as i32 * b[p * n + o % n] as i32).sum()).collect();
        for split in [false, true] {
            let packed = PackedIntB::new(kk, n, &b, split);
            assert_eq!(matches!(packed.layout, IntLayout::SignSplit { .. }), split);
            assert_eq!(packed.multiply(&as_u8(&raw), &row_zp, rows).unwrap(), want, "sign split: {split}");
        }
        // i8 activations, and a weight outside [-127, 127] falls back to pairs.
        let signed: Vec<i16> = raw.iter().map(|&v| v - 128).collect();
        let mut b2 = b.clone();
        b2[3] = -128;
        let want2: Vec<i32> = (0..rows * n).map(|o| (0..kk).map(|p| signed[(o / n) * kk + p] as i32 * b2[p * n + o % n] as i32).sum()).collect();
        let packed = PackedIntB::new(kk, n, &b2, true);
        assert!(matches!(packed.layout, IntLayout::Pairs(_)));
        assert_eq!(packed.multiply(&as_i8(&signed), &vec![0; rows], rows).unwrap(), want2);
        let packed = PackedIntB::new(kk, n, &b, true);
        let want3: Vec<i32> = (0..rows * n).map(|o| (0..kk).map(|p| signed[(o / n) * kk + p] as i32 * b[p * n + o % n] as i32).sum()).collect();
        assert_eq!(packed.multiply(&as_i8(&signed), &vec![0; rows], rows).unwrap(), want3);
    }
}
