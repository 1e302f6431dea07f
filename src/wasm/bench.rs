//! Benchmark-only exports (feature `bench`, built by `npm run bench`, not
//! shipped): the f32 GEMM timing harness.

use wasm_bindgen::prelude::*;

use crate::kernels;
use crate::kernels::winograd::{force, Tile};

/// Forces the Winograd tile size of convolutions first run from now on (2:
/// F(2×2, 3×3), 4: F(4×4, 3×3), 0: by plane size, the default), for
/// same-run A/B timings.
#[wasm_bindgen(js_name = forceWinogradTile)]
pub fn force_winograd_tile(outputs: usize) -> Result<(), JsError> {
    force(match outputs {
        0 => None,
        2 => Some(Tile::F2),
        4 => Some(Tile::F4),
        _ => return Err(JsError::new("forceWinogradTile takes 0, 2 or 4")),
    });
    Ok(())
}

/// f32 GEMM timing harness for `npm run bench`: Squish's `gemm_f32` (packing
/// included) next to the prepacked ceiling micro-kernel, on the same data.
/// JavaScript times the calls.
#[wasm_bindgen]
pub struct GemmBench {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    a_packed: Vec<f32>,
    b_packed: Vec<f32>,
    c: Vec<f32>,
    /// The runtime's operands for constant weights: f32 B packed once, and
    /// int8 B (centred, packed as i16 pairs) with u8 activations.
    b_runtime_f32: Vec<f32>,
    b_runtime_i16: Vec<i16>,
    b_runtime_pn: Option<Vec<u8>>,
    a_u8: Vec<u8>,
    c_i32: Vec<i32>,
    /// B with zeros put in by `setSparsity`, in the sparse kernel's form.
    b_sparse: Option<kernels::sparse::SparseB>,
}

#[wasm_bindgen]
impl GemmBench {
    #[wasm_bindgen(constructor)]
    pub fn new(m: usize, k: usize, n: usize) -> Result<GemmBench, JsError> {
        if m % 4 != 0 || n % 8 != 0 || m * k > 1 << 26 || k * n > 1 << 26 {
            return Err(JsError::new("GemmBench needs m a multiple of 4, n of 8, and operands under 2^26 elements"));
        }
        let fill = |len: usize, seed: u32| {
            (0..len).map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / (1 << 24) as f32 - 0.5).collect::<Vec<f32>>()
        };
        let (a, b) = (fill(m * k, 1), fill(k * n, 2));
        let a_packed = kernels::ceiling::pack_a(m, k, &a);
        let b_packed = kernels::ceiling::pack_b(k, n, &b);
        let b_runtime_f32 = kernels::pack_b_f32(k, n, &b);
        let b_i16: Vec<i16> = b.iter().map(|v| (v * 254.0).round() as i16).collect();
        let b_runtime_i16 = kernels::pack_b_i16(k, n, &b_i16);
        let b_runtime_pn = if cfg!(target_feature = "relaxed-simd") { kernels::pack_b_pn(k, n, &b_i16) } else { None };
        let a_u8 = a.iter().map(|v| ((v + 0.5) * 255.0) as u8).collect();
        Ok(GemmBench {
            m,
            k,
            n,
            a,
            b,
            a_packed,
            b_packed,
            c: vec![0.0; m * n],
            b_runtime_f32,
            b_runtime_i16,
            b_runtime_pn,
            a_u8,
            c_i32: vec![0; m * n],
            b_sparse: None,
        })
    }

    pub fn squish(&mut self) {
        kernels::active::gemm_f32(self.m, self.k, self.n, &self.a, &self.b, &mut self.c);
    }

    pub fn ceiling(&mut self) {
        kernels::ceiling::gemm_prepacked(self.m, self.k, self.n, &self.a_packed, &self.b_packed, &mut self.c);
    }

    /// f32 GEMM as MatMul runs it with a constant (prepacked) weight.
    #[wasm_bindgen(js_name = squishPackedB)]
    pub fn squish_packed_b(&mut self) {
        kernels::active::gemm_f32_packed(self.m, self.k, self.n, &self.a, &self.b_runtime_f32, &mut self.c);
    }

    /// int8 GEMM as MatMulInteger runs it: u8 activations centred and packed
    /// (included), int8 weights prepacked, i32 out.
    /// The relaxed build's sign-split kernel (`relaxed_dot_i8x16_i7x16_add`),
    /// measured beside `int8` to show whether it would pay; false elsewhere.
    #[wasm_bindgen(js_name = int8SignSplit)]
    pub fn int8_sign_split(&mut self) -> bool {
        let Some(bp) = &self.b_runtime_pn else { return false };
        let a8: Vec<i8> = self.a_u8.iter().map(|&v| (v as i16 - 128) as i8).collect();
        kernels::active::gemm_i8_pn_packed(self.m, self.k, self.n, &kernels::pack_a_i8(self.m, self.k, &a8), bp, &mut self.c_i32);
        true
    }

    /// int8 GEMM as MatMulInteger runs it (i16 pairs in both builds).
    pub fn int8(&mut self) {
        let centred: Vec<i16> = self.a_u8.iter().map(|&v| v as i16 - 128).collect();
        let ap = kernels::pack_a_i16(self.m, self.k, &centred);
        kernels::active::gemm_i16_packed(self.m, self.k, self.n, &ap, &self.b_runtime_i16, &mut self.c_i32);
    }

    /// Zeroes B's smallest weights: a share `zeros` of each column, or 2 of
    /// every 4 consecutive inputs when `two_of_four`; the dense operand keeps
    /// the same zeros, so both kernels compute the same product.
    #[wasm_bindgen(js_name = setSparsity)]
    pub fn set_sparsity(&mut self, zeros: f64, two_of_four: bool) {
        let (k, n) = (self.k, self.n);
        let mut b = self.b.clone();
        for j in 0..n {
            let groups: Vec<Vec<usize>> = if two_of_four { (0..k).step_by(4).map(|g| (g..(g + 4).min(k)).collect()).collect() } else { vec![(0..k).collect()] };
            for g in groups {
                let mut order = g.clone();
                order.sort_by(|&x, &y| b[x * n + j].abs().total_cmp(&b[y * n + j].abs()));
                let drop = if two_of_four { g.len() / 2 } else { (zeros * g.len() as f64).round() as usize };
                order[..drop].iter().for_each(|&p| b[p * n + j] = 0.0);
            }
        }
        self.b_runtime_f32 = kernels::pack_b_f32(k, n, &b);
        self.b_sparse = Some(kernels::sparse::SparseB::from_dense(k, n, &b));
    }

    /// The sparse kernel on `setSparsity`'s weights (as MatMul runs it, with
    /// the non-finite check).
    #[wasm_bindgen(js_name = squishSparse)]
    pub fn squish_sparse(&mut self) {
        let Some(sb) = &self.b_sparse else { return };
        kernels::active::gemm_f32_sparse(self.m, &self.a, sb, &mut self.c, kernels::sparse::Layout::RowMajor);
        kernels::sparse::propagate_non_finite(self.m, &self.a, sb, &mut self.c, kernels::sparse::Layout::RowMajor);
    }

    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.k as f64 * self.n as f64
    }
}
