//! NonMaxSuppression: per batch and class, boxes in decreasing score order
//! (ties: lower index first) are kept unless they overlap a kept box by an
//! IoU above the threshold, up to `max_output_boxes_per_class`; scores at or
//! below `score_threshold` are never kept. Output rows are
//! `[batch, class, box]` (int64), batch by batch, class by class.

use ndarray::{ArrayD, IxDyn};

use super::facts::Facts;
use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::ir::{Dim, Node};
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "NonMaxSuppression", build_nms);
    r.facts("", &["NonMaxSuppression"], |_: &Node, _: &[Facts]| vec![Facts::with(Some(DType::I64), Some(vec![Dim::Unknown, Dim::Fixed(3)]))]);
}

struct Nms {
    center_point_box: bool,
}

fn build_nms(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    match a.int("center_point_box", 0)? {
        0 => Ok(Box::new(Nms { center_point_box: false })),
        1 => Ok(Box::new(Nms { center_point_box: true })),
        v => Err(a.error("center_point_box", format!("must be 0 (corners) or 1 (centre, width, height), got {v}"))),
    }
}

/// A box as `(y1, x1, y2, x2)` with `y1 ≤ y2`, `x1 ≤ x2`.
type Corners = [f32; 4];

fn corners(b: &[f32], center: bool) -> Corners {
    if center {
        let (xc, yc, w, h) = (b[0], b[1], b[2], b[3]);
        [yc - h / 2.0, xc - w / 2.0, yc + h / 2.0, xc + w / 2.0]
    } else {
        [b[0].min(b[2]), b[1].min(b[3]), b[0].max(b[2]), b[1].max(b[3])]
    }
}

/// Intersection over union; 0 for boxes without area.
fn iou(a: &Corners, b: &Corners) -> f32 {
    let ih = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iw = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ih * iw;
    let area = |c: &Corners| (c[2] - c[0]) * (c[3] - c[1]);
    let union = area(a) + area(b) - inter;
    if inter <= 0.0 || area(a) <= 0.0 || area(b) <= 0.0 || union <= 0.0 {
        return 0.0;
    }
    inter / union
}

/// A scalar (or one-element) float input, `None` when omitted.
fn opt_scalar(inputs: &[Option<&Tensor>], i: usize, what: &str) -> Result<Option<f64>> {
    let Some(t) = inputs.get(i).copied().flatten() else { return Ok(None) };
    if t.len() != 1 {
        return Err(SquishError::op(format!("{what} (input {i}) must hold one value, has shape {:?}", t.shape())));
    }
    if !t.dtype().is_float() && i != 2 {
        return Err(SquishError::op(format!("{what} (input {i}) must be float, got {}", t.dtype())));
    }
    Ok(Some(t.to_f64_vec()[0]))
}

impl Nms {
    /// The kept boxes of one batch entry and class, in selection order.
    fn select(&self, boxes: &[Corners], scores: &[f32], max: usize, iou_threshold: f32, score_threshold: Option<f32>) -> Vec<usize> {
        let mut order: Vec<usize> = (0..scores.len()).filter(|&i| score_threshold.is_none_or(|t| scores[i] > t)).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        let mut kept: Vec<usize> = Vec::new();
        for i in order {
            if kept.len() >= max {
                break;
            }
            if kept.iter().all(|&k| iou(&boxes[k], &boxes[i]) <= iou_threshold) {
                kept.push(i);
            }
        }
        kept
    }
}

impl Op for Nms {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let boxes = super::as_f32(required(inputs, 0).map_err(|_| SquishError::op("boxes (input 0) is required"))?, "boxes")?;
        let scores = super::as_f32(required(inputs, 1).map_err(|_| SquishError::op("scores (input 1) is required"))?, "scores")?;
        let (bs, ss) = (boxes.shape(), scores.shape());
        if bs.len() != 3 || bs[2] != 4 {
            return Err(SquishError::op(format!("boxes must be [batch, boxes, 4], got {bs:?}")));
        }
        if ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
            return Err(SquishError::op(format!("scores must be [batch, classes, boxes] = [{}, C, {}], got {ss:?}", bs[0], bs[1])));
        }
        let max = opt_scalar(inputs, 2, "max_output_boxes_per_class")?.unwrap_or(0.0).max(0.0) as usize;
        let iou_threshold = opt_scalar(inputs, 3, "iou_threshold")?.unwrap_or(0.0) as f32;
        if !(0.0..=1.0).contains(&iou_threshold) {
            return Err(SquishError::op(format!("iou_threshold (input 3) must be in [0, 1], got {iou_threshold}")));
        }
        let score_threshold = opt_scalar(inputs, 4, "score_threshold")?.map(|v| v as f32);
        let (nb, nc, n) = (bs[0], ss[1], bs[1]);
        let (bv, sv) = (super::contiguous(boxes), super::contiguous(scores));
        let mut rows: Vec<i64> = Vec::new();
        for b in 0..nb {
            let cs: Vec<Corners> = (0..n).map(|i| corners(&bv[(b * n + i) * 4..][..4], self.center_point_box)).collect();
            for c in 0..nc {
                for i in self.select(&cs, &sv[(b * nc + c) * n..][..n], max, iou_threshold, score_threshold) {
                    rows.extend([b as i64, c as i64, i as i64]);
                }
            }
        }
        let count = rows.len() / 3;
        Ok(vec![Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[count, 3]), rows).expect("three values per row"))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::AttrValue;
    use crate::ops::test_util::{f32s, run, run_opt};
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn overlapping_boxes_are_suppressed_and_bad_inputs_named() {
        let boxes = f32s(&[1, 3, 4], &[0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 0.0, 2.0, 1.0, 3.0]);
        let scores = f32s(&[1, 1, 3], &[0.9, 0.95, 0.5]);
        let max = Tensor::from_vec(&[1], vec![3i64]).unwrap();
        let thr = f32s(&[1], &[0.5]);
        let out = run("", "NonMaxSuppression", &[], 11, &[&boxes, &scores, &max, &thr]).unwrap();
        assert_eq!(out[0].shape(), &[2, 3]);
        assert_eq!(out[0].to_f64_vec(), vec![0.0, 0.0, 1.0, 0.0, 0.0, 2.0]);
        // Without max_output_boxes_per_class nothing is kept.
        let none = run_opt("", "NonMaxSuppression", &[], 11, &[Some(&boxes), Some(&scores)]).unwrap();
        assert_eq!(none[0].shape(), &[0, 3]);
        let err = run("", "NonMaxSuppression", &[("center_point_box", AttrValue::Int(2))], 11, &[&boxes, &scores]).unwrap_err().to_string();
        assert!(err.contains("attribute 'center_point_box'") && err.contains("got 2"), "{err}");
        let bad = f32s(&[1, 2, 3], &[0.0; 6]);
        let err = run("", "NonMaxSuppression", &[], 11, &[&bad, &scores]).unwrap_err().to_string();
        assert!(err.contains("boxes must be [batch, boxes, 4]"), "{err}");
        let err = run("", "NonMaxSuppression", &[], 11, &[&boxes, &f32s(&[1, 1, 2], &[0.0; 2])]).unwrap_err().to_string();
        assert!(err.contains("scores must be [batch, classes, boxes] = [1, C, 3]"), "{err}");
        let err = run("", "NonMaxSuppression", &[], 11, &[&boxes, &scores, &max, &f32s(&[1], &[1.5])]).unwrap_err().to_string();
        assert!(err.contains("iou_threshold (input 3) must be in [0, 1]"), "{err}");
    }
}
