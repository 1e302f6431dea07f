//! Scalar reference kernels: the definition of what each kernel computes,
//! and the fallback where SIMD is not compiled in.

/// `c = a · b` with `a` m×k, `b` k×n, `c` m×n, all row-major and dense.
/// Each output sums its k products in order, starting from zero.
pub fn gemm_f32(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm_f32: buffers too small");
    c[..m * n].fill(0.0);
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        for p in 0..k {
            let av = a[i * k + p];
            let brow = &b[p * n..(p + 1) * n];
            for (cv, &bv) in row.iter_mut().zip(brow) {
                *cv += av * bv;
            }
        }
    }
}

/// `c = a · b` with B given as `pack_b_f32` panels; same summation order as
/// `gemm_f32`.
pub fn gemm_f32_packed(m: usize, k: usize, n: usize, a: &[f32], bp: &[f32], c: &mut [f32]) {
    use super::GEMM_NR as NR;
    assert!(a.len() >= m * k && bp.len() >= n.div_ceil(NR) * k * NR && c.len() >= m * n, "gemm_f32_packed: buffers too small");
    for i in 0..m {
        for j in 0..n {
            let (jp, jj) = (j / NR, j % NR);
            let mut s = 0.0f32;
            for p in 0..k {
                s += a[i * k + p] * bp[jp * k * NR + p * NR + jj];
            }
            c[i * n + j] = s;
        }
    }
}

macro_rules! binary {
    ($name:ident, $op:tt) => {
        /// Elementwise over equal-length slices.
        pub fn $name(a: &[f32], b: &[f32], out: &mut [f32]) {
            assert!(a.len() == out.len() && b.len() == out.len(), concat!(stringify!($name), ": length mismatch"));
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = x $op y;
            }
        }
    };
}
binary!(add_f32, +);
binary!(sub_f32, -);
binary!(mul_f32, *);
binary!(div_f32, /);

/// `y += alpha · x` over equal-length slices.
pub fn axpy_f32(alpha: f32, x: &[f32], y: &mut [f32]) {
    assert!(x.len() == y.len(), "axpy_f32: length mismatch");
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += alpha * xv;
    }
}

/// `max(x, 0)` in place; NaN stays NaN.
pub fn relu_f32(x: &mut [f32]) {
    for v in x {
        if *v < 0.0 {
            *v = 0.0;
        }
    }
}

/// NaN-propagating maximum (the semantics of wasm's `f32x4.max`).
pub fn max_f32(x: &[f32]) -> f32 {
    x.iter().fold(f32::NEG_INFINITY, |m, &v| if v.is_nan() || m.is_nan() { f32::NAN } else if v > m { v } else { m })
}

/// Softmax over consecutive rows of length `row` (in place):
/// `exp(x - max) * (1 / sum)`.
pub fn softmax_f32(x: &mut [f32], row: usize) {
    if row == 0 {
        return;
    }
    for r in x.chunks_exact_mut(row) {
        let m = max_f32(r);
        let mut sum = 0.0f32;
        for v in r.iter_mut() {
            *v = (*v - m).exp();
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in r.iter_mut() {
            *v *= inv;
        }
    }
}
