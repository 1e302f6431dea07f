//! Simulated quantisation: the straight-through estimator.

use super::{Grads, RuleCtx};
use crate::error::{Result, SquishError};

/// FakeQuantize: rounding counts as the identity (Bengio et al.'s
/// straight-through estimator), except where the code saturated — `x`
/// beyond what the codes express — where nothing passes, as the output no
/// longer moves with `x`. Scales and zero points stay as they are.
pub(super) fn straight_through(c: &RuleCtx) -> Result<Grads> {
    let (x, y) = (c.f32_input(0)?, c.f32_output(0)?);
    let codes = c.outputs.get(1).copied().flatten().ok_or_else(|| SquishError::op("training reads FakeQuantize's codes (output 1)"))?;
    let (lo, hi) = codes.dtype().code_range().ok_or_else(|| SquishError::op(format!("codes of type {} are not integers", codes.dtype())))?;
    let codes = codes.to_f64_vec();
    // All in row-major order, as the codes are listed.
    let mut dx = c.dy.as_standard_layout().into_owned();
    let saturated = x.iter().zip(y.iter()).zip(&codes).map(|((&xv, &yv), &q)| (q <= lo && xv < yv) || (q >= hi && xv > yv));
    for (d, s) in dx.iter_mut().zip(saturated) {
        if s {
            *d = 0.0;
        }
    }
    Ok(vec![c.wants(0).then_some(dx), None, None])
}
