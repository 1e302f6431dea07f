//! Constant weights with most entries zero (pruned models, from Squish or
//! another tool), stored column by column without the zeros, for
//! `gemm_f32_sparse`. Each output sums its non-zero products in input order,
//! starting from zero, exactly as the dense kernels sum all of them: adding
//! the skipped `±0` products leaves a sum unchanged, so the results are equal
//! bit for bit whenever A is finite (`propagate_non_finite` covers the rest).

/// B (k×n) in compressed-column form: for output column j, the inputs
/// `rows[starts[j]..starts[j + 1]]` (ascending) have the weights
/// `values[starts[j]..starts[j + 1]]`; every other B[p][j] is zero.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseB {
    pub k: usize,
    pub n: usize,
    pub starts: Vec<u32>,
    pub rows: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseB {
    /// Drops the zeros (±0) of B (k×n, row-major). NaN weights are kept.
    pub fn from_dense(k: usize, n: usize, b: &[f32]) -> SparseB {
        assert!(b.len() >= k * n, "SparseB::from_dense: B too small");
        assert!(k <= u32::MAX as usize && k * n <= u32::MAX as usize, "SparseB::from_dense: B too large for 32-bit indices");
        // Two row-major passes (count per column, then place), not a strided
        // walk down each column: a 1536×384 weight is read in order.
        let mut starts = vec![0u32; n + 1];
        for row in b[..k * n].chunks_exact(n.max(1)).take(k) {
            for (j, v) in row.iter().enumerate() {
                starts[j + 1] += (*v != 0.0) as u32;
            }
        }
        for j in 0..n {
            starts[j + 1] += starts[j];
        }
        let total = starts[n] as usize;
        let (mut rows, mut values) = (vec![0u32; total], vec![0.0f32; total]);
        let mut next: Vec<u32> = starts[..n].to_vec();
        for (p, row) in b[..k * n].chunks_exact(n.max(1)).take(k).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    let at = next[j] as usize;
                    rows[at] = p as u32;
                    values[at] = v;
                    next[j] += 1;
                }
            }
        }
        SparseB { k, n, starts, rows, values }
    }

    pub fn nonzeros(&self) -> usize {
        self.values.len()
    }

    /// Bytes held: what the sparse form costs in memory.
    pub fn bytes(&self) -> usize {
        4 * (self.starts.len() + self.rows.len() + self.values.len())
    }

    /// The inputs and weights of output column j.
    pub fn column(&self, j: usize) -> (&[u32], &[f32]) {
        let (s, e) = (self.starts[j] as usize, self.starts[j + 1] as usize);
        (&self.rows[s..e], &self.values[s..e])
    }
}

/// How `gemm_f32_sparse` reads A (m×k) and writes C (m×n): row-major
/// (`a[i·k + p]`, `c[i·n + j]`, a MatMul's activations), or transposed
/// (`a[p·m + i]`, `c[j·m + i]`: a 1×1 convolution's channels × pixels, so
/// its weight is B and its pixels are the rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    RowMajor,
    Transposed,
}

impl Layout {
    /// Index of A[i][p].
    #[inline(always)]
    pub fn a(self, m: usize, k: usize, i: usize, p: usize) -> usize {
        match self {
            Layout::RowMajor => i * k + p,
            Layout::Transposed => p * m + i,
        }
    }

    /// Index of C[i][j].
    #[inline(always)]
    pub fn c(self, m: usize, n: usize, i: usize, j: usize) -> usize {
        match self {
            Layout::RowMajor => i * n + j,
            Layout::Transposed => j * m + i,
        }
    }
}

/// When the sparse kernel beats the dense packed one, measured with `npm run
/// bench` (`sparse_gemm_f32_*` rows, SIMD128, this machine kind; README,
/// "Sparse kernels"): with at least `MANY_ROWS` rows of A it is 1.15–1.6×
/// faster from half zeros (1.0–1.1× at 30%); with fewer, the dense kernel
/// wins until about 75% zeros (0.55× at 50%, 0.9× at 70%).
pub const SPARSE_GEMM_MANY_ROWS: usize = 16;
pub const SPARSE_GEMM_MIN_ZEROS: f64 = 0.5;
pub const SPARSE_GEMM_MIN_ZEROS_FEW_ROWS: f64 = 0.75;

/// Whether a constant weight (k×n) with this share of zeros gets the sparse
/// form at load (its indices are 32-bit).
pub fn worth_sparse_form(zeros: f64, k: usize, n: usize) -> bool {
    zeros >= SPARSE_GEMM_MIN_ZEROS && k.saturating_mul(n) <= u32::MAX as usize
}

/// Whether the sparse kernel beats the dense one for a call with `rows` rows of A.
pub fn sparse_is_faster(zeros: f64, rows: usize) -> bool {
    rows >= SPARSE_GEMM_MANY_ROWS || zeros >= SPARSE_GEMM_MIN_ZEROS_FEW_ROWS
}

/// Share of B's entries that are zero.
pub fn zero_fraction(b: &[f32]) -> f64 {
    if b.is_empty() {
        return 0.0;
    }
    b.iter().filter(|v| **v == 0.0).count() as f64 / b.len() as f64
}

/// The dense product multiplies a non-finite input by the zero weights the
/// sparse one skips (0·∞ = NaN): outputs of a row whose non-finite inputs
/// meet a zero weight become NaN, as in `gemm_f32`. Cheap when A is finite.
pub fn propagate_non_finite(m: usize, a: &[f32], b: &SparseB, c: &mut [f32], layout: Layout) {
    let k = b.k;
    if a[..m * k].iter().all(|v| v.is_finite()) {
        return;
    }
    for i in 0..m {
        let bad: Vec<u32> = (0..k).filter(|&p| !a[layout.a(m, k, i, p)].is_finite()).map(|p| p as u32).collect();
        if bad.is_empty() {
            continue;
        }
        for j in 0..b.n {
            let (rows, _) = b.column(j);
            // Every non-finite input must meet a stored weight, or 0·x ruins the sum.
            if bad.iter().any(|p| rows.binary_search(p).is_err()) {
                c[layout.c(m, b.n, i, j)] = f32::NAN;
            }
        }
    }
}
