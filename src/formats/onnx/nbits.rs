//! onnxruntime's `com.microsoft.MatMulNBits` weight format, packed and
//! unpacked in one place (the quantiser writes it, the op reads it).
//!
//! A `[K, N]` weight is stored per column `n`, per block of `block` rows
//! along K: `B[n, block_index, blob]` with `blob = block·bits/8` bytes, codes
//! of `bits` bits packed low bits first; `scales[n·k_blocks + block_index]`;
//! zero points (optional, default `2^(bits−1)`) packed the same way, one row
//! of `ceil(k_blocks·bits/8)` bytes per column. Rows past K in the last
//! block hold the block's zero point.

use crate::error::{Result, SquishError};
use crate::tensor::Tensor;

/// The shape of a MatMulNBits weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NBitsLayout {
    pub k: usize,
    pub n: usize,
    pub bits: usize,
    pub block: usize,
}

impl NBitsLayout {
    /// Checks what onnxruntime accepts: 2, 4 or 8 bits; a power-of-two block of at least 16.
    pub fn new(k: usize, n: usize, bits: usize, block: usize) -> Result<NBitsLayout> {
        if ![2, 4, 8].contains(&bits) {
            return Err(SquishError::op(format!("bits must be 2, 4 or 8, got {bits}")));
        }
        if block < 16 || !block.is_power_of_two() {
            return Err(SquishError::op(format!("block_size must be a power of two ≥ 16, got {block}")));
        }
        if k == 0 || n == 0 {
            return Err(SquishError::op(format!("K and N must be positive, got K = {k}, N = {n}")));
        }
        Ok(NBitsLayout { k, n, bits, block })
    }

    pub fn k_blocks(&self) -> usize {
        self.k.div_ceil(self.block)
    }

    /// Bytes of one block of one column.
    pub fn blob_bytes(&self) -> usize {
        self.block * self.bits / 8
    }

    /// Bytes of one column's packed zero points.
    pub fn zero_point_row_bytes(&self) -> usize {
        (self.k_blocks() * self.bits).div_ceil(8)
    }

    fn codes_per_byte(&self) -> usize {
        8 / self.bits
    }

    /// Packs codes given as a row-major `[K, N]` matrix, with the zero point
    /// of each (block, column) in `zero_points[block·N + column]`. Returns
    /// `B` (`[N, k_blocks, blob]` bytes) and the packed zero points.
    pub fn pack(&self, codes: &[i16], zero_points: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (kk, nn, bits, block, kb) = (self.k, self.n, self.bits, self.block, self.k_blocks());
        assert_eq!(codes.len(), kk * nn, "codes of a [K, N] matrix");
        assert_eq!(zero_points.len(), kb * nn, "one zero point per block and column");
        let (blob, per) = (self.blob_bytes(), self.codes_per_byte());
        let mut b = vec![0u8; nn * kb * blob];
        for col in 0..nn {
            for blk in 0..kb {
                let zp = zero_points[blk * nn + col];
                let bytes = &mut b[(col * kb + blk) * blob..][..blob];
                for i in 0..block {
                    let row = blk * block + i;
                    let code = if row < kk { codes[row * nn + col] as u8 } else { zp };
                    bytes[i / per] |= code << ((i % per) * bits);
                }
            }
        }
        let row = self.zero_point_row_bytes();
        let mut z = vec![0u8; nn * row];
        for col in 0..nn {
            for blk in 0..kb {
                z[col * row + blk / per] |= zero_points[blk * nn + col] << ((blk % per) * bits);
            }
        }
        (b, z)
    }

    /// Scales given per (block, column) as `[k_blocks, N]`, in the format's order `[N, k_blocks]`.
    pub fn scales_by_column(&self, by_block: &[f32]) -> Vec<f32> {
        let kb = self.k_blocks();
        (0..self.n * kb).map(|i| by_block[(i % kb) * self.n + i / kb]).collect()
    }
}

/// The stored weights of a MatMulNBits node, checked against its layout;
/// dequantises any range of columns.
pub struct NBitsWeights<'a> {
    layout: NBitsLayout,
    b: &'a [u8],
    scales: Vec<f32>,
    zero_points: ZeroPoints,
}

enum ZeroPoints {
    Default(f32),
    /// Packed like the weights, one row of `zero_point_row_bytes` per column.
    Packed(Vec<u8>),
    Float(Vec<f32>),
}

impl<'a> NBitsWeights<'a> {
    pub fn new(layout: NBitsLayout, b: &'a [u8], scales: Vec<f32>, zero_points: Option<&Tensor>) -> Result<Self> {
        let (n, blocks, blob) = (layout.n, layout.k_blocks(), layout.blob_bytes());
        if b.len() != n * blocks * blob {
            return Err(SquishError::op(format!("B has {} bytes; expected N·k_blocks·blob_size = {n}·{blocks}·{blob}", b.len())));
        }
        if scales.len() != n * blocks {
            return Err(SquishError::op(format!("scales has {} values; expected N·k_blocks = {}", scales.len(), n * blocks)));
        }
        let zp_row = layout.zero_point_row_bytes();
        let zero_points = match zero_points {
            None => ZeroPoints::Default((1u32 << (layout.bits - 1)) as f32),
            Some(Tensor::U8(z)) if z.len() == n * zp_row => ZeroPoints::Packed(z.iter().copied().collect()),
            Some(Tensor::U8(z)) => return Err(SquishError::op(format!("packed zero_points has {} bytes; expected {}", z.len(), n * zp_row))),
            Some(t) if t.len() == n * blocks => ZeroPoints::Float(t.to_f64_vec().into_iter().map(|v| v as f32).collect()),
            Some(t) => return Err(SquishError::op(format!("zero_points has {} values; expected {}", t.len(), n * blocks))),
        };
        Ok(NBitsWeights { layout, b, scales, zero_points })
    }

    /// Columns `j..j + out.len() / K` of the dequantised `[K, N]` matrix,
    /// row-major into `out`.
    pub fn fill(&self, j: usize, out: &mut [f32]) {
        let NBitsLayout { k, bits, block, .. } = self.layout;
        let wc = out.len() / k.max(1);
        let (blocks, blob, per) = (self.layout.k_blocks(), self.layout.blob_bytes(), self.layout.codes_per_byte());
        let zp_row = self.layout.zero_point_row_bytes();
        let mask = ((1u16 << bits) - 1) as u8;
        for c in 0..wc {
            let col = j + c;
            for blk in 0..blocks {
                let s = self.scales[col * blocks + blk];
                let z = match &self.zero_points {
                    ZeroPoints::Default(z) => *z,
                    ZeroPoints::Packed(zp) => ((zp[col * zp_row + blk / per] >> ((blk % per) * bits)) & mask) as f32,
                    ZeroPoints::Float(zp) => zp[col * blocks + blk],
                };
                let bytes = &self.b[(col * blocks + blk) * blob..][..blob];
                for i in 0..block.min(k - blk * block) {
                    let q = (bytes[i / per] >> ((i % per) * bits)) & mask;
                    out[(blk * block + i) * wc + c] = (q as f32 - z) * s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// Codes packed and unpacked again come back exactly, for every bit width,
    /// a K that does not fill its last block, and packed zero points.
    #[wasm_bindgen_test(unsupported = test)]
    fn pack_then_unpack_is_the_identity() {
        for bits in [2usize, 4, 8] {
            let layout = NBitsLayout::new(45, 3, bits, 16).unwrap();
            let (kk, nn, kb) = (layout.k, layout.n, layout.k_blocks());
            let top = (1i16 << bits) - 1;
            let codes: Vec<i16> = (0..kk * nn).map(|i| ((i * 7 + 3) % (top as usize + 1)) as i16).collect();
            let zps: Vec<u8> = (0..kb * nn).map(|i| ((i * 5) % (top as usize + 1)) as u8).collect();
            let (b, z) = layout.pack(&codes, &zps);
            assert_eq!(b.len(), nn * kb * layout.blob_bytes());
            assert_eq!(z.len(), nn * layout.zero_point_row_bytes());
            let zt = Tensor::from_vec(&[z.len()], z).unwrap();
            // Scale 1: the dequantised value is code − zero point.
            let w = NBitsWeights::new(layout, &b, vec![1.0; nn * kb], Some(&zt)).unwrap();
            let mut out = vec![0.0f32; kk * nn];
            w.fill(0, &mut out);
            for r in 0..kk {
                for c in 0..nn {
                    let want = codes[r * nn + c] as f32 - zps[(r / 16) * nn + c] as f32;
                    assert_eq!(out[r * nn + c], want, "bits {bits}, row {r}, column {c}");
                }
            }
            // A range of columns gives the same values.
            let mut one = vec![0.0f32; kk];
            w.fill(2, &mut one);
            assert!((0..kk).all(|r| one[r] == out[r * nn + 2]));
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn layout_and_sizes_are_checked() {
        assert!(NBitsLayout::new(64, 8, 3, 32).unwrap_err().to_string().contains("bits must be 2, 4 or 8"));
        assert!(NBitsLayout::new(64, 8, 4, 24).unwrap_err().to_string().contains("power of two"));
        let layout = NBitsLayout::new(64, 2, 4, 32).unwrap();
        let err = NBitsWeights::new(layout, &[0u8; 3], vec![1.0; 4], None).err().unwrap();
        assert!(err.to_string().contains("B has 3 bytes"), "{err}");
        assert_eq!(layout.scales_by_column(&[1.0, 2.0, 3.0, 4.0]), vec![1.0, 3.0, 2.0, 4.0]);
    }
}
