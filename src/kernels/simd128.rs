//! WebAssembly SIMD128 twins of `reference`, same signatures. With the
//! `relaxed-simd` target feature, multiply-adds use `f32x4_relaxed_madd`
//! (fused where the engine can), so results may differ from the reference
//! by rounding only; the suite in `tests.rs` bounds that.

use core::arch::wasm32::*;

#[inline(always)]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    {
        f32x4_relaxed_madd(a, b, c)
    }
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        f32x4_add(f32x4_mul(a, b), c)
    }
}

#[inline(always)]
unsafe fn load(p: *const f32) -> v128 {
    v128_load(p as *const v128)
}

#[inline(always)]
unsafe fn store(p: *mut f32, v: v128) {
    v128_store(p as *mut v128, v)
}

/// Register-blocked GEMM: a 4×8 tile of C lives in eight vectors while the
/// k loop streams one row of B and broadcasts four values of A.
pub fn gemm_f32(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm_f32: buffers too small");
    let (ap, bp, cp) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    let mut i = 0;
    // SAFETY: every pointer below stays inside a (i<m, p<k), b (p<k, j+8<=n or
    // j+4<=n) and c (i<m, j<n), whose sizes were checked above.
    unsafe {
        while i + 4 <= m {
            let mut j = 0;
            while j + 8 <= n {
                let mut acc = [f32x4_splat(0.0); 8];
                for p in 0..k {
                    let b0 = load(bp.add(p * n + j));
                    let b1 = load(bp.add(p * n + j + 4));
                    for r in 0..4 {
                        let av = f32x4_splat(*ap.add((i + r) * k + p));
                        acc[2 * r] = madd(av, b0, acc[2 * r]);
                        acc[2 * r + 1] = madd(av, b1, acc[2 * r + 1]);
                    }
                }
                for r in 0..4 {
                    store(cp.add((i + r) * n + j), acc[2 * r]);
                    store(cp.add((i + r) * n + j + 4), acc[2 * r + 1]);
                }
                j += 8;
            }
            while j + 4 <= n {
                let mut acc = [f32x4_splat(0.0); 4];
                for p in 0..k {
                    let b0 = load(bp.add(p * n + j));
                    for (r, accr) in acc.iter_mut().enumerate() {
                        *accr = madd(f32x4_splat(*ap.add((i + r) * k + p)), b0, *accr);
                    }
                }
                for (r, accr) in acc.iter().enumerate() {
                    store(cp.add((i + r) * n + j), *accr);
                }
                j += 4;
            }
            for r in 0..4 {
                gemm_row_tail(k, n, j, ap.add((i + r) * k), bp, cp.add((i + r) * n));
            }
            i += 4;
        }
        while i < m {
            let mut j = 0;
            while j + 4 <= n {
                let mut acc = f32x4_splat(0.0);
                for p in 0..k {
                    acc = madd(f32x4_splat(*ap.add(i * k + p)), load(bp.add(p * n + j)), acc);
                }
                store(cp.add(i * n + j), acc);
                j += 4;
            }
            gemm_row_tail(k, n, j, ap.add(i * k), bp, cp.add(i * n));
            i += 1;
        }
    }
}

/// Columns `j0..n` of one output row, scalar (fewer than four remain).
#[inline(always)]
unsafe fn gemm_row_tail(k: usize, n: usize, j0: usize, arow: *const f32, b: *const f32, crow: *mut f32) {
    for j in j0..n {
        let mut s = 0.0f32;
        for p in 0..k {
            s = fma_like(*arow.add(p), *b.add(p * n + j), s);
        }
        *crow.add(j) = s;
    }
}

/// Scalar multiply-add rounded like the vector path (unfused in the baseline
/// build, so that the baseline matches the reference bit for bit).
#[inline(always)]
fn fma_like(a: f32, b: f32, c: f32) -> f32 {
    a * b + c
}

macro_rules! binary {
    ($name:ident, $vop:ident, $op:tt) => {
        /// Elementwise over equal-length slices.
        pub fn $name(a: &[f32], b: &[f32], out: &mut [f32]) {
            assert!(a.len() == out.len() && b.len() == out.len(), concat!(stringify!($name), ": length mismatch"));
            let n = out.len();
            let mut i = 0;
            // SAFETY: i + 4 <= n for every vector access; all three slices have length n.
            unsafe {
                while i + 4 <= n {
                    store(out.as_mut_ptr().add(i), $vop(load(a.as_ptr().add(i)), load(b.as_ptr().add(i))));
                    i += 4;
                }
            }
            for j in i..n {
                out[j] = a[j] $op b[j];
            }
        }
    };
}
binary!(add_f32, f32x4_add, +);
binary!(sub_f32, f32x4_sub, -);
binary!(mul_f32, f32x4_mul, *);
binary!(div_f32, f32x4_div, /);

/// `max(x, 0)` in place; `pmax` keeps NaN and -0 exactly as the reference does.
pub fn relu_f32(x: &mut [f32]) {
    let n = x.len();
    let zero = f32x4_splat(0.0);
    let mut i = 0;
    // SAFETY: i + 4 <= n for every vector access.
    unsafe {
        while i + 4 <= n {
            let p = x.as_mut_ptr().add(i);
            store(p, f32x4_pmax(load(p), zero));
            i += 4;
        }
    }
    for v in &mut x[i..] {
        if *v < 0.0 {
            *v = 0.0;
        }
    }
}

/// NaN-propagating maximum.
pub fn max_f32(x: &[f32]) -> f32 {
    let n = x.len();
    let mut i = 0;
    let mut m = f32x4_splat(f32::NEG_INFINITY);
    // SAFETY: i + 4 <= n for every vector access.
    unsafe {
        while i + 4 <= n {
            m = f32x4_max(m, load(x.as_ptr().add(i)));
            i += 4;
        }
    }
    let lanes = [f32x4_extract_lane::<0>(m), f32x4_extract_lane::<1>(m), f32x4_extract_lane::<2>(m), f32x4_extract_lane::<3>(m)];
    let mut best = f32::NEG_INFINITY;
    for &v in lanes.iter().chain(&x[i..]) {
        best = if v.is_nan() || best.is_nan() { f32::NAN } else if v > best { v } else { best };
    }
    best
}

/// Softmax over consecutive rows of length `row` (in place). The exponential
/// is scalar; max, sum and scaling are vectorised.
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
        let inv = f32x4_splat(1.0 / sum);
        let n = r.len();
        let mut i = 0;
        // SAFETY: i + 4 <= n for every vector access.
        unsafe {
            while i + 4 <= n {
                let p = r.as_mut_ptr().add(i);
                store(p, f32x4_mul(load(p), inv));
                i += 4;
            }
        }
        let inv_s = 1.0 / sum;
        for v in &mut r[i..] {
            *v *= inv_s;
        }
    }
}
