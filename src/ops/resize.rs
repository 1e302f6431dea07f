//! Resize (opsets 10–19): nearest, linear and cubic interpolation in any
//! number of dimensions, every coordinate transformation mode, antialiasing,
//! exclude_outside, axes and keep_aspect_ratio_policy. Applied one axis at a
//! time (the kernels are separable), accumulating in f64.

use super::{int_values, norm_axis, required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::tensor::{checked_numel, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "Resize", build_resize);
    r.insert("", "Upsample", build_resize);
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Coord {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Rounding {
    PreferFloor,
    PreferCeil,
    Floor,
    Ceil,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Aspect {
    Stretch,
    NotLarger,
    NotSmaller,
}

struct Resize {
    mode: Mode,
    coord: Coord,
    rounding: Rounding,
    cubic_a: f64,
    exclude_outside: bool,
    extrapolation: f64,
    antialias: bool,
    axes: Option<Vec<i64>>,
    aspect: Aspect,
    /// Resize-10 and Upsample take (X, scales) only.
    legacy: bool,
}

fn build_resize(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let legacy = ctx.node.op_type == "Upsample" || ctx.opset < 11;
    let mode = match a.opt_string("mode")?.as_deref().unwrap_or("nearest") {
        "nearest" => Mode::Nearest,
        "linear" | "bilinear" | "trilinear" => Mode::Linear,
        "cubic" => Mode::Cubic,
        other => return Err(a.error("mode", format!("unknown mode '{other}'"))),
    };
    let default_coord = if legacy { "asymmetric" } else { "half_pixel" };
    let coord = match a.opt_string("coordinate_transformation_mode")?.as_deref().unwrap_or(default_coord) {
        "half_pixel" => Coord::HalfPixel,
        "half_pixel_symmetric" => Coord::HalfPixelSymmetric,
        "pytorch_half_pixel" => Coord::PytorchHalfPixel,
        "align_corners" => Coord::AlignCorners,
        "asymmetric" => Coord::Asymmetric,
        "tf_crop_and_resize" => Coord::TfCropAndResize,
        other => return Err(a.error("coordinate_transformation_mode", format!("unknown mode '{other}'"))),
    };
    let rounding = match a.opt_string("nearest_mode")?.as_deref() {
        None if legacy => Rounding::Floor,
        None | Some("round_prefer_floor") => Rounding::PreferFloor,
        Some("round_prefer_ceil") => Rounding::PreferCeil,
        Some("floor") => Rounding::Floor,
        Some("ceil") => Rounding::Ceil,
        Some(other) => return Err(a.error("nearest_mode", format!("unknown mode '{other}'"))),
    };
    let aspect = match a.opt_string("keep_aspect_ratio_policy")?.as_deref().unwrap_or("stretch") {
        "stretch" => Aspect::Stretch,
        "not_larger" => Aspect::NotLarger,
        "not_smaller" => Aspect::NotSmaller,
        other => return Err(a.error("keep_aspect_ratio_policy", format!("unknown policy '{other}'"))),
    };
    Ok(Box::new(Resize {
        mode,
        coord,
        rounding,
        cubic_a: a.float("cubic_coeff_a", -0.75)? as f64,
        exclude_outside: a.int("exclude_outside", 0)? != 0,
        extrapolation: a.float("extrapolation_value", 0.0)? as f64,
        antialias: a.int("antialias", 0)? != 0,
        axes: a.opt_ints("axes")?.map(<[i64]>::to_vec),
        aspect,
        legacy,
    }))
}

fn cubic_kernel(x: f64, a: f64) -> f64 {
    let x = x.abs();
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

impl Resize {
    /// Interpolation weights for fractional position `ratio` ∈ (0, 1], the
    /// first applying at offset `1 - n/2` from floor(x).
    fn coeffs(&self, ratio: f64, scale: f64) -> Vec<f64> {
        match self.mode {
            Mode::Nearest => {
                let right = if ratio == 1.0 {
                    true
                } else {
                    match self.rounding {
                        Rounding::PreferFloor => ratio > 0.5,
                        Rounding::PreferCeil => ratio >= 0.5,
                        Rounding::Floor => false,
                        Rounding::Ceil => true,
                    }
                };
                if right {
                    vec![0.0, 1.0]
                } else {
                    vec![1.0, 0.0]
                }
            }
            Mode::Linear if self.antialias && scale < 1.0 => {
                let start = (-1.0 / scale).floor() as i64 + 1;
                let n = 2 - 2 * start;
                let c: Vec<f64> = (start..start + n).map(|i| (1.0 - ((i as f64 - ratio) * scale).abs()).clamp(0.0, 1.0)).collect();
                let s: f64 = c.iter().sum();
                c.iter().map(|v| v / s).collect()
            }
            Mode::Linear => vec![1.0 - ratio, ratio],
            Mode::Cubic if self.antialias && scale < 1.0 => {
                let start = (-2.0 / scale).floor() as i64 + 1;
                let end = 2 - start;
                let c: Vec<f64> = (start..end).map(|i| cubic_kernel(scale * (i as f64 - ratio), self.cubic_a)).collect();
                let s: f64 = c.iter().sum();
                c.iter().map(|v| v / s).collect()
            }
            Mode::Cubic => [ratio + 1.0, ratio, 1.0 - ratio, 2.0 - ratio].iter().map(|&d| cubic_kernel(d, self.cubic_a)).collect(),
        }
    }

    /// Source coordinate of output index `x` along an axis.
    fn source_coord(&self, x: usize, scale: f64, input: usize, output: usize, roi: (f64, f64)) -> f64 {
        let (x, inf, outf) = (x as f64, input as f64, output as f64);
        match self.coord {
            Coord::HalfPixel => (x + 0.5) / scale - 0.5,
            Coord::HalfPixelSymmetric => {
                let adjustment = outf / (scale * inf);
                let center = inf / 2.0;
                center * (1.0 - adjustment) + (x + 0.5) / scale - 0.5
            }
            Coord::PytorchHalfPixel => {
                if output > 1 {
                    (x + 0.5) / scale - 0.5
                } else {
                    -0.5
                }
            }
            // The spec divides by the unrounded output length (scale · input).
            Coord::AlignCorners => {
                if output == 1 {
                    0.0
                } else {
                    x * (inf - 1.0) / (scale * inf - 1.0)
                }
            }
            Coord::Asymmetric => x / scale,
            Coord::TfCropAndResize => {
                if output > 1 {
                    roi.0 * (inf - 1.0) + x * (roi.1 - roi.0) * (inf - 1.0) / (outf - 1.0)
                } else {
                    0.5 * (roi.0 + roi.1) * (inf - 1.0)
                }
            }
        }
    }

    /// One output coordinate: `None` means "use the extrapolation value",
    /// otherwise (source index, weight) pairs.
    fn taps(&self, x: usize, scale: f64, input: usize, output: usize, roi: (f64, f64)) -> Option<Vec<(usize, f64)>> {
        let src = self.source_coord(x, scale, input, output, roi);
        if self.coord == Coord::TfCropAndResize && (src < 0.0 || src > input as f64 - 1.0) {
            return None;
        }
        let mut base = src.floor();
        let mut ratio = src - base;
        if ratio == 0.0 {
            ratio = 1.0;
            base -= 1.0;
        }
        let mut c = self.coeffs(ratio, scale);
        let n = c.len() as i64;
        let first = base as i64 + 1 - n / 2;
        let idx: Vec<i64> = (first..first + n).collect();
        if self.exclude_outside {
            for (w, &i) in c.iter_mut().zip(&idx) {
                if i < 0 || i >= input as i64 {
                    *w = 0.0;
                }
            }
            let s: f64 = c.iter().sum();
            if s != 0.0 {
                c.iter_mut().for_each(|w| *w /= s);
            }
        }
        Some(idx.iter().zip(c).filter(|(_, w)| *w != 0.0).map(|(&i, w)| (i.clamp(0, input as i64 - 1) as usize, w)).collect())
    }
}

/// Resizes `data` (shape `shape`) along `axis` to `out` entries.
fn resize_axis(r: &Resize, data: &[f64], shape: &[usize], axis: usize, out: usize, scale: f64, roi: (f64, f64)) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let n = shape[axis];
    let taps: Vec<Option<Vec<(usize, f64)>>> = (0..out).map(|j| r.taps(j, scale, n, out, roi)).collect();
    let mut res = vec![0.0; outer * out * inner];
    for o in 0..outer {
        for (j, t) in taps.iter().enumerate() {
            let dst = &mut res[(o * out + j) * inner..(o * out + j + 1) * inner];
            match t {
                None => dst.fill(r.extrapolation),
                Some(t) => {
                    for &(i, w) in t {
                        let src = &data[(o * n + i) * inner..(o * n + i + 1) * inner];
                        dst.iter_mut().zip(src).for_each(|(d, s)| *d += w * s);
                    }
                }
            }
        }
    }
    res
}

impl Op for Resize {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let rank = x.shape().len();
        let (roi_t, scales_t, sizes_t) = if self.legacy {
            (None, inputs.get(1).copied().flatten(), None)
        } else {
            (inputs.get(1).copied().flatten(), inputs.get(2).copied().flatten(), inputs.get(3).copied().flatten())
        };
        let axes: Vec<usize> = match &self.axes {
            Some(a) => a.iter().map(|&v| norm_axis(v, rank)).collect::<Result<_>>()?,
            None => (0..rank).collect(),
        };
        let k = axes.len();
        let in_shape = x.shape().to_vec();
        let mut scales = vec![1.0f64; rank];
        let mut out_shape = in_shape.clone();
        let sizes = match sizes_t {
            Some(t) if !t.is_empty() => Some(int_values(t, "sizes")?),
            _ => None,
        };
        if let Some(sizes) = sizes {
            if sizes.len() != k || sizes.iter().any(|&s| s < 0) {
                return Err(SquishError::op(format!("sizes {sizes:?} must hold {k} non-negative values")));
            }
            let ratio = |i: usize| sizes[i] as f64 / in_shape[axes[i]] as f64;
            match self.aspect {
                Aspect::Stretch => {
                    for (i, &ax) in axes.iter().enumerate() {
                        out_shape[ax] = sizes[i] as usize;
                        scales[ax] = ratio(i);
                    }
                }
                policy => {
                    let pick = (0..k).map(ratio).fold(if policy == Aspect::NotLarger { f64::INFINITY } else { 0.0 }, |m, v| {
                        if policy == Aspect::NotLarger {
                            m.min(v)
                        } else {
                            m.max(v)
                        }
                    });
                    for &ax in &axes {
                        scales[ax] = pick;
                        out_shape[ax] = (pick * in_shape[ax] as f64).round_ties_even() as usize;
                    }
                }
            }
        } else {
            let s = scales_t.ok_or_else(|| SquishError::op("Resize needs scales or sizes"))?.to_f64_vec();
            if s.len() != k || s.iter().any(|&v| v.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !v.is_finite()) {
                return Err(SquishError::op(format!("scales {s:?} must hold {k} positive values")));
            }
            for (i, &ax) in axes.iter().enumerate() {
                scales[ax] = s[i];
                out_shape[ax] = (s[i] * in_shape[ax] as f64) as usize;
            }
        }
        checked_numel(&out_shape, "Resize output")?;
        let mut roi = vec![(0.0, 1.0); rank];
        if let Some(t) = roi_t.filter(|t| !t.is_empty() && self.coord == Coord::TfCropAndResize) {
            let v = t.to_f64_vec();
            if v.len() != 2 * k {
                return Err(SquishError::op(format!("roi has {} values, expected {}", v.len(), 2 * k)));
            }
            for (i, &ax) in axes.iter().enumerate() {
                roi[ax] = (v[i], v[i + k]);
            }
        }
        let mut data = x.to_f64_vec();
        let mut shape = in_shape.clone();
        for ax in 0..rank {
            if out_shape[ax] == shape[ax] && scales[ax] == 1.0 && self.coord != Coord::TfCropAndResize {
                continue;
            }
            if shape[ax] == 0 {
                return Err(SquishError::op(format!("cannot resize empty axis {ax}")));
            }
            data = resize_axis(self, &data, &shape, ax, out_shape[ax], scales[ax], roi[ax]);
            shape[ax] = out_shape[ax];
        }
        let out = Tensor::from_vec(&out_shape, data)?;
        Ok(vec![super::array::cast(&out, x.dtype())?])
    }
}
