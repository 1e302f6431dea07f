//! Compute kernels. Each exists as a scalar `reference` and a `simd128` twin
//! with the same signature; `active` is the one the runtime calls. The same
//! property suite (`tests/`) checks every implementation.

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
/// A plain prepacked micro-kernel: the practical GEMM ceiling `npm run bench` compares with.
#[cfg(feature = "bench")]
pub mod ceiling;
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;
pub mod sparse;
pub mod stats;
pub mod winograd;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub use reference as active;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub use simd128 as active;

#[cfg(test)]
mod tests;

/// `c` as storage that kernels writing every value (`gemm_f32_prepacked_then`)
/// take, so that callers may hand them uninitialised memory instead.
pub fn as_uninit(c: &mut [f32]) -> &mut [core::mem::MaybeUninit<f32>] {
    // SAFETY: same layout; MaybeUninit<f32> admits every f32, and the kernels
    // only ever write initialised values through it.
    unsafe { &mut *(c as *mut [f32] as *mut [core::mem::MaybeUninit<f32>]) }
}

/// What a GEMM does to each output as it stores it: adds its row's bias,
/// then bounds it from below and above with Relu's and Clip's own
/// comparisons (`x < lo`, `x > hi`: NaN passes), as a convolution's bias
/// and fused activation would in a pass of their own — bit-identical, and
/// the output is not read twice.
#[derive(Debug, Clone, Copy, Default)]
pub struct Epilogue<'a> {
    /// One value per row of C.
    pub bias: Option<&'a [f32]>,
    pub lo: Option<f32>,
    pub hi: Option<f32>,
}

impl Epilogue<'_> {
    /// Output `v` of row `row`, finished.
    #[inline(always)]
    pub fn apply(&self, row: usize, mut v: f32) -> f32 {
        if let Some(b) = self.bias {
            v += b[row];
        }
        if let Some(l) = self.lo {
            v = if v < l { l } else { v };
        }
        if let Some(h) = self.hi {
            v = if v > h { h } else { v };
        }
        v
    }
}

/// Columns per packed panel of a GEMM's B operand.
pub const GEMM_NR: usize = 8;

/// Packs B (k×n, row-major) for `gemm_f32_packed`: panels of 8 columns, each
/// `k × 8` contiguous, the last one zero-padded. Done once for constant
/// weights at load time.
pub fn pack_b_f32(k: usize, n: usize, b: &[f32]) -> Vec<f32> {
    assert!(b.len() >= k * n, "pack_b_f32: B too small");
    let panels = n.div_ceil(GEMM_NR);
    let mut out = vec![0.0f32; panels * k * GEMM_NR];
    if k == 0 {
        return out;
    }
    for (jp, panel) in out.chunks_exact_mut(k * GEMM_NR).enumerate() {
        let j = jp * GEMM_NR;
        let w = GEMM_NR.min(n - j);
        for (p, dst) in panel.chunks_exact_mut(GEMM_NR).enumerate() {
            let src = &b[p * n + j..p * n + j + w];
            // A fixed-length copy for full panels: two vector moves, not a memcpy call.
            match <&[f32; GEMM_NR]>::try_from(src) {
                Ok(full) => dst.copy_from_slice(full),
                Err(_) => dst[..w].copy_from_slice(src),
            }
        }
    }
    out
}

/// Rows per packed panel of a GEMM's A operand.
pub const GEMM_MR: usize = 4;

/// Packs A (m×k, row-major) for `gemm_f32_prepacked`: panels of 4 rows, each
/// `k × 4` (row r of the panel in lane r), the last one zero-padded. Done
/// once for a convolution's constant filters at load time.
pub fn pack_a_f32(m: usize, k: usize, a: &[f32]) -> Vec<f32> {
    assert!(a.len() >= m * k, "pack_a_f32: A too small");
    let blocks = m.div_ceil(GEMM_MR);
    let mut out = vec![0.0f32; blocks * k * GEMM_MR];
    for ib in 0..blocks {
        let dst = &mut out[ib * k * GEMM_MR..(ib + 1) * k * GEMM_MR];
        for r in 0..GEMM_MR.min(m - ib * GEMM_MR) {
            let row = &a[(ib * GEMM_MR + r) * k..(ib * GEMM_MR + r + 1) * k];
            for (p, &v) in row.iter().enumerate() {
                dst[p * GEMM_MR + r] = v;
            }
        }
    }
    out
}

/// The constants of an exact-erf GELU written out as ops, as exporters
/// emit it: `t = x / divisor` (or `x · divisor` when `!divide`),
/// `e = erf(t) + one`, then `(x · e) · half`, or `(x · half) · e` when
/// `half_first`. The kernels replay exactly these float operations, so the
/// fused pass equals the op-by-op chain bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeluChain {
    pub divisor: f32,
    pub divide: bool,
    pub one: f32,
    pub half: f32,
    pub half_first: bool,
}

impl GeluChain {
    /// ONNX `Gelu` (approximate = "none"): `0.5 · x · (1 + erf(x / √2))`.
    pub const STANDARD: GeluChain = GeluChain { divisor: std::f32::consts::FRAC_1_SQRT_2, divide: false, one: 1.0, half: 0.5, half_first: true };
}

/// Geometry of a direct depthwise convolution of one zero-padded plane
/// (`ph × pw`, padding already applied) into one `oh × ow` output plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthwiseShape {
    pub ph: usize,
    pub pw: usize,
    pub kh: usize,
    pub kw: usize,
    pub sy: usize,
    pub sx: usize,
    pub dy: usize,
    pub dx: usize,
    pub oh: usize,
    pub ow: usize,
}

impl DepthwiseShape {
    /// Every tap of every output lies inside the padded plane (and strides and
    /// dilations are ≥ 1): what the kernels assume.
    pub fn is_valid(&self) -> bool {
        let fits = |o: usize, s: usize, k: usize, d: usize, p: usize| o == 0 || k == 0 || (o - 1) * s + (k - 1) * d < p;
        self.sy > 0
            && self.sx > 0
            && self.dy > 0
            && self.dx > 0
            && fits(self.oh, self.sy, self.kh, self.dy, self.ph)
            && fits(self.ow, self.sx, self.kw, self.dx, self.pw)
    }
}

/// Where an unpadded `h × w` plane sits inside a depthwise kernel's padded
/// one (`DepthwiseShape::ph × pw`): `top` rows and `left` columns of padding
/// before it, the rest after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneInPadding {
    pub h: usize,
    pub w: usize,
    pub top: usize,
    pub left: usize,
}

impl PlaneInPadding {
    /// What `depthwise_codes` works on, checked: `(planes, channels)` for
    /// `x_len` codes, `taps_len` filter values and an output of `out_len`.
    pub fn depthwise_counts(&self, s: &DepthwiseShape, x_len: usize, taps_len: usize, out_len: usize) -> (usize, usize) {
        let planes = x_len.checked_div(self.h * self.w).unwrap_or(0);
        let channels = taps_len.checked_div(s.kh * s.kw).unwrap_or(0);
        let fits = s.is_valid() && self.top + self.h <= s.ph && self.left + self.w <= s.pw;
        assert!(fits && out_len >= planes * s.oh * s.ow && (planes == 0 || channels > 0), "depthwise_codes: bad geometry");
        (planes, channels)
    }
}

/// How integer kernels turn one output row's (or plane's) i32 sums into
/// floats: `(acc as f32) · scale[row]`, `+ bias[row]` if there is one, then
/// the fused activation's bounds (`< lo` → lo, `> hi` → hi, NaN kept) — what
/// the op chain Cast → Mul → Add → Relu|Clip computes, bit for bit.
#[derive(Debug, Clone, Copy)]
pub struct RowScale<'a> {
    pub scale: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub lo: Option<f32>,
    pub hi: Option<f32>,
}

impl RowScale<'_> {
    /// The same rows from `first` on.
    pub fn from_row(&self, first: usize) -> RowScale<'_> {
        RowScale { scale: &self.scale[first..], bias: self.bias.map(|b| &b[first..]), lo: self.lo, hi: self.hi }
    }
}

/// An integer kernel's output: the exact i32 sums, or floats made by a
/// `RowScale` (no i32 buffer in between).
pub enum IntOut<'a> {
    I32(&'a mut [i32]),
    F32(&'a mut [f32], RowScale<'a>),
}

impl IntOut<'_> {
    pub fn len(&self) -> usize {
        match self {
            IntOut::I32(o) => o.len(),
            IntOut::F32(o, _) => o.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which kernel set this build runs, for the page and the CLI.
pub fn active_name() -> &'static str {
    if cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")) {
        "simd128+relaxed"
    } else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "simd128"
    } else {
        "scalar"
    }
}

/// Rows per packed A panel of the integer GEMM.
pub const IGEMM_MR: usize = 4;
/// Columns per packed B panel of the integer GEMM.
pub const IGEMM_NR: usize = 8;

/// Packs A (m×k, row-major, zero points already subtracted) for
/// `gemm_i16_packed`: panels of 4 rows; per pair of `k` steps the panel holds
/// `[r0 k0, r0 k1, r1 k0, r1 k1, …]` (8 values), so one vector load gives
/// every row's pair. Odd `k` and the last panel's missing rows are zero.
pub fn pack_a_i16(m: usize, k: usize, a: &[i16]) -> Vec<i16> {
    assert!(a.len() >= m * k, "pack_a_i16: A too small");
    let kq = k.div_ceil(2);
    let mut out = vec![0i16; m.div_ceil(IGEMM_MR) * kq * 2 * IGEMM_MR];
    if k == 0 {
        return out;
    }
    for i in 0..m {
        let (ib, r) = (i / IGEMM_MR, i % IGEMM_MR);
        let dst = &mut out[ib * kq * 2 * IGEMM_MR + r * 2..];
        for (q, pair) in a[i * k..(i + 1) * k].chunks(2).enumerate() {
            dst[q * 2 * IGEMM_MR..q * 2 * IGEMM_MR + pair.len()].copy_from_slice(pair);
        }
    }
    out
}

/// `pack_a_i16` straight from raw 8-bit A (m×k, row-major), subtracting
/// each row's zero point on the way: one pass, one buffer.
pub fn pack_a_i16_centred<T: Copy + Into<i16>>(m: usize, k: usize, a: &[T], row_zp: &[i16]) -> Vec<i16> {
    assert!(a.len() >= m * k && row_zp.len() >= m, "pack_a_i16_centred: A too small");
    let kq = k.div_ceil(2);
    let mut out = vec![0i16; m.div_ceil(IGEMM_MR) * kq * 2 * IGEMM_MR];
    if k == 0 {
        return out;
    }
    for (i, (row, &z)) in a.chunks_exact(k).zip(row_zp).take(m).enumerate() {
        let (ib, r) = (i / IGEMM_MR, i % IGEMM_MR);
        let dst = &mut out[ib * kq * 2 * IGEMM_MR + r * 2..];
        for (q, pair) in row.chunks(2).enumerate() {
            for (d, &v) in dst[q * 2 * IGEMM_MR..].iter_mut().zip(pair) {
                *d = v.into() - z;
            }
        }
    }
    out
}

/// Packs B (k×n, row-major, zero points already subtracted) for
/// `gemm_i16_packed`: panels of 8 columns; per pair of `k` steps the panel
/// holds `[c0 k0, c0 k1, c1 k0, c1 k1, …, c7 k1]` (16 values).
pub fn pack_b_i16(k: usize, n: usize, b: &[i16]) -> Vec<i16> {
    active::pack_b_codes(k, n, &Codes { codes: b, zero_point: 0 }, 0)
}

/// Integer codes the integer kernels read straight from a tensor (uint8,
/// int8, or already-widened i16), widened to i16.
pub trait Code: Copy + Into<i16> {
    /// Eight consecutive codes as i16 lanes.
    ///
    /// # Safety
    /// `p` must be valid for reading eight values.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe fn load_i16x8(p: *const Self) -> core::arch::wasm32::v128;
}

impl Code for u8 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe fn load_i16x8(p: *const u8) -> core::arch::wasm32::v128 {
        core::arch::wasm32::u16x8_load_extend_u8x8(p)
    }
}

impl Code for i8 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe fn load_i16x8(p: *const i8) -> core::arch::wasm32::v128 {
        core::arch::wasm32::i16x8_load_extend_i8x8(p)
    }
}

impl Code for i16 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe fn load_i16x8(p: *const i16) -> core::arch::wasm32::v128 {
        core::arch::wasm32::v128_load(p as *const core::arch::wasm32::v128)
    }
}

/// What the integer kernels read: a sequence of 8-bit codes with their zero
/// point subtracted, as i16 — stored codes, or floats quantised as they are
/// read (so the codes never exist as a tensor).
pub trait Centred {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`: code minus zero point.
    fn at(&self, i: usize) -> i16;

    /// Values `i … i + 7` as i16 lanes.
    ///
    /// # Safety
    /// `i + 8 ≤ len()`.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe fn eight(&self, i: usize) -> core::arch::wasm32::v128;
}

/// Stored codes and their one zero point.
#[derive(Clone, Copy)]
pub struct Codes<'a, T: Code> {
    pub codes: &'a [T],
    pub zero_point: i16,
}

impl<T: Code> Centred for Codes<'_, T> {
    fn len(&self) -> usize {
        self.codes.len()
    }

    fn at(&self, i: usize) -> i16 {
        self.codes[i].into().wrapping_sub(self.zero_point)
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe fn eight(&self, i: usize) -> core::arch::wasm32::v128 {
        use core::arch::wasm32::*;
        i16x8_sub(T::load_i16x8(self.codes.as_ptr().add(i)), i16x8_splat(self.zero_point))
    }
}

/// Floats read as the uint8 codes `quantize_u8` gives them (x / scale,
/// rounded half to even, plus the zero point, clamped), minus the zero point.
#[derive(Clone, Copy)]
pub struct QuantizedF32<'a> {
    pub x: &'a [f32],
    pub scale: f32,
    pub zero_point: u8,
}

impl Centred for QuantizedF32<'_> {
    fn len(&self) -> usize {
        self.x.len()
    }

    fn at(&self, i: usize) -> i16 {
        reference::quantize_one(self.x[i], self.scale, self.zero_point as f32) as i16 - self.zero_point as i16
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe fn eight(&self, i: usize) -> core::arch::wasm32::v128 {
        use core::arch::wasm32::*;
        let zp = self.zero_point as f32;
        let (sv, lo, hi) = (f32x4_splat(self.scale), f32x4_splat(-zp), f32x4_splat(255.0 - zp));
        let p = self.x.as_ptr().add(i) as *const v128;
        i16x8_narrow_i32x4(simd128::quantize_centred_lanes(v128_load(p), sv, lo, hi), simd128::quantize_centred_lanes(v128_load(p.add(1)), sv, lo, hi))
    }
}

/// Length of `pack_a_i16`'s output (callers that pack in place size with it).
pub fn packed_a_i16_len(m: usize, k: usize) -> usize {
    m.div_ceil(IGEMM_MR) * k.div_ceil(2) * 2 * IGEMM_MR
}

/// Columns per packed B panel of the signed-split int8 GEMM (relaxed build).
pub const PN_NR: usize = 4;

/// Packs A (m×k, i8) for `gemm_i8_pn_packed`: panels of 4 rows; per group of
/// four `k` steps, 16 bytes `[r0 k0..k3, r1 k0..k3, …]`. Padding is zero.
pub fn pack_a_i8(m: usize, k: usize, a: &[i8]) -> Vec<i8> {
    assert!(a.len() >= m * k, "pack_a_i8: A too small");
    let kq = k.div_ceil(4);
    let mut out = vec![0i8; m.div_ceil(IGEMM_MR) * kq * 16];
    for i in 0..m {
        let base = (i / IGEMM_MR) * kq * 16 + (i % IGEMM_MR) * 4;
        for (p, &v) in a[i * k..(i + 1) * k].iter().enumerate() {
            out[base + (p / 4) * 16 + p % 4] = v;
        }
    }
    out
}

/// Packs B (k×n, values in [-127, 127]) split by sign, for
/// `gemm_i8_pn_packed`: `B = P − N` with `P = max(B, 0)` and
/// `N = max(−B, 0)`, both in [0, 127] — the 7-bit operand the relaxed
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` is exact for. Panels of 4 columns;
/// per group of four `k` steps 16 bytes of P then 16 of N, column `j`'s four
/// bytes at `4j`. Returns `None` if a value is outside [-127, 127].
pub fn pack_b_pn(k: usize, n: usize, b: &[i16]) -> Option<Vec<u8>> {
    assert!(b.len() >= k * n, "pack_b_pn: B too small");
    if b[..k * n].iter().any(|&v| !(-127..=127).contains(&v)) {
        return None;
    }
    let kq = k.div_ceil(4);
    let mut out = vec![0u8; n.div_ceil(PN_NR) * kq * 32];
    for p in 0..k {
        for (j, &v) in b[p * n..(p + 1) * n].iter().enumerate() {
            let base = (j / PN_NR) * kq * 32 + (p / 4) * 32 + (j % PN_NR) * 4 + p % 4;
            if v >= 0 {
                out[base] = v as u8;
            } else {
                out[base + 16] = (-v) as u8;
            }
        }
    }
    Some(out)
}
