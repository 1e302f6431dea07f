//! Backward rules: for one node, the gradients of its float inputs from the
//! gradient of its first output. Each rule is checked against finite
//! differences (`tests`).

mod layout;
mod linalg;
mod norm;
mod pointwise;
mod quant;
mod spatial;
#[cfg(test)]
pub(crate) mod tests;

use ndarray::{ArrayD, Axis};

use crate::error::{Result, SquishError};
use crate::ir::Node;
use crate::ops::Op;
use crate::tensor::Tensor;

/// What a rule sees of one node in one forward run.
pub(crate) struct RuleCtx<'a> {
    pub node: &'a Node,
    pub opset: i64,
    /// The op as the forward pass ran it (rules that select elements rerun
    /// it on indices).
    pub op: &'a dyn Op,
    pub inputs: Vec<Option<&'a Tensor>>,
    pub outputs: Vec<Option<&'a Tensor>>,
    /// Gradient of the loss with respect to output 0.
    pub dy: &'a ArrayD<f32>,
    /// Inputs whose gradient is needed.
    pub wants: &'a [bool],
}

pub(crate) type Grads = Vec<Option<ArrayD<f32>>>;
pub(crate) type Rule = fn(&RuleCtx) -> Result<Grads>;

impl RuleCtx<'_> {
    /// Input `i` as floats (a rule differentiates only float tensors).
    pub fn f32_input(&self, i: usize) -> Result<&ArrayD<f32>> {
        match self.inputs.get(i).copied().flatten() {
            Some(Tensor::F32(a)) => Ok(a),
            Some(t) => Err(SquishError::op(format!("input {i} is {}, training differentiates float32 tensors only", t.dtype()))),
            None => Err(SquishError::op(format!("input {i} is missing"))),
        }
    }

    pub fn f32_output(&self, i: usize) -> Result<&ArrayD<f32>> {
        match self.outputs.get(i).copied().flatten() {
            Some(Tensor::F32(a)) => Ok(a),
            _ => Err(SquishError::op(format!("output {i} is not a float32 tensor"))),
        }
    }

    pub fn wants(&self, i: usize) -> bool {
        self.wants.get(i).copied().unwrap_or(false)
    }

    /// The shape of input `i` (any type).
    pub fn input_shape(&self, i: usize) -> Result<&[usize]> {
        self.inputs.get(i).copied().flatten().map(|t| t.shape()).ok_or_else(|| SquishError::op(format!("input {i} is missing")))
    }
}

/// The rule for an op type, if Squish can differentiate it.
pub(crate) fn rule_for(op_type: &str) -> Option<Rule> {
    Some(match op_type {
        "MatMul" => linalg::matmul,
        "Gemm" => linalg::gemm_rule,
        "Add" | "Sub" | "Mul" | "Div" => pointwise::binary,
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Erf" | "Gelu" | "Exp" | "Log" | "Sqrt" | "Neg" | "Softplus" | "Reciprocal" => pointwise::unary,
        "Pow" => pointwise::pow,
        "Clip" => pointwise::clip,
        "Softmax" => pointwise::softmax,
        "LogSoftmax" => pointwise::log_softmax,
        "Identity" | "Dropout" | "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Cast" => layout::same_elements,
        "Transpose" | "Slice" | "Gather" | "Expand" | "Tile" => layout::selection,
        "Concat" => layout::concat,
        "ReduceMean" | "ReduceSum" => layout::reduce,
        "LayerNormalization" => norm::layer_norm,
        "Where" => pointwise::select,
        "Conv" => spatial::conv,
        crate::ops::internal::FAKE_QUANTIZE => quant::straight_through,
        "BatchNormalization" => spatial::batch_norm,
        "MaxPool" | "AveragePool" => spatial::pool,
        "GlobalAveragePool" | "GlobalMaxPool" => spatial::global_pool,
        _ => return None,
    })
}

/// Sums `g` (the shape of a broadcast result) back to `shape`, the operand's
/// shape before broadcasting.
pub(crate) fn unbroadcast(mut g: ArrayD<f32>, shape: &[usize]) -> ArrayD<f32> {
    if g.shape() == shape {
        return g;
    }
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (ax, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[ax] != 1 {
            g = g.sum_axis(Axis(ax)).insert_axis(Axis(ax));
        }
    }
    g
}
