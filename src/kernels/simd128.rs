//! WebAssembly SIMD128 twins of `reference`, same signatures. With the
//! `relaxed-simd` target feature, multiply-adds use `f32x4_relaxed_madd`
//! (fused where the engine can), so results may differ from the reference
//! by rounding only; the suite in `tests.rs` bounds that.

use core::arch::wasm32::*;

mod integer;
mod window;
pub use integer::*;
pub use window::*;

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

/// Stores the first `min(dst.len(), 4)` lanes of `v` (32-bit lanes, float or
/// integer) with lane stores: a copy of a run-time length would be a
/// `memory.copy`, which V8 runs as a call (about 6 ns against under 1 for a
/// vector store, measured in Node) — a cost per row in the window kernels.
#[inline(always)]
fn store_first<T: Copy>(dst: &mut [T], v: v128) {
    const { assert!(core::mem::size_of::<T>() == 4) };
    let p = dst.as_mut_ptr();
    // SAFETY: each arm writes only the lanes dst holds.
    unsafe {
        match dst.len() {
            0 => {}
            1 => v128_store32_lane::<0>(v, p as *mut u32),
            2 => v128_store64_lane::<0>(v, p as *mut u64),
            3 => {
                v128_store64_lane::<0>(v, p as *mut u64);
                v128_store32_lane::<2>(v, p.add(2) as *mut u32);
            }
            _ => v128_store(p as *mut v128, v),
        }
    }
}

/// The first `min(src.len(), 4)` values of `src` in a vector, zeros after
/// (lane loads, as `store_first` stores).
#[inline(always)]
fn load_first(src: &[f32]) -> v128 {
    let p = src.as_ptr();
    let zero = f32x4_splat(0.0);
    // SAFETY: each arm reads only the lanes src holds.
    unsafe {
        match src.len() {
            0 => zero,
            1 => v128_load32_lane::<0>(zero, p as *const u32),
            2 => v128_load64_lane::<0>(zero, p as *const u64),
            3 => v128_load32_lane::<2>(v128_load64_lane::<0>(zero, p as *const u64), p.add(2) as *const u32),
            _ => load(p),
        }
    }
}

use super::GEMM_NR as NR;
use core::mem::MaybeUninit;
/// Rows of A per micro-tile.
const MR: usize = 4;

/// Depth of one pass over K: a B panel block (`KC × 8`, 16 KiB) stays in L1.
const KC: usize = 512;
/// Rows of A per pass: their panels (`MC × KC`, 512 KiB) stay in L2 while
/// every B panel of the pass meets them. (Measured on the bench's EPYC in
/// Node: 1024³ from 24 to 33 GFLOP/s, 2048×512×48 from 20 to 28; 256/128
/// lost 3–5% on the smaller shapes.)
const MC: usize = 256;

/// Packed, register-blocked GEMM. A is packed once into 4-row panels laid
/// out `k × 4` (zero rows pad the last one), B per pass over K into `KC × 8`
/// panels; the micro-kernel keeps a 4×8 tile of C in eight vectors and per
/// `k` step does one A load, four lane broadcasts, two B loads and eight
/// multiply-adds. Passes over K continue from the partial sums left in C,
/// so every output still sums its products in `k` order and the baseline
/// build matches the reference bit for bit.
pub fn gemm_f32(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm_f32: buffers too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    let a_panels = pack_a(m, k, a);
    let mut block = vec![0.0f32; n.div_ceil(NR) * KC.min(k) * NR];
    for kb in (0..k).step_by(KC) {
        let kc = KC.min(k - kb);
        pack_b_block(b, n, kb, kc, &mut block);
        block_product(m, n, (kb, kc, k), &a_panels, &block, kc, c);
    }
}

/// `gemm_f32` with B already packed by `pack_b_f32` (constant weights).
pub fn gemm_f32_packed(m: usize, k: usize, n: usize, a: &[f32], bp: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && bp.len() >= n.div_ceil(NR) * k * NR && c.len() >= m * n, "gemm_f32_packed: buffers too small");
    if m == 0 || n == 0 {
        return;
    }
    gemm_f32_prepacked(m, k, n, &pack_a(m, k, a), bp, c);
}

/// `gemm_f32` with A packed by `pack_a_f32` and B by `pack_b_f32` (a
/// convolution's constant filters and its unfolded input).
pub fn gemm_f32_prepacked(m: usize, k: usize, n: usize, ap: &[f32], bp: &[f32], c: &mut [f32]) {
    gemm_f32_prepacked_then(m, k, n, ap, bp, super::as_uninit(c), super::Epilogue::default());
}

/// `gemm_f32_prepacked`, each output finished by `ep` as the last pass
/// over K stores it. Every output of `c[..m·n]` is stored, so C may start
/// uninitialised.
pub fn gemm_f32_prepacked_then(m: usize, k: usize, n: usize, ap: &[f32], bp: &[f32], c: &mut [MaybeUninit<f32>], ep: super::Epilogue) {
    assert!(ap.len() >= m.div_ceil(MR) * k * MR && bp.len() >= n.div_ceil(NR) * k * NR && c.len() >= m * n, "gemm_f32_prepacked: buffers too small");
    assert!(ep.bias.is_none_or(|b| b.len() >= m), "gemm_f32_prepacked: bias shorter than the rows");
    if m == 0 || n == 0 {
        return;
    }
    if k <= KC {
        block_product_then(m, n, (0, k, k), ap, bp, k, c, &ep);
        return;
    }
    for kb in (0..k).step_by(KC) {
        block_product_then(m, n, (kb, KC.min(k - kb), k), ap, &bp[kb * NR..], k, c, &ep);
    }
}

/// Copies rows `kb..kb+kc` of B (k×n, row-major) into `kc × 8` panels.
fn pack_b_block(b: &[f32], n: usize, kb: usize, kc: usize, out: &mut [f32]) {
    for (jp, j) in (0..n).step_by(NR).enumerate() {
        let w = NR.min(n - j);
        let panel = &mut out[jp * kc * NR..(jp + 1) * kc * NR];
        for p in 0..kc {
            let dst = &mut panel[p * NR..p * NR + NR];
            dst[..w].copy_from_slice(&b[(kb + p) * n + j..(kb + p) * n + j + w]);
            dst[w..].fill(0.0);
        }
    }
}

/// C += (or, for the first block, =) A[:, kb..kb+kc] · B[kb..kb+kc, :].
/// `depth` = (kb, kc, k); B panel `jp` starts at `jp · b_stride · 8` in
/// `panels` (its rows `kb..` already at the front).
fn block_product(m: usize, n: usize, depth: (usize, usize, usize), a_panels: &[f32], panels: &[f32], b_stride: usize, c: &mut [f32]) {
    block_product_then(m, n, depth, a_panels, panels, b_stride, super::as_uninit(c), &super::Epilogue::default());
}

/// `block_product`; the block that ends K also applies `ep`.
#[allow(clippy::too_many_arguments)]
fn block_product_then(
    m: usize,
    n: usize,
    (kb, kc, k): (usize, usize, usize),
    a_panels: &[f32],
    panels: &[f32],
    b_stride: usize,
    c: &mut [MaybeUninit<f32>],
    ep: &super::Epilogue,
) {
    let first = kb == 0;
    let finish = kb + kc == k && (ep.bias.is_some() || ep.lo.is_some() || ep.hi.is_some());
    let row_blocks = m.div_ceil(MR);
    for ib0 in (0..row_blocks).step_by(MC / MR) {
        for (jp, j) in (0..n).step_by(NR).enumerate() {
            let w = NR.min(n - j);
            let panel = &panels[jp * b_stride * NR..jp * b_stride * NR + kc * NR];
            for ib in ib0..row_blocks.min(ib0 + MC / MR) {
                let rows = MR.min(m - ib * MR);
                // SAFETY: each A panel holds k·4 floats (kb + kc ≤ k), the B panel kc·8.
                let ap = unsafe { a_panels.as_ptr().add(ib * k * MR + kb * MR) };
                if rows == MR && w == NR {
                    // SAFETY: as for `ap`; rows ib·4 … ib·4 + 3 and columns j … j + 7 lie in C (c.len() ≥ m·n).
                    unsafe { full_tile(kc, ap, panel.as_ptr(), (c.as_mut_ptr() as *mut f32).add(ib * MR * n + j), (n, ib * MR), (first, finish), ep) };
                    continue;
                }
                let mut tile = if first { [[f32x4_splat(0.0); 2]; MR] } else { load_tile(c, n, ib * MR, rows, j, w) };
                // SAFETY: as for `ap`.
                unsafe { tile_4x8(kc, ap, panel.as_ptr(), &mut tile) };
                if finish {
                    finish_tile(&mut tile, ib * MR, rows, ep);
                }
                for (r, row) in tile.iter().enumerate().take(rows) {
                    let i = ib * MR + r;
                    store_lanes(&mut c[i * n + j..i * n + j + w], row);
                }
            }
        }
    }
}

/// A whole 4×8 tile of C at `c` (row stride `n`, first row `i0`): its
/// partial sums read unless `first`, the products added, `ep` applied if
/// `finish`, stored. The common case of `block_product_then` without its
/// edge handling: on small K (a 1×1 convolution from 16 channels) the
/// per-tile work is a large share, and this form ran 4–12% faster there
/// (GemmBench 96×16×12544 in Node).
#[inline(always)]
unsafe fn full_tile(kc: usize, ap: *const f32, panel: *const f32, c: *mut f32, (n, i0): (usize, usize), (first, finish): (bool, bool), ep: &super::Epilogue) {
    let mut tile = [[f32x4_splat(0.0); 2]; MR];
    if !first {
        for (r, t) in tile.iter_mut().enumerate() {
            *t = [load(c.add(r * n)), load(c.add(r * n + 4))];
        }
    }
    tile_4x8(kc, ap, panel, &mut tile);
    if finish {
        finish_tile(&mut tile, i0, MR, ep);
    }
    for (r, t) in tile.iter().enumerate() {
        store(c.add(r * n), t[0]);
        store(c.add(r * n + 4), t[1]);
    }
}

/// `Epilogue::apply` on four outputs of row `row`: the same add and the
/// same comparisons, `x < lo` and `x > hi`.
#[inline(always)]
fn finish_vec(mut v: v128, ep: &super::Epilogue, row: usize) -> v128 {
    if let Some(b) = ep.bias {
        v = f32x4_add(v, f32x4_splat(b[row]));
    }
    if let Some(l) = ep.lo {
        v = at_least(v, f32x4_splat(l));
    }
    if let Some(h) = ep.hi {
        v = at_most(v, f32x4_splat(h));
    }
    v
}

/// `x < lo ? lo : x` per lane (NaN stays): `pmax` is exactly that and one
/// instruction, but in the relaxed-SIMD build LLVM turned it into a max that
/// drops NaN (caught by the epilogue tests in Chromium), so that build
/// compares and selects (two; the depthwise kernel ran ~8% slower with them).
#[inline(always)]
fn at_least(x: v128, lo: v128) -> v128 {
    if cfg!(target_feature = "relaxed-simd") {
        v128_bitselect(lo, x, f32x4_lt(x, lo))
    } else {
        f32x4_pmax(x, lo)
    }
}

/// `x > hi ? hi : x` per lane (NaN stays), as `at_least`.
#[inline(always)]
fn at_most(x: v128, hi: v128) -> v128 {
    if cfg!(target_feature = "relaxed-simd") {
        v128_bitselect(hi, x, f32x4_gt(x, hi))
    } else {
        f32x4_pmin(x, hi)
    }
}

/// `finish_vec` on a tile whose first row is row `i0` of C.
#[inline(always)]
fn finish_tile(tile: &mut [[v128; 2]; MR], i0: usize, rows: usize, ep: &super::Epilogue) {
    for (r, row) in tile.iter_mut().enumerate().take(rows) {
        *row = [finish_vec(row[0], ep, i0 + r), finish_vec(row[1], ep, i0 + r)];
    }
}

/// The partial sums of a 4×8 tile of C (rows past `rows`, lanes past `w`: zero).
#[inline(always)]
fn load_tile(c: &[MaybeUninit<f32>], n: usize, i0: usize, rows: usize, j: usize, w: usize) -> [[v128; 2]; MR] {
    let mut tile = [[f32x4_splat(0.0); 2]; MR];
    for (r, t) in tile.iter_mut().enumerate().take(rows) {
        let src = &c[(i0 + r) * n + j..(i0 + r) * n + j + w];
        // SAFETY: an earlier pass over K stored these outputs.
        let src = unsafe { core::slice::from_raw_parts(src.as_ptr() as *const f32, w) };
        *t = [load_first(src), load_first(src.get(4..).unwrap_or(&[]))];
    }
    tile
}

/// A as panels of 4 rows, each `k × 4` (row r of the panel in lane r).
pub fn pack_a(m: usize, k: usize, a: &[f32]) -> Vec<f32> {
    super::pack_a_f32(m, k, a)
}

/// Writes the first `dst.len()` (≤ 8) lanes of a tile row — one or two
/// vectors of 32-bit lanes, float or integer (the f32 and integer GEMMs).
#[inline(always)]
fn store_lanes<T: Copy>(dst: &mut [T], row: &[v128]) {
    const { assert!(core::mem::size_of::<T>() == 4) };
    if let ([v0, v1], 8) = (row, dst.len()) {
        // SAFETY: dst has exactly 8 lanes of 4 bytes.
        unsafe {
            v128_store(dst.as_mut_ptr() as *mut v128, *v0);
            v128_store(dst.as_mut_ptr().add(4) as *mut v128, *v1);
        }
        return;
    }
    let (first, rest) = dst.split_at_mut(dst.len().min(4));
    store_first(first, row[0]);
    if let Some(&v) = row.get(1) {
        store_first(rest, v);
    }
}

/// Adds a packed 4-row panel (`k × 4`) times a packed `k × 8` panel of B
/// onto `tile`. Written as a pointer walk with each A value splat from
/// memory: V8 then keeps the loop free of index arithmetic and lane
/// shuffles (which share the float pipes), about 8% faster in Node than
/// one A vector load and four shuffles.
#[inline(always)]
unsafe fn tile_4x8(k: usize, ap: *const f32, panel: *const f32, tile: &mut [[v128; 2]; MR]) {
    let [[mut c00, mut c01], [mut c10, mut c11], [mut c20, mut c21], [mut c30, mut c31]] = *tile;
    let (mut a, mut b) = (ap, panel);
    let end = panel.add(k * NR);
    while b < end {
        let b0 = load(b);
        let b1 = load(b.add(4));
        let x0 = v128_load32_splat(a as *const u32);
        let x1 = v128_load32_splat(a.add(1) as *const u32);
        let x2 = v128_load32_splat(a.add(2) as *const u32);
        let x3 = v128_load32_splat(a.add(3) as *const u32);
        c00 = madd(x0, b0, c00);
        c01 = madd(x0, b1, c01);
        c10 = madd(x1, b0, c10);
        c11 = madd(x1, b1, c11);
        c20 = madd(x2, b0, c20);
        c21 = madd(x2, b1, c21);
        c30 = madd(x3, b0, c30);
        c31 = madd(x3, b1, c31);
        a = a.add(MR);
        b = b.add(NR);
    }
    *tile = [[c00, c01], [c10, c11], [c20, c21], [c30, c31]];
}

/// `gemm_f32_sparse`: A in panels of 16 rows laid out `k × 16`, so the 16
/// values one non-zero weight meets are one cache line: per non-zero, one
/// broadcast and four loads and multiply-adds. Rows past the last full panel
/// go through 4-row panels. Each output sums its products in the reference's
/// order. (Four separate 4-row panels, and eight, measured slower: scattered
/// lines, and spilled accumulators; so did a 32-row panel and two columns
/// at a time.) A transposed A (a 1×1 convolution's channels × pixels) packs
/// by copying 16 contiguous pixels per channel.
pub fn gemm_f32_sparse(m: usize, a: &[f32], b: &super::sparse::SparseB, c: &mut [f32], layout: super::sparse::Layout) {
    let (k, n) = (b.k, b.n);
    assert!(a.len() >= m * k && c.len() >= m * n, "gemm_f32_sparse: buffers too small");
    if m == 0 || n == 0 {
        return;
    }
    const ROWS: usize = 4 * MR;
    let full = m / ROWS * ROWS;
    let mut panel = vec![0.0f32; k * ROWS];
    for i0 in (0..full).step_by(ROWS) {
        pack_rows(a, (m, k), i0, ROWS, layout, &mut panel);
        for j in 0..n {
            let (rows, values) = b.column(j);
            let mut acc = [f32x4_splat(0.0); 4];
            // SAFETY: every row index is < k and the panel holds k·16 floats.
            unsafe { sparse_dot::<4>(panel.as_ptr(), rows, values, &mut acc) };
            scatter(&acc, (m, n), i0, ROWS, j, c, layout);
        }
    }
    let mut small = vec![0.0f32; k * MR];
    for i0 in (full..m).step_by(MR) {
        pack_rows(a, (m, k), i0, MR, layout, &mut small);
        for j in 0..n {
            let (rows, values) = b.column(j);
            let mut acc = [f32x4_splat(0.0); 1];
            // SAFETY: every row index is < k and the panel holds k·4 floats.
            unsafe { sparse_dot::<1>(small.as_ptr(), rows, values, &mut acc) };
            scatter(&acc, (m, n), i0, (m - i0).min(MR), j, c, layout);
        }
    }
}

/// Rows `i0..i0 + width` of A into a `k × width` panel, zeros past row m.
fn pack_rows(a: &[f32], (m, k): (usize, usize), i0: usize, width: usize, layout: super::sparse::Layout, panel: &mut [f32]) {
    if k == 0 {
        return;
    }
    let rows = width.min(m - i0);
    match layout {
        super::sparse::Layout::RowMajor => {
            for r in 0..width {
                for p in 0..k {
                    panel[p * width + r] = if r < rows { a[(i0 + r) * k + p] } else { 0.0 };
                }
            }
        }
        super::sparse::Layout::Transposed => {
            for (p, dst) in panel.chunks_exact_mut(width).enumerate() {
                dst[..rows].copy_from_slice(&a[p * m + i0..p * m + i0 + rows]);
                dst[rows..].fill(0.0);
            }
        }
    }
}

/// Writes column j of rows `i0..i0 + count` from accumulators holding four rows each.
#[inline(always)]
fn scatter(acc: &[v128], (m, n): (usize, usize), i0: usize, count: usize, j: usize, c: &mut [f32], layout: super::sparse::Layout) {
    for (g, v) in acc.iter().enumerate() {
        let mut lanes = [0.0f32; MR];
        // SAFETY: lanes has 4 floats.
        unsafe { store(lanes.as_mut_ptr(), *v) };
        for (r, &x) in lanes.iter().enumerate().take(count.saturating_sub(g * MR)) {
            c[layout.c(m, n, i0 + g * MR + r, j)] = x;
        }
    }
}

/// A panel of `4·P` rows laid out `k × 4P` times one sparse column.
#[inline(always)]
unsafe fn sparse_dot<const P: usize>(panel: *const f32, rows: &[u32], values: &[f32], acc: &mut [v128]) {
    let mut v = [f32x4_splat(0.0); P];
    for (&p, &w) in rows.iter().zip(values) {
        let wv = f32x4_splat(w);
        let at = panel.add(p as usize * P * MR);
        for (q, x) in v.iter_mut().enumerate() {
            *x = madd(load(at.add(q * MR)), wv, *x);
        }
    }
    acc[..P].copy_from_slice(&v);
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

/// `y += alpha · x` over equal-length slices.
pub fn axpy_f32(alpha: f32, x: &[f32], y: &mut [f32]) {
    assert!(x.len() == y.len(), "axpy_f32: length mismatch");
    let n = y.len();
    let av = f32x4_splat(alpha);
    let mut i = 0;
    // SAFETY: i + 4 <= n for every vector access; both slices have length n.
    unsafe {
        while i + 4 <= n {
            let p = y.as_mut_ptr().add(i);
            store(p, madd(av, load(x.as_ptr().add(i)), load(p)));
            i += 4;
        }
    }
    for j in i..n {
        y[j] += alpha * x[j];
    }
}

/// Vector `exp`: n = round(x·log2 e), r = x − n·ln 2 (two-part constant),
/// a degree-6 polynomial for e^r, then 2^n through the exponent bits.
/// Inputs are clamped to [−87.3, 88.7] (beyond: 0-ish and +inf as f32 would
/// give anyway, but no subnormals).
#[inline(always)]
fn exp_v(x: v128) -> v128 {
    let nan = f32x4_ne(x, x);
    let x = f32x4_pmin(f32x4_pmax(x, f32x4_splat(-87.3)), f32x4_splat(88.7));
    // Adding 1.5·2²³ rounds x·log2 e to the nearest integer (ties to even, as
    // `f32x4.nearest`) and leaves that integer in the low mantissa bits, which
    // spares V8's slow float → int conversion.
    const MAGIC: f32 = 12_582_912.0;
    let t = f32x4_add(f32x4_mul(x, f32x4_splat(std::f32::consts::LOG2_E)), f32x4_splat(MAGIC));
    let n = f32x4_sub(t, f32x4_splat(MAGIC));
    let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, f32x4_splat(0.693_359_4))), f32x4_mul(n, f32x4_splat(-2.121_944_4e-4)));
    let mut p = f32x4_splat(1.987_569_1e-4);
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5e-1] {
        p = f32x4_add(f32x4_mul(p, r), f32x4_splat(c));
    }
    let e_r = f32x4_add(f32x4_add(f32x4_mul(f32x4_mul(p, r), r), r), f32x4_splat(1.0));
    // 2^n as 2^(n>>1) · 2^(n - n>>1): both factors stay normal for n in [-126, 128].
    let ni = i32x4_sub(t, i32x4_splat(MAGIC.to_bits() as i32));
    let n1 = i32x4_shr(ni, 1);
    let n2 = i32x4_sub(ni, n1);
    let pow2 = |e: v128| i32x4_shl(i32x4_add(e, i32x4_splat(127)), 23);
    let y = f32x4_mul(f32x4_mul(e_r, pow2(n1)), pow2(n2));
    // NaN in, NaN out (the clamp would have turned it into a number).
    v128_bitselect(f32x4_splat(f32::NAN), y, nan)
}

/// `exp` in place.
pub fn exp_f32(x: &mut [f32]) {
    map_lanes(x, exp_v);
}

/// erf of four lanes: the reference's rational approximation, the same
/// operations in the same order (so equal to it bit for bit).
#[inline(always)]
fn erf_v(v: v128) -> v128 {
    use super::reference::{ERF_DEN, ERF_NUM};
    let v = f32x4_pmin(f32x4_pmax(v, f32x4_splat(-4.0)), f32x4_splat(4.0));
    let x2 = f32x4_mul(v, v);
    let mut p = f32x4_splat(ERF_NUM[0]);
    for &c in &ERF_NUM[1..] {
        p = f32x4_add(f32x4_mul(p, x2), f32x4_splat(c));
    }
    let mut q = f32x4_splat(ERF_DEN[0]);
    for &c in &ERF_DEN[1..] {
        q = f32x4_add(f32x4_mul(q, x2), f32x4_splat(c));
    }
    f32x4_div(f32x4_mul(v, p), q)
}

/// Applies `f` to every four lanes of `x` in place; the tail goes through a
/// zero-padded vector, so tails get exactly the lanes' arithmetic.
#[inline(always)]
fn map_lanes(x: &mut [f32], f: impl Fn(v128) -> v128) {
    let n = x.len();
    let mut i = 0;
    // SAFETY: i + 4 <= n for every vector access.
    unsafe {
        while i + 4 <= n {
            let p = x.as_mut_ptr().add(i);
            store(p, f(load(p)));
            i += 4;
        }
    }
    if i < n {
        let v = f(load_first(&x[i..]));
        store_first(&mut x[i..], v);
    }
}

/// erf in place.
pub fn erf_f32(x: &mut [f32]) {
    map_lanes(x, erf_v);
}

/// GELU in place, as the op chain `c` describes (see `GeluChain`). Each
/// spelling gets its own loop: no per-vector branch on the flags.
pub fn gelu_f32(x: &mut [f32], c: super::GeluChain) {
    let (d, one, half) = (f32x4_splat(c.divisor), f32x4_splat(c.one), f32x4_splat(c.half));
    match (c.divide, c.half_first) {
        (true, false) => map_lanes(x, |v| f32x4_mul(f32x4_mul(v, f32x4_add(erf_v(f32x4_div(v, d)), one)), half)),
        (true, true) => map_lanes(x, |v| f32x4_mul(f32x4_mul(v, half), f32x4_add(erf_v(f32x4_div(v, d)), one))),
        (false, false) => map_lanes(x, |v| f32x4_mul(f32x4_mul(v, f32x4_add(erf_v(f32x4_mul(v, d)), one)), half)),
        (false, true) => map_lanes(x, |v| f32x4_mul(f32x4_mul(v, half), f32x4_add(erf_v(f32x4_mul(v, d)), one))),
    }
}

/// `dst = src` (equal lengths) by vector loads and stores: a copy of a
/// run-time length is otherwise a `memory.copy`, which V8 runs as a call —
/// per row of a 7- or 14-wide plane, more than the copy itself.
pub fn copy_f32(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy_f32: lengths differ");
    let mut d = dst.chunks_exact_mut(4);
    let mut s = src.chunks_exact(4);
    for (d, s) in (&mut d).zip(&mut s) {
        // SAFETY: both chunks hold four floats.
        unsafe { store(d.as_mut_ptr(), load(s.as_ptr())) };
    }
    let (d, s) = (d.into_remainder(), s.remainder());
    if !s.is_empty() {
        store_first(d, load_first(s));
    }
}

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
        best = if v.is_nan() || best.is_nan() {
            f32::NAN
        } else if v > best {
            v
        } else {
            best
        };
    }
    best
}

/// Softmax over consecutive rows of length `row` (in place), all vectorised;
/// values below `f32::MIN_POSITIVE` flushed to zero as in the reference
/// (NaN kept: the mask is `v < MIN_POSITIVE`, false for NaN).
pub fn softmax_f32(x: &mut [f32], row: usize) {
    if row == 0 {
        return;
    }
    let tiny = f32x4_splat(f32::MIN_POSITIVE);
    let flush = |v: v128| v128_andnot(v, f32x4_lt(v, tiny));
    let flush_s = |v: f32| if v < f32::MIN_POSITIVE { 0.0 } else { v };
    for r in x.chunks_exact_mut(row) {
        let m = max_f32(r);
        let mv = f32x4_splat(m);
        let mut acc = f32x4_splat(0.0);
        let n = r.len();
        let mut i = 0;
        // SAFETY: i + 4 <= n for every vector access.
        unsafe {
            while i + 4 <= n {
                let p = r.as_mut_ptr().add(i);
                let e = flush(exp_v(f32x4_sub(load(p), mv)));
                store(p, e);
                acc = f32x4_add(acc, e);
                i += 4;
            }
        }
        let mut sum = f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc) + f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc);
        for v in &mut r[i..] {
            *v = flush_s((*v - m).exp());
            sum += *v;
        }
        let inv = f32x4_splat(1.0 / sum);
        let n = r.len();
        let mut i = 0;
        // SAFETY: i + 4 <= n for every vector access.
        unsafe {
            while i + 4 <= n {
                let p = r.as_mut_ptr().add(i);
                store(p, flush(f32x4_mul(load(p), inv)));
                i += 4;
            }
        }
        let inv_s = 1.0 / sum;
        for v in &mut r[i..] {
            *v = flush_s(*v * inv_s);
        }
    }
}

/// Smallest and largest value; NaN if any value is NaN.
pub fn min_max_f32(x: &[f32]) -> (f32, f32) {
    let n = x.len();
    let (mut lo, mut hi) = (f32x4_splat(f32::INFINITY), f32x4_splat(f32::NEG_INFINITY));
    let mut nan = f32x4_splat(0.0);
    let mut i = 0;
    // SAFETY: i + 8 (then i + 4) <= n for every vector access.
    unsafe {
        // Two chains of comparisons, so each waits on half as many latencies.
        let (mut lo2, mut hi2) = (lo, hi);
        while i + 8 <= n {
            let (v, w) = (load(x.as_ptr().add(i)), load(x.as_ptr().add(i + 4)));
            lo = f32x4_pmin(lo, v);
            hi = f32x4_pmax(hi, v);
            lo2 = f32x4_pmin(lo2, w);
            hi2 = f32x4_pmax(hi2, w);
            nan = v128_or(nan, v128_or(f32x4_ne(v, v), f32x4_ne(w, w)));
            i += 8;
        }
        lo = f32x4_pmin(lo, lo2);
        hi = f32x4_pmax(hi, hi2);
        while i + 4 <= n {
            let v = load(x.as_ptr().add(i));
            // pmin/pmax are the reference's comparisons (and one instruction
            // each in V8, unlike min/max); NaN is tracked on the side.
            lo = f32x4_pmin(lo, v);
            hi = f32x4_pmax(hi, v);
            nan = v128_or(nan, f32x4_ne(v, v));
            i += 4;
        }
    }
    let lanes = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
    let (mut l, mut h) = super::reference::min_max_f32(&x[i..]);
    if v128_any_true(nan) || l.is_nan() {
        return (f32::NAN, f32::NAN);
    }
    for (a, b) in lanes(lo).into_iter().zip(lanes(hi)) {
        l = if a < l { a } else { l };
        h = if b > h { b } else { h };
    }
    (l, h)
}
