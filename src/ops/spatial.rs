//! Window geometry shared by convolutions and pools: kernel, strides,
//! dilations, explicit or automatic padding, output sizes.

use super::attrs::Attrs;
use super::BuildCtx;
use crate::error::{Result, SquishError};
use crate::ir::Node;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

#[derive(Clone, Debug)]
pub struct Window {
    /// Kernel extent per spatial axis; `None` means "take it from the weights".
    pub kernel: Option<Vec<usize>>,
    pub strides: Option<Vec<usize>>,
    pub dilations: Option<Vec<usize>>,
    /// `[begin…, end…]` as in ONNX.
    pub pads: Option<Vec<usize>>,
    pub auto_pad: AutoPad,
    pub ceil_mode: bool,
}

/// Resolved geometry for one input.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pad_begin: Vec<usize>,
    pub pad_end: Vec<usize>,
    pub output: Vec<usize>,
}

fn positive(a: &Attrs, name: &str) -> Result<Option<Vec<usize>>> {
    match a.opt_ints(name)? {
        None => Ok(None),
        Some(v) if v.iter().all(|&x| (1..=1 << 20).contains(&x)) => Ok(Some(v.iter().map(|&x| x as usize).collect())),
        Some(v) => Err(a.error(name, format!("values must be positive, got {v:?}"))),
    }
}

impl Window {
    pub fn from_attrs(ctx: &BuildCtx) -> Result<Window> {
        Window::from_node(ctx.node)
    }

    /// The window a node's attributes describe (backward rules read it too).
    pub fn from_node(node: &Node) -> Result<Window> {
        let a = Attrs::new(node);
        let a = &a;
        let auto_pad = match a.opt_string("auto_pad")?.as_deref().unwrap_or("NOTSET") {
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            other => return Err(a.error("auto_pad", format!("unknown value '{other}'"))),
        };
        let pads = match a.opt_ints("pads")? {
            None => None,
            Some(v) if v.iter().all(|&x| (0..=1 << 20).contains(&x)) => Some(v.iter().map(|&x| x as usize).collect()),
            Some(v) => return Err(a.error("pads", format!("values must be non-negative, got {v:?}"))),
        };
        Ok(Window {
            kernel: positive(a, "kernel_shape")?,
            strides: positive(a, "strides")?,
            dilations: positive(a, "dilations")?,
            pads,
            auto_pad,
            ceil_mode: a.int("ceil_mode", 0)? != 0,
        })
    }

    /// Geometry for `input` spatial sizes; `kernel_from_weights` when the op has weights.
    pub fn resolve(&self, input: &[usize], kernel_from_weights: Option<&[usize]>) -> Result<Geometry> {
        let r = input.len();
        let kernel = match (&self.kernel, kernel_from_weights) {
            (Some(k), Some(w)) if k.as_slice() != w => return Err(SquishError::op(format!("kernel_shape {k:?} disagrees with the weights' {w:?}"))),
            (Some(k), _) => k.clone(),
            (None, Some(w)) => w.to_vec(),
            (None, None) => return Err(SquishError::op("kernel_shape is required")),
        };
        let strides = self.strides.clone().unwrap_or_else(|| vec![1; r]);
        let dilations = self.dilations.clone().unwrap_or_else(|| vec![1; r]);
        if kernel.len() != r || strides.len() != r || dilations.len() != r {
            return Err(SquishError::op(format!(
                "kernel {kernel:?}, strides {strides:?} and dilations {dilations:?} must each have {r} entries (spatial rank)"
            )));
        }
        let mut pad_begin = vec![0; r];
        let mut pad_end = vec![0; r];
        let mut output = vec![0; r];
        for i in 0..r {
            let extent = dilations[i] * (kernel[i] - 1) + 1;
            match self.auto_pad {
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let out = input[i].div_ceil(strides[i]);
                    let total = ((out.saturating_sub(1)) * strides[i] + extent).saturating_sub(input[i]);
                    let small = total / 2;
                    let (b, e) = if self.auto_pad == AutoPad::SameUpper { (small, total - small) } else { (total - small, small) };
                    pad_begin[i] = b;
                    pad_end[i] = e;
                    output[i] = out;
                    continue;
                }
                AutoPad::Valid => {}
                AutoPad::NotSet => {
                    if let Some(p) = &self.pads {
                        if p.len() != 2 * r {
                            return Err(SquishError::op(format!("pads {p:?} must have {} entries", 2 * r)));
                        }
                        pad_begin[i] = p[i];
                        pad_end[i] = p[i + r];
                    }
                }
            }
            let padded = input[i] + pad_begin[i] + pad_end[i];
            if padded < extent {
                return Err(SquishError::op(format!("window of extent {extent} does not fit spatial axis {i} of size {} (padded {padded})", input[i])));
            }
            let span = padded - extent;
            output[i] = if self.ceil_mode {
                let mut o = span.div_ceil(strides[i]) + 1;
                // The last window must start inside the input or its begin padding.
                if (o - 1) * strides[i] >= input[i] + pad_begin[i] {
                    o -= 1;
                }
                o
            } else {
                span / strides[i] + 1
            };
        }
        Ok(Geometry { kernel, strides, dilations, pad_begin, pad_end, output })
    }
}

/// Calls `f` with every multi-index of `shape`, last axis fastest.
pub fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    if shape.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; shape.len()];
    loop {
        f(&idx);
        let mut d = shape.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}
