//! Dense tensors: one `ndarray` array per element type, behind one enum.

pub mod cast;
pub mod codes;
pub mod small;

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
pub use small::SmallType;

use crate::error::{Result, SquishError};

/// Largest element count a single tensor may have (2^31). Declared shapes
/// beyond this are rejected before anything is allocated.
pub const MAX_ELEMENTS: u64 = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
    /// float8 / float4 / int4 / int2 formats, one byte per element in memory.
    Small(SmallType),
}

impl DType {
    /// Floating point, including the 8- and 4-bit float formats.
    pub fn is_float(self) -> bool {
        match self {
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => true,
            DType::Small(s) => s.is_float(),
            _ => false,
        }
    }

    /// The range of an integer type (small integer formats included), as f64.
    pub fn integer_range(self) -> Option<(f64, f64)> {
        Some(match self {
            DType::I8 => (i8::MIN as f64, i8::MAX as f64),
            DType::U8 => (0.0, u8::MAX as f64),
            DType::I16 => (i16::MIN as f64, i16::MAX as f64),
            DType::U16 => (0.0, u16::MAX as f64),
            DType::I32 => (i32::MIN as f64, i32::MAX as f64),
            DType::U32 => (0.0, u32::MAX as f64),
            DType::I64 => (i64::MIN as f64, i64::MAX as f64),
            DType::U64 => (0.0, u64::MAX as f64),
            DType::Small(SmallType::I4) => (-8.0, 7.0),
            DType::Small(SmallType::U4) => (0.0, 15.0),
            DType::Small(SmallType::I2) => (-2.0, 1.0),
            DType::Small(SmallType::U2) => (0.0, 3.0),
            _ => return None,
        })
    }

    pub fn size_of(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool | DType::Small(_) => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// The name used by numpy, JavaScript and error messages.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::Bool => "bool",
            DType::Small(t) => t.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.iter().copied().chain(SmallType::ALL.iter().map(|&t| DType::Small(t))).find(|d| d.name() == name)
    }

    pub const ALL: [DType; 13] = [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
    ];
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    F16(ArrayD<f16>),
    BF16(ArrayD<bf16>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    I16(ArrayD<i16>),
    U16(ArrayD<u16>),
    I32(ArrayD<i32>),
    U32(ArrayD<u32>),
    I64(ArrayD<i64>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
    /// Bit patterns of a small format, one per byte.
    Small(SmallType, ArrayD<u8>),
}

/// Applies `$body` to the array inside any variant, binding it as `$a`.
#[macro_export]
macro_rules! with_array {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::tensor::Tensor::F32($a) => $body,
            $crate::tensor::Tensor::F64($a) => $body,
            $crate::tensor::Tensor::F16($a) => $body,
            $crate::tensor::Tensor::BF16($a) => $body,
            $crate::tensor::Tensor::I8($a) => $body,
            $crate::tensor::Tensor::U8($a) => $body,
            $crate::tensor::Tensor::I16($a) => $body,
            $crate::tensor::Tensor::U16($a) => $body,
            $crate::tensor::Tensor::I32($a) => $body,
            $crate::tensor::Tensor::U32($a) => $body,
            $crate::tensor::Tensor::I64($a) => $body,
            $crate::tensor::Tensor::U64($a) => $body,
            $crate::tensor::Tensor::Bool($a) => $body,
            $crate::tensor::Tensor::Small(_, $a) => $body,
        }
    };
}

/// Applies `$body` (generic over the element type) to the array inside any
/// variant and wraps the resulting array in the same variant.
#[macro_export]
macro_rules! map_tensor {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::tensor::Tensor::F32($a) => $crate::tensor::Tensor::F32($body),
            $crate::tensor::Tensor::F64($a) => $crate::tensor::Tensor::F64($body),
            $crate::tensor::Tensor::F16($a) => $crate::tensor::Tensor::F16($body),
            $crate::tensor::Tensor::BF16($a) => $crate::tensor::Tensor::BF16($body),
            $crate::tensor::Tensor::I8($a) => $crate::tensor::Tensor::I8($body),
            $crate::tensor::Tensor::U8($a) => $crate::tensor::Tensor::U8($body),
            $crate::tensor::Tensor::I16($a) => $crate::tensor::Tensor::I16($body),
            $crate::tensor::Tensor::U16($a) => $crate::tensor::Tensor::U16($body),
            $crate::tensor::Tensor::I32($a) => $crate::tensor::Tensor::I32($body),
            $crate::tensor::Tensor::U32($a) => $crate::tensor::Tensor::U32($body),
            $crate::tensor::Tensor::I64($a) => $crate::tensor::Tensor::I64($body),
            $crate::tensor::Tensor::U64($a) => $crate::tensor::Tensor::U64($body),
            $crate::tensor::Tensor::Bool($a) => $crate::tensor::Tensor::Bool($body),
            $crate::tensor::Tensor::Small(t, $a) => $crate::tensor::Tensor::Small(t.clone(), $body),
        }
    };
}

/// Like `map_tensor!` for two tensors that must share a type; evaluates to
/// `Err` naming both types when they differ.
#[macro_export]
macro_rules! map_tensor_pair {
    ($x:expr, $y:expr, $a:ident, $b:ident => $body:expr) => {
        match ($x, $y) {
            ($crate::tensor::Tensor::F32($a), $crate::tensor::Tensor::F32($b)) => Ok($crate::tensor::Tensor::F32($body)),
            ($crate::tensor::Tensor::F64($a), $crate::tensor::Tensor::F64($b)) => Ok($crate::tensor::Tensor::F64($body)),
            ($crate::tensor::Tensor::F16($a), $crate::tensor::Tensor::F16($b)) => Ok($crate::tensor::Tensor::F16($body)),
            ($crate::tensor::Tensor::BF16($a), $crate::tensor::Tensor::BF16($b)) => Ok($crate::tensor::Tensor::BF16($body)),
            ($crate::tensor::Tensor::I8($a), $crate::tensor::Tensor::I8($b)) => Ok($crate::tensor::Tensor::I8($body)),
            ($crate::tensor::Tensor::U8($a), $crate::tensor::Tensor::U8($b)) => Ok($crate::tensor::Tensor::U8($body)),
            ($crate::tensor::Tensor::I16($a), $crate::tensor::Tensor::I16($b)) => Ok($crate::tensor::Tensor::I16($body)),
            ($crate::tensor::Tensor::U16($a), $crate::tensor::Tensor::U16($b)) => Ok($crate::tensor::Tensor::U16($body)),
            ($crate::tensor::Tensor::I32($a), $crate::tensor::Tensor::I32($b)) => Ok($crate::tensor::Tensor::I32($body)),
            ($crate::tensor::Tensor::U32($a), $crate::tensor::Tensor::U32($b)) => Ok($crate::tensor::Tensor::U32($body)),
            ($crate::tensor::Tensor::I64($a), $crate::tensor::Tensor::I64($b)) => Ok($crate::tensor::Tensor::I64($body)),
            ($crate::tensor::Tensor::U64($a), $crate::tensor::Tensor::U64($b)) => Ok($crate::tensor::Tensor::U64($body)),
            ($crate::tensor::Tensor::Bool($a), $crate::tensor::Tensor::Bool($b)) => Ok($crate::tensor::Tensor::Bool($body)),
            ($crate::tensor::Tensor::Small(t, $a), $crate::tensor::Tensor::Small(u, $b)) if t == u => Ok($crate::tensor::Tensor::Small(t.clone(), $body)),
            (x, y) => Err($crate::error::SquishError::op(format!("inputs must have the same type, got {} and {}", x.dtype(), y.dtype()))),
        }
    };
}

/// Evaluates `$body` (generic over the element type) with the arrays of two
/// tensors of the same type bound; `Err` naming both types when they differ.
#[macro_export]
macro_rules! with_pair {
    ($x:expr, $y:expr, $a:ident, $b:ident => $body:expr) => {
        match ($x, $y) {
            ($crate::tensor::Tensor::F32($a), $crate::tensor::Tensor::F32($b)) => Ok($body),
            ($crate::tensor::Tensor::F64($a), $crate::tensor::Tensor::F64($b)) => Ok($body),
            ($crate::tensor::Tensor::F16($a), $crate::tensor::Tensor::F16($b)) => Ok($body),
            ($crate::tensor::Tensor::BF16($a), $crate::tensor::Tensor::BF16($b)) => Ok($body),
            ($crate::tensor::Tensor::I8($a), $crate::tensor::Tensor::I8($b)) => Ok($body),
            ($crate::tensor::Tensor::U8($a), $crate::tensor::Tensor::U8($b)) => Ok($body),
            ($crate::tensor::Tensor::I16($a), $crate::tensor::Tensor::I16($b)) => Ok($body),
            ($crate::tensor::Tensor::U16($a), $crate::tensor::Tensor::U16($b)) => Ok($body),
            ($crate::tensor::Tensor::I32($a), $crate::tensor::Tensor::I32($b)) => Ok($body),
            ($crate::tensor::Tensor::U32($a), $crate::tensor::Tensor::U32($b)) => Ok($body),
            ($crate::tensor::Tensor::I64($a), $crate::tensor::Tensor::I64($b)) => Ok($body),
            ($crate::tensor::Tensor::U64($a), $crate::tensor::Tensor::U64($b)) => Ok($body),
            ($crate::tensor::Tensor::Bool($a), $crate::tensor::Tensor::Bool($b)) => Ok($body),
            ($crate::tensor::Tensor::Small(t, $a), $crate::tensor::Tensor::Small(u, $b)) if t == u => Ok($body),
            (x, y) => Err($crate::error::SquishError::op(format!("inputs must have the same type, got {} and {}", x.dtype(), y.dtype()))),
        }
    };
}

/// Element types a tensor can hold, with their `DType` tag.
pub trait Element: Copy + Default + 'static {
    const DTYPE: DType;
    fn wrap(a: ArrayD<Self>) -> Tensor;
    fn unwrap_ref(t: &Tensor) -> Option<&ArrayD<Self>>;
}

macro_rules! impl_element {
    ($ty:ty, $variant:ident) => {
        impl Element for $ty {
            const DTYPE: DType = DType::$variant;
            fn wrap(a: ArrayD<Self>) -> Tensor {
                Tensor::$variant(a)
            }
            fn unwrap_ref(t: &Tensor) -> Option<&ArrayD<Self>> {
                match t {
                    Tensor::$variant(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
}

impl_element!(f32, F32);
impl_element!(f64, F64);
impl_element!(f16, F16);
impl_element!(bf16, BF16);
impl_element!(i8, I8);
impl_element!(u8, U8);
impl_element!(i16, I16);
impl_element!(u16, U16);
impl_element!(i32, I32);
impl_element!(u32, U32);
impl_element!(i64, I64);
impl_element!(u64, U64);
impl_element!(bool, Bool);

/// Checks a shape against `MAX_ELEMENTS` and returns its element count.
pub fn checked_numel(shape: &[usize], what: &str) -> Result<usize> {
    let mut n: u64 = 1;
    for &d in shape {
        n = n
            .checked_mul(d as u64)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| SquishError::tensor(what, format!("shape {shape:?} has more than {MAX_ELEMENTS} elements")))?;
    }
    Ok(n as usize)
}

/// Validates declared dimensions (from a file) and converts them to a shape.
/// Rejects negative dims and totals beyond `MAX_ELEMENTS` before anything
/// is allocated, on 32-bit targets too.
pub fn shape_from_dims(dims: &[i64], what: &str) -> Result<Vec<usize>> {
    let mut n: u64 = 1;
    for &d in dims {
        if d < 0 {
            return Err(SquishError::tensor(what, format!("negative dimension {d} in dims {dims:?}")));
        }
        n = n
            .checked_mul(d as u64)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| SquishError::tensor(what, format!("shape {dims:?} has more than {MAX_ELEMENTS} elements")))?;
    }
    Ok(dims.iter().map(|&d| d as usize).collect())
}

impl Tensor {
    /// Builds a tensor from a flat vector, checking that the shape fits it.
    pub fn from_vec<T: Element>(shape: &[usize], data: Vec<T>) -> Result<Tensor> {
        let expected = checked_numel(shape, "value")?;
        if expected != data.len() {
            return Err(SquishError::tensor("value", format!("shape {shape:?} needs {expected} elements, got {}", data.len())));
        }
        let arr = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| SquishError::tensor("value", e.to_string()))?;
        Ok(T::wrap(arr))
    }

    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::F16(_) => DType::F16,
            Tensor::BF16(_) => DType::BF16,
            Tensor::I8(_) => DType::I8,
            Tensor::U8(_) => DType::U8,
            Tensor::I16(_) => DType::I16,
            Tensor::U16(_) => DType::U16,
            Tensor::I32(_) => DType::I32,
            Tensor::U32(_) => DType::U32,
            Tensor::I64(_) => DType::I64,
            Tensor::U64(_) => DType::U64,
            Tensor::Bool(_) => DType::Bool,
            Tensor::Small(t, _) => DType::Small(*t),
        }
    }

    pub fn shape(&self) -> &[usize] {
        with_array!(self, a => a.shape())
    }

    pub fn len(&self) -> usize {
        with_array!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn byte_size(&self) -> usize {
        self.len() * self.dtype().size_of()
    }

    /// A rank-0 tensor.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        T::wrap(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A 1-D int64 tensor (shapes, indices).
    pub fn i64_vec(v: Vec<i64>) -> Tensor {
        let n = v.len();
        Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("1-D"))
    }

    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        f32::unwrap_ref(self)
    }

    pub fn as_array<T: Element>(&self) -> Option<&ArrayD<T>> {
        T::unwrap_ref(self)
    }

    /// Values as f64 in logical (row-major) order, for reports and checks.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::F16(a) => a.iter().map(|v| v.to_f64()).collect(),
            Tensor::BF16(a) => a.iter().map(|v| v.to_f64()).collect(),
            Tensor::I8(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::U8(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::I16(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::U16(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::I32(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::U32(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::I64(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::U64(a) => a.iter().map(|&v| v as f64).collect(),
            Tensor::Bool(a) => a.iter().map(|&v| v as u8 as f64).collect(),
            Tensor::Small(t, a) => a.iter().map(|&b| t.decode(b)).collect(),
        }
    }

    /// Integer values (for shape-like tensors); `None` for float tensors.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        match self {
            Tensor::I64(a) => Some(a.iter().copied().collect()),
            Tensor::I32(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Tensor::I16(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Tensor::I8(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Tensor::U8(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Tensor::U16(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Tensor::U32(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Tensor::U64(a) => a.iter().map(|&v| i64::try_from(v).ok()).collect(),
            Tensor::Bool(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Tensor::Small(t, a) if !t.is_float() => Some(a.iter().map(|&b| t.decode(b) as i64).collect()),
            _ => None,
        }
    }

    /// Reinterprets the data with a new shape of the same element count.
    pub fn reshaped(self, shape: &[usize]) -> Result<Tensor> {
        let n = checked_numel(shape, "reshape target")?;
        if n != self.len() {
            return Err(SquishError::tensor("reshape", format!("cannot reshape {:?} ({} elements) to {shape:?} ({n} elements)", self.shape(), self.len())));
        }
        fn go<T: Clone>(a: ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
            ArrayD::from_shape_vec(IxDyn(shape), into_flat(a)).expect("element count checked above")
        }
        Ok(match self {
            Tensor::F32(a) => Tensor::F32(go(a, shape)),
            Tensor::F64(a) => Tensor::F64(go(a, shape)),
            Tensor::F16(a) => Tensor::F16(go(a, shape)),
            Tensor::BF16(a) => Tensor::BF16(go(a, shape)),
            Tensor::I8(a) => Tensor::I8(go(a, shape)),
            Tensor::U8(a) => Tensor::U8(go(a, shape)),
            Tensor::I16(a) => Tensor::I16(go(a, shape)),
            Tensor::U16(a) => Tensor::U16(go(a, shape)),
            Tensor::I32(a) => Tensor::I32(go(a, shape)),
            Tensor::U32(a) => Tensor::U32(go(a, shape)),
            Tensor::I64(a) => Tensor::I64(go(a, shape)),
            Tensor::U64(a) => Tensor::U64(go(a, shape)),
            Tensor::Bool(a) => Tensor::Bool(go(a, shape)),
            Tensor::Small(t, a) => Tensor::Small(t, go(a, shape)),
        })
    }
}

/// The elements of an array in row-major order, without copying when the
/// array already owns them contiguously.
pub fn into_flat<T: Clone>(a: ArrayD<T>) -> Vec<T> {
    let n = a.len();
    if a.is_standard_layout() {
        let (v, offset) = a.into_raw_vec_and_offset();
        let offset = offset.unwrap_or(0);
        if offset == 0 && v.len() == n {
            return v;
        }
        return v[offset..offset + n].to_vec();
    }
    a.iter().cloned().collect()
}
