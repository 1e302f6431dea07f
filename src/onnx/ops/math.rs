//! Arithmetic: broadcasting binary ops, MatMul, Gemm, pointwise activations.

use ndarray::{ArrayD, IxDyn, Zip};

use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::active as k;
use crate::tensor::{into_flat, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "Add", |_| Ok(Box::new(Binary(BinaryKind::Add))));
    r.insert("", "Sub", |_| Ok(Box::new(Binary(BinaryKind::Sub))));
    r.insert("", "Mul", |_| Ok(Box::new(Binary(BinaryKind::Mul))));
    r.insert("", "Div", |_| Ok(Box::new(Binary(BinaryKind::Div))));
    r.insert("", "MatMul", |_| Ok(Box::new(MatMul)));
    r.insert("", "Gemm", build_gemm);
    r.insert("", "Relu", |_| Ok(Box::new(Unary(UnaryKind::Relu))));
    r.insert("", "Sigmoid", |_| Ok(Box::new(Unary(UnaryKind::Sigmoid))));
    r.insert("", "Tanh", |_| Ok(Box::new(Unary(UnaryKind::Tanh))));
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(SquishError::op(format!("shapes {a:?} and {b:?} cannot be broadcast together"))),
        };
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
}

struct Binary(BinaryKind);

type SliceKernel = fn(&[f32], &[f32], &mut [f32]);

impl BinaryKind {
    fn kernel(self) -> SliceKernel {
        match self {
            BinaryKind::Add => k::add_f32,
            BinaryKind::Sub => k::sub_f32,
            BinaryKind::Mul => k::mul_f32,
            BinaryKind::Div => k::div_f32,
        }
    }
}

/// Generic broadcasting for any element type with the given scalar op.
fn broadcast_with<T: Copy + Default>(a: &ArrayD<T>, b: &ArrayD<T>, mut f: impl FnMut(T, T) -> T) -> Result<ArrayD<T>> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let av = a.broadcast(IxDyn(&shape)).expect("shape from broadcast_shapes");
    let bv = b.broadcast(IxDyn(&shape)).expect("shape from broadcast_shapes");
    let mut out = ArrayD::<T>::default(IxDyn(&shape));
    Zip::from(&mut out).and(&av).and(&bv).for_each(|o, &x, &y| *o = f(x, y));
    Ok(out)
}

fn binary_f32(kind: BinaryKind, a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>> {
    let kernel = kind.kernel();
    if let (Some(sa), Some(sb)) = (a.as_slice(), b.as_slice()) {
        if a.shape() == b.shape() {
            let mut out = vec![0.0; sa.len()];
            kernel(sa, sb, &mut out);
            return Ok(ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("same shape"));
        }
        // Bias-like case: b repeats along a's leading axes (e.g. [M,N] + [1,N]).
        let b_core: Vec<usize> = b.shape().iter().copied().skip_while(|&d| d == 1).collect();
        if !b_core.is_empty()
            && b.len() > 1
            && a.shape().len() >= b_core.len()
            && a.shape().ends_with(&b_core)
            && b.shape().len() <= a.shape().len()
        {
            let mut out = vec![0.0; sa.len()];
            for (o, x) in out.chunks_exact_mut(sb.len()).zip(sa.chunks_exact(sb.len())) {
                kernel(x, sb, o);
            }
            return Ok(ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("same shape"));
        }
    }
    let f: fn(f32, f32) -> f32 = match kind {
        BinaryKind::Add => |x, y| x + y,
        BinaryKind::Sub => |x, y| x - y,
        BinaryKind::Mul => |x, y| x * y,
        BinaryKind::Div => |x, y| x / y,
    };
    broadcast_with(a, b, f)
}

macro_rules! int_binary {
    ($kind:expr, $a:expr, $b:expr, $t:ty) => {{
        let f: fn($t, $t) -> Result<$t> = match $kind {
            BinaryKind::Add => |x, y| Ok(x.wrapping_add(y)),
            BinaryKind::Sub => |x, y| Ok(x.wrapping_sub(y)),
            BinaryKind::Mul => |x, y| Ok(x.wrapping_mul(y)),
            BinaryKind::Div => |x, y| x.checked_div(y).ok_or_else(|| SquishError::op("integer division by zero")),
        };
        let mut err = None;
        let out = broadcast_with($a, $b, |x, y| match f(x, y) {
            Ok(v) => v,
            Err(e) => {
                err.get_or_insert(e);
                0
            }
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }};
}

impl Op for Binary {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 1)?);
        let out = match (a, b) {
            (Tensor::F32(x), Tensor::F32(y)) => Tensor::F32(binary_f32(self.0, x, y)?),
            (Tensor::F64(x), Tensor::F64(y)) => Tensor::F64(broadcast_with(x, y, match self.0 {
                BinaryKind::Add => |x, y| x + y,
                BinaryKind::Sub => |x, y| x - y,
                BinaryKind::Mul => |x, y| x * y,
                BinaryKind::Div => |x: f64, y: f64| x / y,
            })?),
            (Tensor::I64(x), Tensor::I64(y)) => Tensor::I64(int_binary!(self.0, x, y, i64)?),
            (Tensor::I32(x), Tensor::I32(y)) => Tensor::I32(int_binary!(self.0, x, y, i32)?),
            _ => {
                return Err(SquishError::op(format!(
                    "unsupported input types {} and {} (both must be the same: float32, float64, int32 or int64)",
                    a.dtype(),
                    b.dtype()
                )))
            }
        };
        Ok(vec![out])
    }
}

fn f32_input<'t>(inputs: &[Option<&'t Tensor>], i: usize) -> Result<&'t ArrayD<f32>> {
    let t = required(inputs, i)?;
    t.as_f32().ok_or_else(|| SquishError::op(format!("input {i} is {}, only float32 is supported", t.dtype())))
}

fn contiguous(a: &ArrayD<f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

struct MatMul;

/// numpy `matmul` semantics: 1-D operands are promoted and the added axis
/// removed afterwards; leading (batch) axes broadcast.
pub fn matmul_f32(a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>> {
    if a.ndim() == 0 || b.ndim() == 0 {
        return Err(SquishError::op("MatMul inputs must have rank ≥ 1"));
    }
    let mut ash = a.shape().to_vec();
    let mut bsh = b.shape().to_vec();
    let a_vec = ash.len() == 1;
    let b_vec = bsh.len() == 1;
    if a_vec {
        ash.insert(0, 1);
    }
    if b_vec {
        bsh.push(1);
    }
    let (m, ka) = (ash[ash.len() - 2], ash[ash.len() - 1]);
    let (kb, n) = (bsh[bsh.len() - 2], bsh[bsh.len() - 1]);
    if ka != kb {
        return Err(SquishError::op(format!("inner dimensions differ: {:?} × {:?}", a.shape(), b.shape())));
    }
    let batch = broadcast_shapes(&ash[..ash.len() - 2], &bsh[..bsh.len() - 2])?;
    let nbatch: usize = batch.iter().product();
    let mut full_a = batch.clone();
    full_a.extend([m, ka]);
    let mut full_b = batch.clone();
    full_b.extend([kb, n]);
    let a2 = a.view().into_shape_with_order(IxDyn(&ash)).map_err(|e| SquishError::op(e.to_string()))?;
    let b2 = b.view().into_shape_with_order(IxDyn(&bsh)).map_err(|e| SquishError::op(e.to_string()))?;
    let av = a2.broadcast(IxDyn(&full_a)).expect("batch shapes broadcast");
    let bv = b2.broadcast(IxDyn(&full_b)).expect("batch shapes broadcast");
    // Operands whose batch axes already equal the broadcast ones are used in place.
    let a_flat = if ash[..ash.len() - 2] == batch[..] {
        contiguous(a)
    } else {
        std::borrow::Cow::Owned(av.iter().copied().collect())
    };
    let b_flat = if bsh[..bsh.len() - 2] == batch[..] {
        contiguous(b)
    } else {
        std::borrow::Cow::Owned(bv.iter().copied().collect())
    };
    let mut out = vec![0.0f32; nbatch * m * n];
    for bi in 0..nbatch {
        k::gemm_f32(
            m,
            ka,
            n,
            &a_flat[bi * m * ka..(bi + 1) * m * ka],
            &b_flat[bi * ka * n..(bi + 1) * ka * n],
            &mut out[bi * m * n..(bi + 1) * m * n],
        );
    }
    let mut shape = batch;
    if !a_vec {
        shape.push(m);
    }
    if !b_vec {
        shape.push(n);
    }
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("element count matches"))
}

impl Op for MatMul {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        Ok(vec![Tensor::F32(matmul_f32(f32_input(inputs, 0)?, f32_input(inputs, 1)?)?)])
    }
}

struct Gemm {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

fn build_gemm(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    Ok(Box::new(Gemm {
        alpha: a.float("alpha", 1.0)?,
        beta: a.float("beta", 1.0)?,
        trans_a: a.int("transA", 0)? != 0,
        trans_b: a.int("transB", 0)? != 0,
    }))
}

fn as_matrix(a: &ArrayD<f32>, transpose: bool, which: &str) -> Result<ArrayD<f32>> {
    if a.ndim() != 2 {
        return Err(SquishError::op(format!("Gemm input {which} must be 2-D, got shape {:?}", a.shape())));
    }
    Ok(if transpose { a.t().as_standard_layout().into_owned() } else { a.as_standard_layout().into_owned() })
}

impl Op for Gemm {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let a = as_matrix(f32_input(inputs, 0)?, self.trans_a, "A")?;
        let b = as_matrix(f32_input(inputs, 1)?, self.trans_b, "B")?;
        let mut y = matmul_f32(&a, &b)?;
        if self.alpha != 1.0 {
            y.mapv_inplace(|v| v * self.alpha);
        }
        if let Some(c) = inputs.get(2).copied().flatten() {
            let c = c.as_f32().ok_or_else(|| SquishError::op("input C must be float32"))?;
            let shape = broadcast_shapes(y.shape(), c.shape())?;
            if shape != y.shape() {
                return Err(SquishError::op(format!("C of shape {:?} does not broadcast to {:?}", c.shape(), y.shape())));
            }
            let c = if self.beta == 1.0 { c.clone() } else { c.mapv(|v| v * self.beta) };
            y = binary_f32(BinaryKind::Add, &y, &c)?;
        }
        Ok(vec![Tensor::F32(y)])
    }
}

#[derive(Clone, Copy)]
enum UnaryKind {
    Relu,
    Sigmoid,
    Tanh,
}

struct Unary(UnaryKind);

impl Op for Unary {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = f32_input(inputs, 0)?;
        let shape = x.shape().to_vec();
        let mut v = into_flat(x.clone());
        match self.0 {
            UnaryKind::Relu => k::relu_f32(&mut v),
            UnaryKind::Sigmoid => v.iter_mut().for_each(|x| *x = 1.0 / (1.0 + (-*x).exp())),
            UnaryKind::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
        }
        Ok(vec![Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape"))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[2, 3], &[3]).unwrap(), vec![2, 3]);
        assert_eq!(broadcast_shapes(&[4, 1, 5], &[3, 1]).unwrap(), vec![4, 3, 5]);
        assert!(broadcast_shapes(&[2, 3], &[4]).is_err());
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bias_fast_path_equals_general_broadcast() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let b = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![10.0f32, 20.0, 30.0]).unwrap();
        let fast = binary_f32(BinaryKind::Sub, &a, &b).unwrap();
        let general = broadcast_with(&a, &b, |x, y| x - y).unwrap();
        assert_eq!(fast, general);
        // A column vector does not match the trailing-suffix rule: general path.
        let col = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![1.0f32, 2.0]).unwrap();
        assert_eq!(binary_f32(BinaryKind::Mul, &a, &col).unwrap().into_raw_vec_and_offset().0, vec![1.0, 2.0, 3.0, 8.0, 10.0, 12.0]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn matmul_handles_vectors_and_batches() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 2, 3]), (0..12).map(|v| v as f32).collect()).unwrap();
        let b = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0f32, 0.0, -1.0]).unwrap();
        let y = matmul_f32(&a, &b).unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![-2.0, -2.0, -2.0, -2.0]);
        let w = ArrayD::from_shape_vec(IxDyn(&[3, 1]), vec![1.0f32, 1.0, 1.0]).unwrap();
        let y = matmul_f32(&a, &w).unwrap();
        assert_eq!(y.shape(), &[2, 2, 1]);
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![3.0, 12.0, 21.0, 30.0]);
        let bad = ArrayD::from_shape_vec(IxDyn(&[4, 1]), vec![0.0f32; 4]).unwrap();
        assert!(matmul_f32(&a, &bad).unwrap_err().to_string().contains("inner dimensions"));
    }
}
