//! Conv and ConvTranspose (f32, NCHW, 1-D and 2-D). Pointwise convolutions
//! are a plain GEMM (the sparse one for a pruned constant weight), depthwise
//! ones a direct loop, constant 3×3 stride-1 ones Winograd F(2×2, 3×3), the
//! rest im2col + GEMM.

use ndarray::{ArrayD, IxDyn};

use super::activation::{apply_bounds, FusedActivation};
use super::spatial::{for_each_index, Geometry, Window};
use super::{optional_f32, required_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::active as k;
use crate::kernels::sparse::{self, Layout, SparseB};
use crate::kernels::winograd::{conv3x3, LazyWinograd, WinogradShape};
use crate::kernels::{DepthwiseShape, Epilogue};
use crate::ops::internal::{CONV_ACTIVATION, INTERNAL_DOMAIN};
use crate::tensor::{checked_numel, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "Conv", build_conv);
    r.insert("", "ConvTranspose", build_conv_transpose);
    r.insert(INTERNAL_DOMAIN, CONV_ACTIVATION, build_conv_activation);
    r.facts("", &["Conv"], super::facts::window);
}

struct Conv {
    window: Window,
    group: usize,
    /// What the load-time fusion `Conv → Relu|Clip` applies in the bias pass.
    activation: FusedActivation,
    /// A constant 1×1 weight with enough zeros (pruned), without them.
    sparse: Option<PointwiseSparse>,
    /// Constant filters packed once for the GEMM, per group.
    filters: Option<PackedFilters>,
    /// Constant 3×3 stride-1 filters, transformed for Winograd on the first call.
    winograd: Option<LazyWinograd>,
}

/// Channels in and out from which Winograd beats im2col (below, its
/// transforms cost more than the products it saves).
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// Winograd for a constant `[m, c, 3, 3]` weight of an ungrouped
/// convolution with unit strides and dilations (the only ones it computes).
fn winograd_filters(ctx: &BuildCtx, window: &Window, group: usize) -> Option<LazyWinograd> {
    let w = ctx.constant(1)?.as_f32()?;
    let &[m, c, 3, 3] = w.shape() else { return None };
    let ones = |v: &Option<Vec<usize>>| v.as_ref().is_none_or(|v| v.iter().all(|&x| x == 1));
    if group != 1 || m < WINOGRAD_MIN_CHANNELS || c < WINOGRAD_MIN_CHANNELS || !ones(&window.strides) || !ones(&window.dilations) {
        return None;
    }
    Some(LazyWinograd::new(m, c))
}

/// A constant weight `[m, cg, kh, kw]` as the GEMM's A operand of each group
/// (`kernels::pack_a_f32`), with the shape it was packed from.
struct PackedFilters {
    shape: Vec<usize>,
    groups: Vec<Vec<f32>>,
}

impl PackedFilters {
    fn new(ctx: &BuildCtx, group: usize) -> Option<PackedFilters> {
        let w = ctx.constant(1)?.as_f32()?;
        let shape = w.shape().to_vec();
        let m = *shape.first()?;
        if shape.len() < 3 || m % group != 0 {
            return None; // the run reports the mismatch
        }
        let flat = super::linalg::contiguous(w);
        let per_group = flat.len() / group;
        let (mg, kdim) = (m / group, per_group / (m / group).max(1));
        let groups = flat.chunks_exact(per_group.max(1)).map(|wg| crate::kernels::pack_a_f32(mg, kdim, wg)).collect();
        Some(PackedFilters { shape, groups })
    }
}

/// The weight `[m, c, 1, 1]` as B of `pixels × c · c × m` (so the pixels are
/// the GEMM's rows: the sparse kernel's thresholds apply as for MatMul).
struct PointwiseSparse {
    b: SparseB,
    zeros: f64,
}

impl PointwiseSparse {
    fn new(ctx: &BuildCtx, group: usize) -> Option<PointwiseSparse> {
        let w = ctx.constant(1)?.as_f32()?;
        let shape = w.shape();
        if group != 1 || shape.len() < 3 || shape[2..].iter().any(|&d| d != 1) {
            return None;
        }
        let (m, c) = (shape[0], shape[1]);
        let flat = super::linalg::contiguous(w);
        let zeros = sparse::zero_fraction(&flat);
        if !sparse::worth_sparse_form(zeros, c, m) {
            return None;
        }
        let transposed: Vec<f32> = (0..c * m).map(|i| flat[(i % m) * c + i / m]).collect();
        Some(PointwiseSparse { b: SparseB::from_dense(c, m, &transposed), zeros })
    }

    /// Whether it runs this call: the shapes match and the kernel is faster at this many pixels.
    fn applies(&self, c: usize, m: usize, pixels: usize) -> bool {
        self.b.k == c && self.b.n == m && sparse::sparse_is_faster(self.zeros, pixels)
    }
}

pub(super) fn group_attr(ctx: &BuildCtx) -> Result<usize> {
    let a = ctx.attrs();
    let g = a.int("group", 1)?;
    if g < 1 {
        return Err(a.error("group", format!("must be ≥ 1, got {g}")));
    }
    Ok(g as usize)
}

fn build_conv(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    conv_op(ctx, FusedActivation::None)
}

/// `ConvActivation(X, W, [B], [lo], [hi])`, attribute `activation`: 1 Relu, 2 Clip.
fn build_conv_activation(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    conv_op(ctx, FusedActivation::from_attrs(ctx)?)
}

/// A Conv applying `activation` in its bias pass, with whatever its constant
/// filters allow prepared at load.
fn conv_op(ctx: &BuildCtx, activation: FusedActivation) -> Result<Box<dyn Op>> {
    let group = group_attr(ctx)?;
    let window = Window::from_attrs(ctx)?;
    let winograd = winograd_filters(ctx, &window, group);
    Ok(Box::new(Conv {
        activation,
        sparse: PointwiseSparse::new(ctx, group),
        // Winograd takes every call these filters can get.
        filters: if winograd.is_some() { None } else { PackedFilters::new(ctx, group) },
        winograd,
        window,
        group,
    }))
}

/// Views 1-D convolutions as 2-D ones with height 1: `[N, C, W]` → `[N, C, 1, W]`.
pub(crate) fn as_2d(shape: &[usize], what: &str) -> Result<(usize, usize, usize, usize)> {
    match shape {
        [n, c, w] => Ok((*n, *c, 1, *w)),
        [n, c, h, w] => Ok((*n, *c, *h, *w)),
        _ => Err(SquishError::op(format!("{what} must be 3-D or 4-D (1-D or 2-D convolution), got shape {shape:?}"))),
    }
}

pub(crate) fn lift_geometry(g: Geometry) -> Geometry {
    if g.kernel.len() == 2 {
        return g;
    }
    let one = |v: &Vec<usize>, fill: usize| vec![fill, v[0]];
    Geometry {
        kernel: one(&g.kernel, 1),
        strides: one(&g.strides, 1),
        dilations: one(&g.dilations, 1),
        pad_begin: one(&g.pad_begin, 0),
        pad_end: one(&g.pad_end, 0),
        output: one(&g.output, 1),
    }
}

/// Unfolds one group's input `[cg, h, w]` into `[cg·kh·kw, oh·ow]` columns.
pub(crate) fn im2col<T: Copy + Default>(x: &[T], cg: usize, h: usize, w: usize, g: &Geometry, col: &mut [T]) {
    let (kh, kw) = (g.kernel[0], g.kernel[1]);
    let pixels = g.output[0] * g.output[1];
    for (row, dst) in col.chunks_exact_mut(pixels.max(1)).take(cg * kh * kw).enumerate() {
        let (c, tap) = (row / (kh * kw), row % (kh * kw));
        unfold_row(&x[c * h * w..(c + 1) * h * w], w, g, (tap / kw, tap % kw), dst);
    }
}

/// `im2col` written straight into the GEMM's packed B layout
/// (`kernels::pack_b_f32`: panels of 8 columns, each `rows × 8`), so the
/// unfolded matrix is never stored twice.
fn im2col_packed(x: &[f32], cg: usize, h: usize, w: usize, g: &Geometry) -> Vec<f32> {
    use crate::kernels::GEMM_NR as NR;
    let (kh, kw) = (g.kernel[0], g.kernel[1]);
    let rows = cg * kh * kw;
    let pixels = g.output[0] * g.output[1];
    let mut out = vec![0.0f32; pixels.div_ceil(NR) * rows * NR];
    let mut line = vec![0.0f32; pixels];
    for row in 0..rows {
        let (c, tap) = (row / (kh * kw), row % (kh * kw));
        unfold_row(&x[c * h * w..(c + 1) * h * w], w, g, (tap / kw, tap % kw), &mut line);
        let full = line.chunks_exact(NR);
        let tail = full.remainder();
        for (jp, chunk) in full.enumerate() {
            let at = (jp * rows + row) * NR;
            out[at..at + NR].copy_from_slice(chunk);
        }
        if !tail.is_empty() {
            let at = (pixels / NR * rows + row) * NR;
            out[at..at + tail.len()].copy_from_slice(tail);
        }
    }
    out
}

/// One row of the unfolded matrix: filter tap `(ky, kx)` of one input plane
/// (`w` wide) at every output position, zero where it falls in the padding.
/// Per output row the positions inside the plane are one range, computed
/// once: a copy at stride 1, a strided gather otherwise.
fn unfold_row<T: Copy + Default>(plane: &[T], w: usize, g: &Geometry, (ky, kx): (usize, usize), dst: &mut [T]) {
    let h = plane.len() / w.max(1);
    let (oh, ow) = (g.output[0], g.output[1]);
    let (sx, offset) = (g.strides[1], (kx * g.dilations[1]) as isize - g.pad_begin[1] as isize);
    // Outputs ox with 0 ≤ ox·sx + offset < w.
    let first = if offset >= 0 { 0 } else { ((-offset) as usize).div_ceil(sx) };
    let end = if (w as isize) <= offset { 0 } else { ((w as isize - offset) as usize).div_ceil(sx) };
    let (first, end) = (first.min(ow), end.clamp(first.min(ow), ow));
    for oy in 0..oh {
        let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pad_begin[0] as isize;
        let line = &mut dst[oy * ow..(oy + 1) * ow];
        if iy < 0 || iy >= h as isize {
            line.fill(T::default());
            continue;
        }
        let src = &plane[iy as usize * w..(iy as usize + 1) * w];
        line[..first].fill(T::default());
        line[end..].fill(T::default());
        if first == end {
            continue;
        }
        let start = (first as isize * sx as isize + offset) as usize;
        if sx == 1 {
            line[first..end].copy_from_slice(&src[start..start + (end - first)]);
        } else {
            for (v, &x) in line[first..end].iter_mut().zip(src[start..].iter().step_by(sx)) {
                *v = x;
            }
        }
    }
}

/// The adjoint of `im2col`: adds every column entry back onto the input
/// position it was read from (padding reads nothing and gets nothing).
/// Backpropagation through a convolution uses it.
pub(crate) fn col2im(col: &[f32], cg: usize, h: usize, w: usize, g: &Geometry, x: &mut [f32]) {
    let (kh, kw) = (g.kernel[0], g.kernel[1]);
    let (oh, ow) = (g.output[0], g.output[1]);
    let mut row = 0;
    for c in 0..cg {
        let plane = &mut x[c * h * w..(c + 1) * h * w];
        for ky in 0..kh {
            for kx in 0..kw {
                let src = &col[row * oh * ow..(row + 1) * oh * ow];
                for oy in 0..oh {
                    let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pad_begin[0] as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * w..(iy as usize + 1) * w];
                    for (ox, &v) in src[oy * ow..(oy + 1) * ow].iter().enumerate() {
                        let ix = (ox * g.strides[1] + kx * g.dilations[1]) as isize - g.pad_begin[1] as isize;
                        if ix >= 0 && ix < w as isize {
                            dst[ix as usize] += v;
                        }
                    }
                }
                row += 1;
            }
        }
    }
}

/// One channel, one filter (depthwise convolution): the plane is copied
/// into a zero-padded one and the direct kernel sums every tap per output.
/// `(h, w, top, left)`: the plane's size and where it sits in the padded one.
fn depthwise_plane(
    x: &[f32],
    (h, w, pt, pl): (usize, usize, usize, usize),
    wt: &[f32],
    shape: DepthwiseShape,
    padded: &mut Vec<f32>,
    out: &mut [f32],
    ep: Epilogue,
) {
    let pw = shape.pw;
    // One padded plane serves every channel: its border stays zero, the
    // interior is rewritten.
    if padded.len() != shape.ph * pw {
        *padded = vec![0.0f32; shape.ph * pw];
    }
    for (src, dst) in x.chunks_exact(w.max(1)).take(h).zip(padded[pt * pw..].chunks_exact_mut(pw.max(1))) {
        k::copy_f32(&mut dst[pl..pl + w], src);
    }
    k::depthwise_f32(padded, wt, shape, out, ep);
}

/// The direct window kernels' geometry (depthwise convolution, max
/// pooling) for an `h × w` plane padded as `g` says, extended where ceil
/// mode lets the last windows reach past the end padding.
pub(super) fn depthwise_shape(h: usize, w: usize, g: &Geometry) -> Result<crate::kernels::DepthwiseShape> {
    let reach = |o: usize, d: usize| if o == 0 { 0 } else { (o - 1) * g.strides[d] + (g.kernel[d] - 1) * g.dilations[d] + 1 };
    let shape = crate::kernels::DepthwiseShape {
        ph: (h + g.pad_begin[0] + g.pad_end[0]).max(reach(g.output[0], 0)),
        pw: (w + g.pad_begin[1] + g.pad_end[1]).max(reach(g.output[1], 1)),
        kh: g.kernel[0],
        kw: g.kernel[1],
        sy: g.strides[0],
        sx: g.strides[1],
        dy: g.dilations[0],
        dx: g.dilations[1],
        oh: g.output[0],
        ow: g.output[1],
    };
    // Window::resolve sizes the output so that every window fits; anything
    // else (a zero stride or dilation) is a geometry this code does not produce.
    if !shape.is_valid() {
        return Err(SquishError::op(format!("window geometry {shape:?} reaches outside the padded input")));
    }
    Ok(shape)
}

/// How one call computes its groups (the same for every group).
#[derive(Clone, Copy)]
enum Route<'a> {
    Sparse(&'a PointwiseSparse),
    Depthwise(DepthwiseShape),
    Winograd(&'a LazyWinograd),
    /// im2col (or, for a pointwise convolution, the input as it is) + GEMM.
    Gemm {
        pointwise: bool,
    },
}

impl Conv {
    fn route(&self, g: &Geometry, (cg, mg): (usize, usize), (h, w): (usize, usize), wt_shape: &[usize]) -> Result<Route<'_>> {
        let plane = g.output[0] * g.output[1];
        let pointwise = g.kernel == [1, 1] && g.strides == [1, 1] && g.pad_begin == [0, 0] && g.pad_end == [0, 0];
        if let Some(sb) = self.sparse.as_ref().filter(|s| pointwise && s.applies(cg, mg, plane)) {
            return Ok(Route::Sparse(sb));
        }
        if cg == 1 && mg == 1 {
            return Ok(Route::Depthwise(depthwise_shape(h, w, g)?));
        }
        let (m, c) = (wt_shape[0], cg * self.group);
        let winograd = g.kernel == [3, 3] && g.strides == [1, 1] && g.dilations == [1, 1];
        if let Some(f) = self.winograd.as_ref().filter(|f| winograd && f.m == m && f.c == c) {
            return Ok(Route::Winograd(f));
        }
        Ok(Route::Gemm { pointwise })
    }
}

/// One group's outputs `og` (`mg` planes, every value stored) by GEMM: the
/// filters (packed at load, or here) times the input's columns (im2col
/// unless pointwise); the GEMM adds the bias and bounds each output as it
/// stores it.
fn gemm_group(
    (xg, (cg, h, w)): (&[f32], (usize, usize, usize)),
    (wg, packed, mg): (&[f32], Option<&[f32]>, usize),
    g: &Geometry,
    pointwise: bool,
    og: &mut [std::mem::MaybeUninit<f32>],
    ep: Epilogue,
) {
    let kdim = cg * g.kernel[0] * g.kernel[1];
    let plane = g.output[0] * g.output[1];
    let packed_here;
    let ap = match packed {
        Some(ap) => ap,
        None => {
            packed_here = crate::kernels::pack_a_f32(mg, kdim, wg);
            &packed_here
        }
    };
    let bp = if pointwise { crate::kernels::pack_b_f32(cg, plane, xg) } else { im2col_packed(xg, cg, h, w, g) };
    k::gemm_f32_prepacked_then(mg, kdim, plane, ap, &bp, og, ep);
}

impl Op for Conv {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required_f32(inputs, 0, "input X")?;
        let wt = required_f32(inputs, 1, "weights W")?;
        let bias = optional_f32(inputs, 2, "bias B")?;
        if wt.ndim() != x.ndim() {
            return Err(SquishError::op(format!("weights {:?} and input {:?} differ in rank", wt.shape(), x.shape())));
        }
        let (n, c, h, w) = as_2d(x.shape(), "input X")?;
        let (m, cg, _, _) = as_2d(wt.shape(), "weights W")?;
        let group = self.group;
        if c % group != 0 || m % group != 0 || cg * group != c {
            return Err(SquishError::op(format!("input has {c} channels, weights {:?} and group {group} do not match", wt.shape())));
        }
        let geom = self.window.resolve(&x.shape()[2..], Some(&wt.shape()[2..]))?;
        let mut out_shape = vec![n, m];
        out_shape.extend(&geom.output);
        let g = lift_geometry(geom);
        let mg = m / group;
        let (oh, ow) = (g.output[0], g.output[1]);
        let plane = oh * ow;
        checked_numel(&out_shape, "Conv output")?;
        if let Some(b) = bias {
            if b.len() != m {
                return Err(SquishError::op(format!("bias has {} values, expected {m}", b.len())));
            }
        }
        let kdim = cg * g.kernel[0] * g.kernel[1];
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let ws = wt.as_standard_layout();
        let ws = ws.as_slice().expect("standard layout");
        let (lo, hi) = self.activation.bounds(inputs, 3)?;
        let bias = bias.map(|b| b.iter().copied().collect::<Vec<f32>>());
        let route = self.route(&g, (cg, mg), (h, w), wt.shape())?;
        let len = n * m * plane;
        let (xg_len, og_len) = (cg * h * w, mg * plane);
        let bias = bias.as_deref();
        // Group gi of example b: its input, its filters and its outputs' epilogue.
        let groups = (0..n).flat_map(|b| (0..group).map(move |gi| (b, gi))).map(move |(b, gi)| {
            let xg = &xs[(b * group + gi) * xg_len..][..xg_len];
            let wg = &ws[gi * mg * kdim..(gi + 1) * mg * kdim];
            (gi, xg, wg, Epilogue { bias: bias.map(|b| &b[gi * mg..(gi + 1) * mg]), lo, hi })
        });
        let out = if let Route::Gemm { pointwise } = route {
            // Every output is stored by the GEMM, so none is zeroed first
            // (4.8 MB for mobilenetv2's widest 1×1 convolution).
            let filters = self.filters.as_ref().filter(|f| f.shape == wt.shape());
            let mut out: Vec<f32> = Vec::with_capacity(len);
            let spare = &mut out.spare_capacity_mut()[..len];
            for ((gi, xg, wg, ep), og) in groups.zip(spare.chunks_exact_mut(og_len.max(1))) {
                let packed = filters.map(|f| f.groups[gi].as_slice());
                gemm_group((xg, (cg, h, w)), (wg, packed, mg), &g, pointwise, og, ep);
            }
            // SAFETY: the chunks cover out[..len] (n · group chunks of mg · plane;
            // none when len is 0), and gemm_group stores every output of its chunk.
            unsafe { out.set_len(len) };
            out
        } else {
            let mut out = vec![0.0f32; len];
            let mut padded_plane = Vec::new();
            for ((_, xg, wg, ep), og) in groups.zip(out.chunks_exact_mut(og_len.max(1))) {
                match route {
                    Route::Sparse(sb) => {
                        k::gemm_f32_sparse(plane, xg, &sb.b, og, Layout::Transposed);
                        sparse::propagate_non_finite(plane, xg, &sb.b, og, Layout::Transposed);
                        finish_planes(og, plane, &ep);
                    }
                    Route::Depthwise(shape) => depthwise_plane(xg, (h, w, g.pad_begin[0], g.pad_begin[1]), wg, shape, &mut padded_plane, og, ep),
                    Route::Winograd(f) => {
                        let shape = WinogradShape { h, w, top: g.pad_begin[0], left: g.pad_begin[1], oh, ow };
                        conv3x3(k::gemm_f32_prepacked, xg, f.filters(wg, oh, ow), shape, og);
                        finish_planes(og, plane, &ep);
                    }
                    Route::Gemm { .. } => unreachable!("handled above"),
                }
            }
            out
        };
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("sized above"))])
    }
}

/// `ep` on a group's planes (one bias per plane) while they are in cache,
/// for the paths whose kernels do not apply it as they store; Relu's and
/// Clip's own comparisons, so bit-identical to the separate ops.
fn finish_planes(planes: &mut [f32], plane: usize, ep: &Epilogue) {
    if ep.bias.is_none() && ep.lo.is_none() && ep.hi.is_none() {
        return;
    }
    for (i, chunk) in planes.chunks_exact_mut(plane.max(1)).enumerate() {
        if let Some(b) = ep.bias.map(|b| b[i]) {
            chunk.iter_mut().for_each(|v| *v += b);
        }
        apply_bounds(chunk, ep.lo, ep.hi);
    }
}

struct ConvTranspose {
    window: Window,
    group: usize,
    output_padding: Option<Vec<usize>>,
    output_shape: Option<Vec<usize>>,
}

fn build_conv_transpose(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let nonneg = |name: &str| -> Result<Option<Vec<usize>>> {
        match a.opt_ints(name)? {
            None => Ok(None),
            Some(v) if v.iter().all(|&x| x >= 0) => Ok(Some(v.iter().map(|&x| x as usize).collect())),
            Some(v) => Err(a.error(name, format!("values must be non-negative, got {v:?}"))),
        }
    };
    Ok(Box::new(ConvTranspose {
        window: Window::from_attrs(ctx)?,
        group: group_attr(ctx)?,
        output_padding: nonneg("output_padding")?,
        output_shape: nonneg("output_shape")?,
    }))
}

impl Op for ConvTranspose {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        use super::spatial::AutoPad;
        let x = required_f32(inputs, 0, "input X")?;
        let wt = required_f32(inputs, 1, "weights W")?;
        let bias = optional_f32(inputs, 2, "bias B")?;
        if x.ndim() < 3 || wt.ndim() != x.ndim() {
            return Err(SquishError::op(format!("input {:?} and weights {:?} must both have rank ≥ 3", x.shape(), wt.shape())));
        }
        let r = x.ndim() - 2;
        let (n, c, wc, mg) = (x.shape()[0], x.shape()[1], wt.shape()[0], wt.shape()[1]);
        let group = self.group;
        if wc != c || c % group != 0 {
            return Err(SquishError::op(format!("weights {:?} do not fit input {:?} with group {group}", wt.shape(), x.shape())));
        }
        let cg = c / group;
        let m = mg * group;
        let kernel: Vec<usize> = wt.shape()[2..].to_vec();
        let win = &self.window;
        let strides = win.strides.clone().unwrap_or_else(|| vec![1; r]);
        let dil = win.dilations.clone().unwrap_or_else(|| vec![1; r]);
        let opad = self.output_padding.clone().unwrap_or_else(|| vec![0; r]);
        if strides.len() != r || dil.len() != r || opad.len() != r {
            return Err(SquishError::op("strides, dilations and output_padding must match the spatial rank"));
        }
        let input = &x.shape()[2..];
        let mut pb = vec![0usize; r];
        let mut out_sp = vec![0usize; r];
        for i in 0..r {
            let full = strides[i] * (input[i] - 1) + opad[i] + (kernel[i] - 1) * dil[i] + 1;
            if let Some(os) = &self.output_shape {
                let want = *os.get(os.len().wrapping_sub(r) + i).ok_or_else(|| SquishError::op("output_shape is too short"))?;
                let total = full.saturating_sub(want);
                pb[i] = if win.auto_pad == AutoPad::SameLower { total - total / 2 } else { total / 2 };
                out_sp[i] = want;
            } else if matches!(win.auto_pad, AutoPad::SameUpper | AutoPad::SameLower) {
                let want = input[i] * strides[i];
                let total = full.saturating_sub(want);
                pb[i] = if win.auto_pad == AutoPad::SameLower { total - total / 2 } else { total / 2 };
                out_sp[i] = want;
            } else {
                let pads = win.pads.clone().unwrap_or_else(|| vec![0; 2 * r]);
                let (b, e) = (pads[i], pads[i + r]);
                pb[i] = b;
                out_sp[i] = full.checked_sub(b + e).ok_or_else(|| SquishError::op("pads exceed the output size"))?;
            }
        }
        let mut out_shape = vec![n, m];
        out_shape.extend(&out_sp);
        checked_numel(&out_shape, "ConvTranspose output")?;
        if r > 2 {
            let sp = Spatial { input: input.to_vec(), kernel, strides, dilations: dil, pad_begin: pb, output: out_sp };
            return Ok(vec![conv_transpose_nd(x, wt, bias, group, &sp, &out_shape)?]);
        }
        let (_, _, h, w) = as_2d(x.shape(), "input X")?;
        let lift = |v: &Vec<usize>, fill: usize| if r == 1 { vec![fill, v[0]] } else { v.clone() };
        let (k2, s2, d2, p2, o2) = (lift(&kernel, 1), lift(&strides, 1), lift(&dil, 1), lift(&pb, 0), lift(&out_sp, 1));
        let (oh, ow) = (o2[0], o2[1]);
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let ws = wt.as_standard_layout();
        let ws = ws.as_slice().expect("standard layout");
        let kk = k2[0] * k2[1];
        let mut out = vec![0.0f32; n * m * oh * ow];
        // col = Wgᵀ · Xg, then scatter-add every column entry to its output pixel.
        let mut wt_t = vec![0.0f32; mg * kk * cg];
        let mut col = vec![0.0f32; mg * kk * h * w];
        for gi in 0..group {
            let wg = &ws[gi * cg * mg * kk..(gi + 1) * cg * mg * kk];
            for ci in 0..cg {
                for j in 0..mg * kk {
                    wt_t[j * cg + ci] = wg[ci * mg * kk + j];
                }
            }
            for b in 0..n {
                let xg = &xs[(b * c + gi * cg) * h * w..(b * c + (gi + 1) * cg) * h * w];
                k::gemm_f32(mg * kk, cg, h * w, &wt_t, xg, &mut col);
                for mo in 0..mg {
                    let oplane = &mut out[(b * m + gi * mg + mo) * oh * ow..(b * m + gi * mg + mo + 1) * oh * ow];
                    for ky in 0..k2[0] {
                        for kx in 0..k2[1] {
                            let row = &col[((mo * k2[0] + ky) * k2[1] + kx) * h * w..][..h * w];
                            for iy in 0..h {
                                let oy = (iy * s2[0] + ky * d2[0]) as isize - p2[0] as isize;
                                if oy < 0 || oy >= oh as isize {
                                    continue;
                                }
                                for ix in 0..w {
                                    let ox = (ix * s2[1] + kx * d2[1]) as isize - p2[1] as isize;
                                    if ox >= 0 && ox < ow as isize {
                                        oplane[oy as usize * ow + ox as usize] += row[iy * w + ix];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some(bias) = bias {
            if bias.len() != m {
                return Err(SquishError::op(format!("bias has {} values, expected {m}", bias.len())));
            }
            for (i, chunk) in out.chunks_exact_mut((oh * ow).max(1)).enumerate() {
                let bv = bias[i % m];
                chunk.iter_mut().for_each(|v| *v += bv);
            }
        }
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("sized above"))])
    }
}

/// Geometry of a transposed convolution of any spatial rank.
struct Spatial {
    input: Vec<usize>,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pad_begin: Vec<usize>,
    output: Vec<usize>,
}

/// ConvTranspose for 3-D and higher: a direct scatter of every input value
/// through the kernel (these are rare; 1-D and 2-D take the GEMM path).
fn conv_transpose_nd(x: &ArrayD<f32>, wt: &ArrayD<f32>, bias: Option<&ArrayD<f32>>, group: usize, g: &Spatial, out_shape: &[usize]) -> Result<Tensor> {
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let mg = wt.shape()[1];
    let (cg, m) = (c / group, mg * group);
    let r = g.input.len();
    let in_plane: usize = g.input.iter().product();
    let out_plane: usize = g.output.iter().product();
    let k_plane: usize = g.kernel.iter().product();
    let stride_of = |dims: &[usize]| {
        let mut s = vec![1usize; dims.len()];
        for d in (0..dims.len().saturating_sub(1)).rev() {
            s[d] = s[d + 1] * dims[d + 1];
        }
        s
    };
    let (in_st, out_st, k_st) = (stride_of(&g.input), stride_of(&g.output), stride_of(&g.kernel));
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    let ws = wt.as_standard_layout();
    let ws = ws.as_slice().expect("standard layout");
    let mut out = vec![0.0f32; n * m * out_plane];
    for b in 0..n {
        for ci in 0..c {
            let gi = ci / cg;
            let src = &xs[(b * c + ci) * in_plane..(b * c + ci + 1) * in_plane];
            for mo in 0..mg {
                let w = &ws[(ci * mg + mo) * k_plane..(ci * mg + mo + 1) * k_plane];
                let dst = &mut out[(b * m + gi * mg + mo) * out_plane..(b * m + gi * mg + mo + 1) * out_plane];
                for_each_index(&g.input, |ip| {
                    let v = src[(0..r).map(|d| ip[d] * in_st[d]).sum::<usize>()];
                    for_each_index(&g.kernel, |kp| {
                        let mut at = 0usize;
                        for d in 0..r {
                            let o = (ip[d] * g.strides[d] + kp[d] * g.dilations[d]) as isize - g.pad_begin[d] as isize;
                            if o < 0 || o >= g.output[d] as isize {
                                return;
                            }
                            at += o as usize * out_st[d];
                        }
                        dst[at] += v * w[(0..r).map(|d| kp[d] * k_st[d]).sum::<usize>()];
                    });
                });
            }
        }
    }
    if let Some(bias) = bias {
        if bias.len() != m {
            return Err(SquishError::op(format!("bias has {} values, expected {m}", bias.len())));
        }
        for (i, chunk) in out.chunks_exact_mut(out_plane.max(1)).enumerate() {
            let bv = bias.as_slice().map(|s| s[i % m]).unwrap_or(0.0);
            chunk.iter_mut().for_each(|v| *v += bv);
        }
    }
    Ok(Tensor::F32(ArrayD::from_shape_vec(IxDyn(out_shape), out).expect("sized above")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unfolded matrix by its definition, one bounds check per entry.
    fn naive_im2col(x: &[f32], cg: usize, h: usize, w: usize, g: &Geometry) -> Vec<f32> {
        let (kh, kw, oh, ow) = (g.kernel[0], g.kernel[1], g.output[0], g.output[1]);
        let mut col = vec![f32::NAN; cg * kh * kw * oh * ow];
        for c in 0..cg {
            for (ky, kx) in (0..kh).flat_map(|ky| (0..kw).map(move |kx| (ky, kx))) {
                for (oy, ox) in (0..oh).flat_map(|oy| (0..ow).map(move |ox| (oy, ox))) {
                    let iy = (oy * g.strides[0] + ky * g.dilations[0]) as isize - g.pad_begin[0] as isize;
                    let ix = (ox * g.strides[1] + kx * g.dilations[1]) as isize - g.pad_begin[1] as isize;
                    let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                    col[((c * kh + ky) * kw + kx) * oh * ow + oy * ow + ox] = if inside { x[c * h * w + iy as usize * w + ix as usize] } else { 0.0 };
                }
            }
        }
        col
    }

    #[test]
    fn unfolding_matches_the_definition_and_packs_as_the_gemm_expects() {
        let mut cases = 0;
        for (h, w) in [(1, 1), (5, 7), (7, 4), (9, 9)] {
            for k in 1..=3 {
                for s in 1..=3 {
                    for d in 1..=2 {
                        for (pb, pe) in [(0, 0), (1, 1), (2, 0), (0, 3)] {
                            let span = (k - 1) * d + 1;
                            let out = |n: usize| (n + pb + pe).checked_sub(span).map(|r| r / s + 1);
                            let (Some(oh), Some(ow)) = (out(h), out(w)) else { continue };
                            let g = Geometry {
                                kernel: vec![k, k],
                                strides: vec![s, s],
                                dilations: vec![d, d],
                                pad_begin: vec![pb, pb],
                                pad_end: vec![pe, pe],
                                output: vec![oh, ow],
                            };
                            let cg = 2;
                            let x: Vec<f32> = (0..cg * h * w).map(|i| i as f32 + 1.0).collect();
                            let want = naive_im2col(&x, cg, h, w, &g);
                            let mut got = vec![f32::NAN; want.len()];
                            im2col(&x, cg, h, w, &g, &mut got);
                            assert_eq!(got, want, "{h}x{w} k{k} s{s} d{d} pad {pb},{pe}");
                            let packed = im2col_packed(&x, cg, h, w, &g);
                            assert_eq!(packed, crate::kernels::pack_b_f32(cg * k * k, oh * ow, &want), "packed, {h}x{w} k{k} s{s} d{d} pad {pb},{pe}");
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert!(cases > 100, "{cases}");
    }
}
