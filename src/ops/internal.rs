//! Names of the runtime-only ops (domain `squish.internal`) that the
//! runtime's load-time passes put in place of chains of standard ops (and
//! that training puts in place of quantised weights). They
//! are never written to a file; the ops themselves live in their families
//! (`fused`, `linalg`, `conv`, `activation`).

/// Domain of runtime-only ops (never written to a file).
pub const INTERNAL_DOMAIN: &str = "squish.internal";
/// Inputs: A, B, a_zero_point, b_zero_point, scale, bias (optional);
/// output: `float(A·B in integers) · scale + bias`.
pub const SCALED_MATMUL_INTEGER: &str = "MatMulIntegerScaled";
/// ConvInteger → Cast → Mul(scale) [→ Add(bias)], conv attributes kept.
pub const SCALED_CONV_INTEGER: &str = "ConvIntegerScaled";
/// `DynamicConvInteger(x, w, "", w_zero_point, w_scale, [bias], [lo, hi])`:
/// DynamicQuantizeLinear(x) → ConvInteger → Cast → Mul(x_scale · w_scale)
/// [→ Add(bias)] [→ Relu|Clip], conv attributes kept; x is quantised as the
/// convolution reads it (the uint8 codes never exist as a tensor).
pub const DYNAMIC_CONV_INTEGER: &str = "DynamicConvInteger";
/// MatMul(DequantizeLinear(xq), DequantizeLinear(constant wq)) on integers.
pub const QDQ_MATMUL: &str = "QdqMatMul";
/// Conv(DequantizeLinear(xq), DequantizeLinear(constant wq), bias) on integers.
pub const QDQ_CONV: &str = "QdqConv";
/// Float Conv → Relu, or → Clip (opset ≥ 11: bounds as inputs 3 and 4),
/// applied in Conv's bias pass: one read and write of the output less.
pub const CONV_ACTIVATION: &str = "ConvActivation";
/// `MatMulBias(A, W, bias)`: `A · W + bias`, W a constant matrix.
pub const MATMUL_BIAS: &str = "MatMulBias";
/// `GeluChain(x)`, attributes `divisor`, `one`, `half` (floats) and `divide`,
/// `half_first` (ints) as in `kernels::GeluChain`.
pub const GELU_CHAIN: &str = "GeluChain";
/// `GatherDequantize(codes, scale, zero_point or "", indices)`: Gather on axis
/// 0 of a table dequantised per tensor or per row.
pub const GATHER_DEQUANTIZE: &str = "GatherDequantize";
/// `FakeQuantize(x, scale, [zero_point])`, attributes `axis`, `block_size`,
/// `output_dtype` as QuantizeLinear's; outputs `DequantizeLinear(codes)`
/// and the `codes`: a weight or activation as its quantised form computes
/// it, while training updates the float `x` (straight-through gradient).
pub const FAKE_QUANTIZE: &str = "FakeQuantize";
