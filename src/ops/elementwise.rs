//! Elementwise ops with numpy broadcasting: arithmetic (Add … Pow, Max, Min,
//! Sum, Mean), comparisons, logic, and unary math. f32 Add/Sub/Mul/Div go
//! through the SIMD kernels; everything else through one generic path.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn, Zip};

use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::active as k;
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    for name in ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod"] {
        r.insert("", name, build_arith);
    }
    for name in ["Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"] {
        r.insert("", name, build_compare);
    }
    for name in ["And", "Or", "Xor"] {
        r.insert("", name, build_logic);
    }
    r.insert("", "Not", |_| Ok(Box::new(Not)));
    r.insert("", "BitShift", build_bit_shift);
    for name in UNARY_NAMES {
        r.insert("", name, build_unary);
    }
    use super::facts::{broadcast_bool, broadcast_like_first, like_first};
    r.facts("", &UNARY_NAMES, like_first);
    r.facts("", &["IsNaN", "IsInf"], broadcast_bool);
    r.facts("", &["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod", "BitShift"], broadcast_like_first);
    r.facts("", &["Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "And", "Or", "Xor"], broadcast_bool);
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(SquishError::op(format!("shapes {a:?} and {b:?} cannot be broadcast together"))),
        };
    }
    Ok(out)
}

/// Applies `f` over the broadcast of `a` and `b`.
pub fn broadcast_with<T: Copy, U: Copy + Default>(a: &ArrayD<T>, b: &ArrayD<T>, mut f: impl FnMut(T, T) -> U) -> Result<ArrayD<U>> {
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    crate::tensor::checked_numel(&shape, "broadcast result")?;
    let av = a.broadcast(IxDyn(&shape)).expect("shape from broadcast_shapes");
    let bv = b.broadcast(IxDyn(&shape)).expect("shape from broadcast_shapes");
    let mut out = ArrayD::<U>::default(IxDyn(&shape));
    Zip::from(&mut out).and(&av).and(&bv).for_each(|o, &x, &y| *o = f(x, y));
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    Mod,
}

/// Arithmetic every numeric element type supports, with ONNX semantics
/// (integer overflow wraps; integer division by zero is an error).
trait Number: Copy + Default + PartialOrd {
    fn apply(op: Arith, a: Self, b: Self, fmod: bool) -> Result<Self>;
}

macro_rules! float_number {
    ($t:ty, $to:expr, $from:expr) => {
        impl Number for $t {
            fn apply(op: Arith, a: Self, b: Self, fmod: bool) -> Result<Self> {
                let (x, y) = ($to(a), $to(b));
                Ok($from(match op {
                    Arith::Add => x + y,
                    Arith::Sub => x - y,
                    Arith::Mul => x * y,
                    Arith::Div => x / y,
                    Arith::Pow => x.powf(y),
                    // NaN propagates, as in onnxruntime.
                    Arith::Max => {
                        if x.is_nan() || y.is_nan() {
                            f64::NAN as _
                        } else if x >= y {
                            x
                        } else {
                            y
                        }
                    }
                    Arith::Min => {
                        if x.is_nan() || y.is_nan() {
                            f64::NAN as _
                        } else if x <= y {
                            x
                        } else {
                            y
                        }
                    }
                    Arith::Mod => {
                        let r = x % y;
                        if fmod || r == 0.0 || (r < 0.0) == (y < 0.0) {
                            r
                        } else {
                            r + y
                        }
                    }
                }))
            }
        }
    };
}
float_number!(f32, |v| v, |v| v);
float_number!(f64, |v| v, |v| v);
float_number!(f16, f16::to_f32, f16::from_f32);
float_number!(bf16, bf16::to_f32, bf16::from_f32);

macro_rules! int_number {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn apply(op: Arith, a: Self, b: Self, fmod: bool) -> Result<Self> {
                Ok(match op {
                    Arith::Add => a.wrapping_add(b),
                    Arith::Sub => a.wrapping_sub(b),
                    Arith::Mul => a.wrapping_mul(b),
                    Arith::Div => a.checked_div(b).ok_or_else(|| SquishError::op("integer division by zero"))?,
                    Arith::Pow => (a as f64).powf(b as f64) as $t,
                    Arith::Max => if a >= b { a } else { b },
                    Arith::Min => if a <= b { a } else { b },
                    Arith::Mod => {
                        let r = a.checked_rem(b).ok_or_else(|| SquishError::op("integer modulo by zero"))?;
                        #[allow(unused_comparisons)]
                        let fix = !fmod && r != 0 && ((r < 0) != (b < 0));
                        if fix { r.wrapping_add(b) } else { r }
                    }
                })
            }
        }
    )*};
}
int_number!(i8, u8, i16, u16, i32, u32, i64, u64);

fn arith_generic<T: Number>(op: Arith, a: &ArrayD<T>, b: &ArrayD<T>, fmod: bool) -> Result<ArrayD<T>> {
    let mut err = None;
    let out = broadcast_with(a, b, |x, y| match T::apply(op, x, y, fmod) {
        Ok(v) => v,
        Err(e) => {
            err.get_or_insert(e);
            T::default()
        }
    })?;
    err.map_or(Ok(out), Err)
}

/// Whether `small` broadcasts to `shape` by repeating whole along its leading
/// axes (a single value included): the result keeps `shape`, and `small`'s
/// data lines up with each trailing block.
fn repeats_along_leading_axes(shape: &[usize], small: &ArrayD<f32>) -> bool {
    let core: Vec<usize> = small.shape().iter().copied().skip_while(|&d| d == 1).collect();
    small.ndim() <= shape.len() && (small.len() == 1 || shape.ends_with(&core))
}

/// f32 fast paths: equal shapes, or `b` repeating along `a`'s leading axes
/// (bias adds), run the SIMD kernels on contiguous slices.
/// A binary SIMD kernel over equal-length slices.
type BinaryKernel = fn(&[f32], &[f32], &mut [f32]);

fn arith_f32(op: Arith, a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>> {
    let kernel: Option<BinaryKernel> = match op {
        Arith::Add => Some(k::add_f32),
        Arith::Sub => Some(k::sub_f32),
        Arith::Mul => Some(k::mul_f32),
        Arith::Div => Some(k::div_f32),
        _ => None,
    };
    if let (Some(kernel), Some(sa), Some(sb)) = (kernel, a.as_slice(), b.as_slice()) {
        if a.shape() == b.shape() {
            let mut out = vec![0.0; sa.len()];
            kernel(sa, sb, &mut out);
            return Ok(ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("same shape"));
        }
        // A scalar operand (x·0.5, x + 1): a vector splat, no broadcast walk.
        if sb.len() == 1 && b.ndim() <= a.ndim() && !sa.is_empty() {
            let splat = vec![sb[0]; sa.len().min(4096)];
            let mut out = vec![0.0; sa.len()];
            for (o, x) in out.chunks_mut(splat.len().max(1)).zip(sa.chunks(splat.len().max(1))) {
                kernel(x, &splat[..x.len()], o);
            }
            return Ok(ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("same shape"));
        }
        if sa.len() == 1 && a.ndim() <= b.ndim() && sb.len() > 1 {
            let splat = vec![sa[0]; sb.len().min(4096)];
            let mut out = vec![0.0; sb.len()];
            for (o, y) in out.chunks_mut(splat.len()).zip(sb.chunks(splat.len())) {
                kernel(&splat[..y.len()], y, o);
            }
            return Ok(ArrayD::from_shape_vec(IxDyn(b.shape()), out).expect("same shape"));
        }
        if b.len() > 1 && repeats_along_leading_axes(a.shape(), b) {
            let mut out = vec![0.0; sa.len()];
            for (o, x) in out.chunks_exact_mut(sb.len()).zip(sa.chunks_exact(sb.len())) {
                kernel(x, sb, o);
            }
            return Ok(ArrayD::from_shape_vec(IxDyn(a.shape()), out).expect("same shape"));
        }
    }
    arith_generic(op, a, b, false)
}

/// `dst = dst ∘ other` (or `other ∘ dst` when `!dst_is_left`) in place, for
/// the f32 broadcasts that keep `dst`'s shape: equal shapes, a scalar, or
/// `other` repeating along `dst`'s leading axes. False: not such a case.
fn arith_f32_in_place(op: Arith, dst: &mut ArrayD<f32>, other: &ArrayD<f32>, dst_is_left: bool) -> bool {
    let keeps_shape = repeats_along_leading_axes(dst.shape(), other);
    let (Some(d), Some(o)) = (dst.as_slice_mut(), other.as_slice()) else { return false };
    if !keeps_shape || o.is_empty() || d.is_empty() {
        return false;
    }
    // Same IEEE operations as the SIMD kernels, so the same bits.
    fn apply(d: &mut [f32], o: &[f32], f: impl Fn(f32, f32) -> f32) {
        if o.len() == 1 {
            let y = o[0];
            d.iter_mut().for_each(|x| *x = f(*x, y));
        } else {
            d.chunks_exact_mut(o.len()).for_each(|row| row.iter_mut().zip(o).for_each(|(x, &y)| *x = f(*x, y)));
        }
    }
    match (op, dst_is_left) {
        (Arith::Add, _) => apply(d, o, |x, y| x + y),
        (Arith::Mul, _) => apply(d, o, |x, y| x * y),
        (Arith::Sub, true) => apply(d, o, |x, y| x - y),
        (Arith::Sub, false) => apply(d, o, |x, y| y - x),
        (Arith::Div, true) => apply(d, o, |x, y| x / y),
        (Arith::Div, false) => apply(d, o, |x, y| y / x),
        _ => return false,
    }
    true
}

/// One arithmetic op on two tensors of the same type.
pub fn arith(op: Arith, a: &Tensor, b: &Tensor, fmod: bool) -> Result<Tensor> {
    Ok(match (a, b) {
        (Tensor::F32(x), Tensor::F32(y)) if !fmod => Tensor::F32(arith_f32(op, x, y)?),
        (Tensor::F32(x), Tensor::F32(y)) => Tensor::F32(arith_generic(op, x, y, fmod)?),
        (Tensor::F64(x), Tensor::F64(y)) => Tensor::F64(arith_generic(op, x, y, fmod)?),
        (Tensor::F16(x), Tensor::F16(y)) => Tensor::F16(arith_generic(op, x, y, fmod)?),
        (Tensor::BF16(x), Tensor::BF16(y)) => Tensor::BF16(arith_generic(op, x, y, fmod)?),
        (Tensor::I8(x), Tensor::I8(y)) => Tensor::I8(arith_generic(op, x, y, fmod)?),
        (Tensor::U8(x), Tensor::U8(y)) => Tensor::U8(arith_generic(op, x, y, fmod)?),
        (Tensor::I16(x), Tensor::I16(y)) => Tensor::I16(arith_generic(op, x, y, fmod)?),
        (Tensor::U16(x), Tensor::U16(y)) => Tensor::U16(arith_generic(op, x, y, fmod)?),
        (Tensor::I32(x), Tensor::I32(y)) => Tensor::I32(arith_generic(op, x, y, fmod)?),
        (Tensor::U32(x), Tensor::U32(y)) => Tensor::U32(arith_generic(op, x, y, fmod)?),
        (Tensor::I64(x), Tensor::I64(y)) => Tensor::I64(arith_generic(op, x, y, fmod)?),
        (Tensor::U64(x), Tensor::U64(y)) => Tensor::U64(arith_generic(op, x, y, fmod)?),
        // Pow allows a different exponent type: compute in the base's type.
        (x, y) if op == Arith::Pow => arith(op, x, &crate::ops::array::cast(y, x.dtype())?, fmod)?,
        (x, y) => return Err(SquishError::op(format!("inputs have types {} and {}; they must match", x.dtype(), y.dtype()))),
    })
}

struct ArithOp {
    op: Arith,
    /// `Mean` divides the variadic sum by the input count.
    mean: bool,
    fmod: bool,
}

fn build_arith(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let op = match ctx.node.op_type.as_str() {
        "Add" | "Sum" | "Mean" => Arith::Add,
        "Sub" => Arith::Sub,
        "Mul" => Arith::Mul,
        "Div" => Arith::Div,
        "Pow" => Arith::Pow,
        "Max" => Arith::Max,
        "Min" => Arith::Min,
        "Mod" => Arith::Mod,
        other => return Err(SquishError::op(format!("not an arithmetic op: {other}"))),
    };
    let fmod = ctx.attrs().int("fmod", 0)? != 0;
    Ok(Box::new(ArithOp { op, mean: ctx.node.op_type == "Mean", fmod }))
}

impl Op for ArithOp {
    fn reusable_inputs(&self) -> &'static [usize] {
        &[0, 1]
    }

    fn eval_reusing(&self, inputs: &[Option<&Tensor>], at: usize, owned: Tensor) -> Result<Vec<Tensor>> {
        let other = inputs.get(1 - at.min(1)).copied().flatten();
        if let (2, false, false, Some(Tensor::F32(b))) = (inputs.len(), self.mean, self.fmod, other) {
            match super::owned_f32(owned) {
                Ok(mut a) => {
                    if arith_f32_in_place(self.op, &mut a, b, at == 0) {
                        return Ok(vec![Tensor::F32(a)]);
                    }
                    return super::eval_with(self, inputs, at, &Tensor::F32(a));
                }
                Err(t) => return super::eval_with(self, inputs, at, &t),
            }
        }
        super::eval_with(self, inputs, at, &owned)
    }

    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let ts: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
        let first = *ts.first().ok_or_else(|| SquishError::op("needs at least one input"))?;
        let mut acc = first.clone();
        for t in &ts[1..] {
            acc = arith(self.op, &acc, t, self.fmod)?;
        }
        if self.mean && ts.len() > 1 {
            let n = crate::ops::array::cast(&Tensor::scalar(ts.len() as f64), acc.dtype())?;
            acc = arith(Arith::Div, &acc, &n, false)?;
        }
        Ok(vec![acc])
    }
}

#[derive(Clone, Copy)]
enum Compare {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

struct CompareOp(Compare);

fn build_compare(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(CompareOp(match ctx.node.op_type.as_str() {
        "Equal" => Compare::Eq,
        "Greater" => Compare::Gt,
        "GreaterOrEqual" => Compare::Ge,
        "Less" => Compare::Lt,
        _ => Compare::Le,
    })))
}

fn compare_generic<T: Copy + PartialOrd>(c: Compare, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<bool>> {
    broadcast_with(a, b, |x, y| match c {
        Compare::Eq => x == y,
        Compare::Gt => x > y,
        Compare::Ge => x >= y,
        Compare::Lt => x < y,
        Compare::Le => x <= y,
    })
}

impl Op for CompareOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 1)?);
        Ok(vec![Tensor::Bool(crate::with_pair!(a, b, x, y => compare_generic(self.0, x, y))??)])
    }
}

struct LogicOp(fn(bool, bool) -> bool);

fn build_logic(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(LogicOp(match ctx.node.op_type.as_str() {
        "And" => |p, q| p && q,
        "Or" => |p, q| p || q,
        _ => |p, q| p ^ q,
    })))
}

impl Op for LogicOp {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        match (required(inputs, 0)?, required(inputs, 1)?) {
            (Tensor::Bool(x), Tensor::Bool(y)) => Ok(vec![Tensor::Bool(broadcast_with(x, y, self.0)?)]),
            (a, b) => Err(SquishError::op(format!("logic ops take bool inputs, got {} and {}", a.dtype(), b.dtype()))),
        }
    }
}

struct Not;

impl Op for Not {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        match required(inputs, 0)? {
            Tensor::Bool(a) => Ok(vec![Tensor::Bool(a.mapv(|v| !v))]),
            other => Err(SquishError::op(format!("Not takes bool, got {}", other.dtype()))),
        }
    }
}

const UNARY_NAMES: [&str; 22] = [
    "Abs",
    "Neg",
    "Exp",
    "Log",
    "Sqrt",
    "Reciprocal",
    "Floor",
    "Ceil",
    "Round",
    "Erf",
    "Sin",
    "Cos",
    "Tan",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Sign",
    "IsNaN",
    "IsInf",
    "Softsign",
];

struct Unary {
    name: &'static str,
    /// `None` for IsNaN/IsInf, which map to bool.
    f32_fn: Option<fn(f32) -> f32>,
    f64_fn: Option<fn(f64) -> f64>,
}

fn build_unary(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let name = UNARY_NAMES.iter().find(|n| **n == ctx.node.op_type).expect("registered from UNARY_NAMES");
    Ok(Box::new(Unary { name, f32_fn: unary_f32_fn(name), f64_fn: unary_f64_fn(name) }))
}

/// The error function to near f64 precision (the f64 op, and the kernels' oracle).
pub use crate::kernels::reference::erf_f64 as erf;

/// erf for one f32 (the kernels' rational approximation).
pub fn erf_f32(x: f32) -> f32 {
    crate::kernels::reference::erf_scalar(x)
}

macro_rules! unary_table {
    ($name:ident, $t:ty, $erf:expr) => {
        /// The scalar function of a unary op, resolved once at build time.
        fn $name(op: &str) -> Option<fn($t) -> $t> {
            Some(match op {
                "Abs" => <$t>::abs,
                "Neg" => |x| -x,
                "Exp" => <$t>::exp,
                "Log" => <$t>::ln,
                "Sqrt" => <$t>::sqrt,
                "Reciprocal" => |x| 1.0 / x,
                "Floor" => <$t>::floor,
                "Ceil" => <$t>::ceil,
                "Round" => <$t>::round_ties_even,
                "Erf" => $erf,
                "Sin" => <$t>::sin,
                "Cos" => <$t>::cos,
                "Tan" => <$t>::tan,
                "Asin" => <$t>::asin,
                "Acos" => <$t>::acos,
                "Atan" => <$t>::atan,
                "Sinh" => <$t>::sinh,
                "Cosh" => <$t>::cosh,
                "Sign" => |x| {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x
                    }
                },
                "Softsign" => |x| x / (1.0 + x.abs()),
                _ => return None,
            })
        }
    };
}
unary_table!(unary_f32_fn, f32, erf_f32);
unary_table!(unary_f64_fn, f64, erf);

impl Op for Unary {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0)?;
        let name = self.name;
        let (Some(f32_fn), Some(f64_fn)) = (self.f32_fn, self.f64_fn) else {
            let v = x.to_f64_vec();
            let out: Vec<bool> = v.iter().map(|f| if name == "IsNaN" { f.is_nan() } else { f.is_infinite() }).collect();
            return Ok(vec![Tensor::from_vec(x.shape(), out)?]);
        };
        Ok(vec![match x {
            // The hot transcendental functions have vector kernels.
            Tensor::F32(a) if matches!(name, "Erf" | "Exp") => {
                let mut v = crate::tensor::into_flat(a.clone());
                if name == "Erf" {
                    k::erf_f32(&mut v)
                } else {
                    k::exp_f32(&mut v)
                }
                Tensor::F32(ArrayD::from_shape_vec(IxDyn(a.shape()), v).expect("same shape"))
            }
            Tensor::F32(a) => Tensor::F32(a.mapv(f32_fn)),
            Tensor::F64(a) => Tensor::F64(a.mapv(f64_fn)),
            Tensor::F16(a) => Tensor::F16(a.mapv(|v| f16::from_f32(f32_fn(v.to_f32())))),
            Tensor::BF16(a) => Tensor::BF16(a.mapv(|v| bf16::from_f32(f32_fn(v.to_f32())))),
            Tensor::I32(a) if matches!(name, "Abs" | "Neg" | "Sign") => Tensor::I32(a.mapv(|v| f64_fn(v as f64) as i32)),
            Tensor::I64(a) if matches!(name, "Abs" | "Neg" | "Sign") => Tensor::I64(a.mapv(|v| match name {
                "Abs" => v.wrapping_abs(),
                "Neg" => v.wrapping_neg(),
                _ => v.signum(),
            })),
            other => return Err(SquishError::op(format!("{name} does not support {}", other.dtype()))),
        }])
    }

    fn reusable_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn eval_reusing(&self, inputs: &[Option<&Tensor>], at: usize, x: Tensor) -> Result<Vec<Tensor>> {
        let Some(f32_fn) = self.f32_fn.filter(|_| self.f64_fn.is_some()) else { return super::eval_with(self, inputs, at, &x) };
        let mut a = match super::owned_f32(x) {
            Ok(a) => a,
            Err(other) => return super::eval_with(self, inputs, at, &other),
        };
        let v = a.as_slice_mut().expect("standard layout");
        match self.name {
            "Erf" => k::erf_f32(v),
            "Exp" => k::exp_f32(v),
            _ => v.iter_mut().for_each(|x| *x = f32_fn(*x)),
        }
        Ok(vec![Tensor::F32(a)])
    }
}

/// `BitShift` of integers: bits shifted past the width are dropped (a
/// left shift wraps), a signed right shift copies the sign bit, and an
/// amount below 0 or at least the width gives 0 (−1 for a negative value
/// shifted right), as the operator's tests define.
struct BitShift {
    left: bool,
}

fn build_bit_shift(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let left = match a.opt_string("direction")?.as_deref() {
        Some("LEFT") => true,
        Some("RIGHT") => false,
        Some(other) => return Err(a.error("direction", format!("must be LEFT or RIGHT, got {other}"))),
        None => return Err(a.error("direction", "is required (LEFT or RIGHT)")),
    };
    Ok(Box::new(BitShift { left }))
}

macro_rules! shift_pair {
    ($self:ident, $a:ident, $b:ident, $($variant:ident),*) => {
        match ($a, $b) {
            $((Tensor::$variant(x), Tensor::$variant(y)) => Tensor::$variant(broadcast_with(x, y, |v, s| {
                // A negative amount is as out of range as one at or past the width.
                let s = u32::try_from(s as i128).unwrap_or(u32::MAX);
                let zero = v ^ v;
                match (if $self.left { v.checked_shl(s) } else { v.checked_shr(s) }) {
                    Some(r) => r,
                    // Out of range: every bit shifted out, or the sign bit filling a right shift.
                    None if !$self.left && v < zero => !zero,
                    None => zero,
                }
            })?),)*
            (x, y) => return Err(SquishError::op(format!("inputs must be the same integer type, got {} and {}", x.dtype(), y.dtype()))),
        }
    };
}

impl Op for BitShift {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 1)?);
        Ok(vec![shift_pair!(self, a, b, U8, U16, U32, U64, I8, I16, I32, I64)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0, 0.0),
            (f64::INFINITY, 1.0),
            (-40.0, -1.0),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (2.0, 0.9953222650189527),
            (3.0, 0.9999779095030014),
            (-1.5, -0.9661051464753108),
        ] {
            assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {} not {want}", erf(x));
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn erf_f32_is_within_a_few_ulp() {
        let mut worst = 0.0f64;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let err = (erf_f32(x) as f64 - erf(x as f64)).abs();
            worst = worst.max(err / f32::EPSILON as f64);
        }
        // Absolute error in units of f32 epsilon (|erf| ≤ 1).
        assert!(worst <= 4.0, "worst error {worst} eps");
    }

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
        assert_eq!(arith_f32(Arith::Sub, &a, &b).unwrap(), arith_generic(Arith::Sub, &a, &b, false).unwrap());
        let col = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![1.0f32, 2.0]).unwrap();
        assert_eq!(arith_f32(Arith::Mul, &a, &col).unwrap().iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0, 3.0, 8.0, 10.0, 12.0]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn integer_semantics() {
        let a = Tensor::from_vec(&[3], vec![7i64, -7, 5]).unwrap();
        let b = Tensor::from_vec(&[3], vec![2i64, 2, -3]).unwrap();
        assert_eq!(arith(Arith::Div, &a, &b, false).unwrap().to_i64_vec().unwrap(), vec![3, -3, -1]);
        assert_eq!(arith(Arith::Mod, &a, &b, false).unwrap().to_i64_vec().unwrap(), vec![1, 1, -1]);
        assert_eq!(arith(Arith::Mod, &a, &b, true).unwrap().to_i64_vec().unwrap(), vec![1, -1, 2]);
        let zero = Tensor::from_vec(&[1], vec![0i64]).unwrap();
        assert!(arith(Arith::Div, &a, &zero, false).unwrap_err().to_string().contains("division by zero"));
    }
}
