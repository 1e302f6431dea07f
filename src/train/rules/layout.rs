//! Ops that move, select or sum elements.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use super::{Grads, RuleCtx};
use crate::error::{Result, SquishError};
use crate::ops::attrs::Attrs;
use crate::tensor::Tensor;

/// Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout (as inference
/// runs it) and float-to-float Cast: the same elements in the same order.
pub(super) fn same_elements(c: &RuleCtx) -> Result<Grads> {
    let shape = c.input_shape(0)?.to_vec();
    let g = c.dy.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).map_err(|e| SquishError::op(e.to_string()))?;
    Ok(vec![Some(g)])
}

/// Transpose, Slice, Gather, Expand, Tile: every output element is a copy
/// of one input element. Running the op itself on the input's element
/// indices says which, so the gradient is a scatter-add — one rule that
/// agrees with each op's own index arithmetic.
pub(super) fn selection(c: &RuleCtx) -> Result<Grads> {
    let shape = c.input_shape(0)?.to_vec();
    let n: usize = shape.iter().product();
    let iota = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&shape), (0..n as i64).collect()).expect("sizes"));
    let mut args = c.inputs.clone();
    args[0] = Some(&iota);
    let picked = c.op.eval(&args)?;
    let Some(Tensor::I64(idx)) = picked.first() else { return Err(SquishError::op("the op did not select elements of an index tensor")) };
    if idx.shape() != c.dy.shape() {
        return Err(SquishError::op("selected indices do not match the output gradient's shape"));
    }
    let mut g = vec![0.0f32; n];
    for (&i, &d) in idx.iter().zip(c.dy.iter()) {
        g[i as usize] += d;
    }
    Ok(vec![Some(ArrayD::from_shape_vec(IxDyn(&shape), g).expect("sizes"))])
}

pub(super) fn concat(c: &RuleCtx) -> Result<Grads> {
    let rank = c.dy.ndim();
    let attrs = Attrs::new(c.node);
    let axis = attrs.axis("axis", attrs.int("axis", 0)?, rank)?;
    let mut start = 0;
    let mut out = Vec::with_capacity(c.inputs.len());
    for i in 0..c.inputs.len() {
        let len = c.inputs[i].map_or(0, |t| t.shape().get(axis).copied().unwrap_or(0));
        let part = c.wants(i).then(|| c.dy.slice_axis(Axis(axis), Slice::from(start..start + len)).to_owned());
        out.push(part);
        start += len;
    }
    Ok(out)
}

/// ReduceMean and ReduceSum: the gradient spread back over the reduced axes.
pub(super) fn reduce(c: &RuleCtx) -> Result<Grads> {
    let x_shape = c.input_shape(0)?.to_vec();
    let attrs = Attrs::new(c.node);
    let axes_from_input = match c.node.op_type.as_str() {
        "ReduceSum" => c.opset >= 13,
        _ => c.opset >= 18,
    };
    let listed: Option<Vec<i64>> = if axes_from_input { crate::ops::opt_int_input(&c.inputs, 1, "axes")? } else { attrs.opt_ints("axes")?.map(|a| a.to_vec()) };
    let rank = x_shape.len();
    let mut axes: Vec<usize> = match listed {
        Some(a) if !a.is_empty() => a.iter().map(|&ax| crate::ops::norm_axis(ax, rank)).collect::<Result<_>>()?,
        _ if attrs.int("noop_with_empty_axes", 0)? != 0 => return Ok(vec![Some(c.dy.clone())]),
        _ => (0..rank).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    let mut g = c.dy.clone();
    if attrs.int("keepdims", 1)? == 0 {
        for &ax in &axes {
            g = g.insert_axis(Axis(ax));
        }
    }
    let count: usize = axes.iter().map(|&a| x_shape[a]).product();
    let scale = if c.node.op_type == "ReduceMean" { 1.0 / count.max(1) as f32 } else { 1.0 };
    let g = g.broadcast(IxDyn(&x_shape)).ok_or_else(|| SquishError::op("the output gradient does not broadcast back to the input"))?.mapv(|v| v * scale);
    Ok(vec![Some(g)])
}
