//! MatMul and Gemm: the backward products run on the same GEMM kernel as
//! inference (`kernels::active::gemm_f32`).

use ndarray::{ArrayD, IxDyn};

use super::{unbroadcast, Grads, RuleCtx};
use crate::error::{Result, SquishError};
use crate::kernels::active as k;
use crate::ops::elementwise::broadcast_shapes;

/// `a · b` for dense row-major `a` (m×kk) and `b` (kk×n).
pub(super) fn gemm(m: usize, kk: usize, n: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    k::gemm_f32(m, kk, n, a, b, &mut c);
    c
}

/// The transpose of a dense row-major rows×cols matrix.
pub(super) fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for (c, &v) in a[r * cols..(r + 1) * cols].iter().enumerate() {
            t[c * rows + r] = v;
        }
    }
    t
}

/// `t` (viewed with `view_shape`, the same elements) broadcast to `shape`,
/// as a dense row-major vector: one copy.
fn dense_broadcast(t: &ArrayD<f32>, view_shape: &[usize], shape: &[usize]) -> Result<Vec<f32>> {
    let v = t.view().into_shape_with_order(IxDyn(view_shape)).map_err(|e| SquishError::op(e.to_string()))?;
    let b = v.broadcast(IxDyn(shape)).ok_or_else(|| SquishError::op(format!("cannot broadcast {:?} to {shape:?}", t.shape())))?;
    Ok(match b.as_slice() {
        Some(s) => s.to_vec(),
        None => b.iter().copied().collect(),
    })
}

/// numpy `matmul`: `dA = dY·Bᵀ`, `dB = Aᵀ·dY`, summed over broadcast batch axes.
pub(super) fn matmul(c: &RuleCtx) -> Result<Grads> {
    let (a, b) = (c.f32_input(0)?, c.f32_input(1)?);
    let mut ash = a.shape().to_vec();
    let mut bsh = b.shape().to_vec();
    if ash.len() == 1 {
        ash.insert(0, 1);
    }
    if bsh.len() == 1 {
        bsh.push(1);
    }
    let (m, kk, n) = (ash[ash.len() - 2], ash[ash.len() - 1], bsh[bsh.len() - 1]);
    let batch = broadcast_shapes(&ash[..ash.len() - 2], &bsh[..bsh.len() - 2])?;
    let nb: usize = batch.iter().product();
    let dy = c.dy.as_standard_layout();
    let dy = dy.as_slice().expect("standard layout");
    if dy.len() != nb * m * n {
        return Err(SquishError::op("the output gradient does not match the product's shape"));
    }
    let a_full = dense_broadcast(a, &ash, &[&batch[..], &[m, kk]].concat())?;
    let mut da = None;
    let mut db = None;
    if bsh.len() == 2 {
        // A weight without batch axes: fold the batch into the rows (one GEMM each way).
        let rows = nb * m;
        let bd = dense_broadcast(b, &[kk, n], &[kk, n])?;
        if c.wants(0) {
            da = Some(unbroadcast(
                ArrayD::from_shape_vec(IxDyn(&[&batch[..], &[m, kk]].concat()), gemm(rows, n, kk, dy, &transpose(&bd, kk, n))).expect("sizes"),
                &ash,
            ));
        }
        if c.wants(1) {
            db = Some(ArrayD::from_shape_vec(IxDyn(&[kk, n]), gemm(kk, rows, n, &transpose(&a_full, rows, kk), dy)).expect("sizes"));
        }
    } else {
        let b_full = dense_broadcast(b, &bsh, &[&batch[..], &[kk, n]].concat())?;
        let (mut da_v, mut db_v) = (vec![0.0f32; nb * m * kk], vec![0.0f32; nb * kk * n]);
        for i in 0..nb {
            let dyi = &dy[i * m * n..(i + 1) * m * n];
            if c.wants(0) {
                da_v[i * m * kk..(i + 1) * m * kk].copy_from_slice(&gemm(m, n, kk, dyi, &transpose(&b_full[i * kk * n..(i + 1) * kk * n], kk, n)));
            }
            if c.wants(1) {
                db_v[i * kk * n..(i + 1) * kk * n].copy_from_slice(&gemm(kk, m, n, &transpose(&a_full[i * m * kk..(i + 1) * m * kk], m, kk), dyi));
            }
        }
        if c.wants(0) {
            da = Some(unbroadcast(ArrayD::from_shape_vec(IxDyn(&[&batch[..], &[m, kk]].concat()), da_v).expect("sizes"), &ash));
        }
        if c.wants(1) {
            db = Some(unbroadcast(ArrayD::from_shape_vec(IxDyn(&[&batch[..], &[kk, n]].concat()), db_v).expect("sizes"), &bsh));
        }
    }
    let reshape = |g: ArrayD<f32>, shape: &[usize]| g.into_shape_with_order(IxDyn(shape)).expect("same count");
    Ok(vec![da.map(|g| reshape(g, a.shape())), db.map(|g| reshape(g, b.shape()))])
}

/// `Y = α·A'·B' + β·C` with `A'`, `B'` optionally transposed.
pub(super) fn gemm_rule(c: &RuleCtx) -> Result<Grads> {
    let (a, b) = (c.f32_input(0)?, c.f32_input(1)?);
    let attrs = crate::ops::attrs::Attrs::new(c.node);
    let alpha = attrs.float("alpha", 1.0)?;
    let beta = attrs.float("beta", 1.0)?;
    let (ta, tb) = (attrs.int("transA", 0)? != 0, attrs.int("transB", 0)? != 0);
    if a.ndim() != 2 || b.ndim() != 2 {
        return Err(SquishError::op("Gemm inputs must be matrices"));
    }
    let (m, kk) = if ta { (a.shape()[1], a.shape()[0]) } else { (a.shape()[0], a.shape()[1]) };
    let n = if tb { b.shape()[0] } else { b.shape()[1] };
    let dy: Vec<f32> = c.dy.iter().map(|v| v * alpha).collect();
    let a_d = a.as_standard_layout();
    let b_d = b.as_standard_layout();
    let (a_s, b_s) = (a_d.as_slice().expect("standard"), b_d.as_slice().expect("standard"));
    let mut out: Grads = vec![None, None, None];
    if c.wants(0) {
        // dA' = dY·B'ᵀ (m×kk); B'ᵀ is B itself when transB.
        let bt = if tb { b_s.to_vec() } else { transpose(b_s, kk, n) };
        let g = gemm(m, n, kk, &dy, &bt);
        let g = if ta { transpose(&g, m, kk) } else { g };
        out[0] = Some(ArrayD::from_shape_vec(IxDyn(a.shape()), g).expect("sizes"));
    }
    if c.wants(1) {
        // dB' = A'ᵀ·dY (kk×n); A'ᵀ is A itself when transA.
        let at = if ta { a_s.to_vec() } else { transpose(a_s, m, kk) };
        let g = gemm(kk, m, n, &at, &dy);
        let g = if tb { transpose(&g, kk, n) } else { g };
        out[1] = Some(ArrayD::from_shape_vec(IxDyn(b.shape()), g).expect("sizes"));
    }
    if c.wants(2) {
        let shape = c.input_shape(2)?.to_vec();
        out[2] = Some(unbroadcast(c.dy.mapv(|v| v * beta), &shape));
    }
    Ok(out)
}
