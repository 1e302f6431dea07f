//! ONNX data-type codes (`TensorProto.DataType`). The IR keeps element types
//! by these codes (so that types Squish cannot hold, such as strings, are
//! saved faithfully); `DType` converts to and from them.

use super::{DType, SmallType};
use data_type as dt;

pub mod data_type {
    pub const UNDEFINED: i32 = 0;
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const UINT16: i32 = 4;
    pub const INT16: i32 = 5;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const STRING: i32 = 8;
    pub const BOOL: i32 = 9;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;
    pub const UINT32: i32 = 12;
    pub const UINT64: i32 = 13;
    pub const COMPLEX64: i32 = 14;
    pub const COMPLEX128: i32 = 15;
    pub const BFLOAT16: i32 = 16;
    pub const FLOAT8E4M3FN: i32 = 17;
    pub const FLOAT8E4M3FNUZ: i32 = 18;
    pub const FLOAT8E5M2: i32 = 19;
    pub const FLOAT8E5M2FNUZ: i32 = 20;
    pub const UINT4: i32 = 21;
    pub const INT4: i32 = 22;
    pub const FLOAT4E2M1: i32 = 23;
    pub const FLOAT8E8M0: i32 = 24;
    pub const UINT2: i32 = 25;
    pub const INT2: i32 = 26;

    /// The spec's name of a data type, for error messages.
    pub fn name(code: i32) -> &'static str {
        match code {
            FLOAT => "float32",
            UINT8 => "uint8",
            INT8 => "int8",
            UINT16 => "uint16",
            INT16 => "int16",
            INT32 => "int32",
            INT64 => "int64",
            STRING => "string",
            BOOL => "bool",
            FLOAT16 => "float16",
            DOUBLE => "float64",
            UINT32 => "uint32",
            UINT64 => "uint64",
            COMPLEX64 => "complex64",
            COMPLEX128 => "complex128",
            BFLOAT16 => "bfloat16",
            FLOAT8E4M3FN => "float8e4m3fn",
            FLOAT8E4M3FNUZ => "float8e4m3fnuz",
            FLOAT8E5M2 => "float8e5m2",
            FLOAT8E5M2FNUZ => "float8e5m2fnuz",
            UINT4 => "uint4",
            INT4 => "int4",
            FLOAT4E2M1 => "float4e2m1",
            FLOAT8E8M0 => "float8e8m0",
            UINT2 => "uint2",
            INT2 => "int2",
            _ => "undefined",
        }
    }
}

impl DType {
    /// The smallest and largest code of an integer type quantisation writes
    /// (8- and 16-bit, and the small integer formats); `None` for others.
    pub fn code_range(self) -> Option<(f64, f64)> {
        Some(match self {
            DType::U8 => (0.0, 255.0),
            DType::I8 => (-128.0, 127.0),
            DType::U16 => (0.0, 65535.0),
            DType::I16 => (-32768.0, 32767.0),
            DType::Small(st) => st.int_range().map(|(lo, hi)| (lo as f64, hi as f64))?,
            _ => return None,
        })
    }

    /// The type of an ONNX data-type code (`None`: strings, complex, unknown).
    pub fn from_onnx(code: i32) -> Option<DType> {
        Some(match code {
            dt::FLOAT => DType::F32,
            dt::DOUBLE => DType::F64,
            dt::FLOAT16 => DType::F16,
            dt::BFLOAT16 => DType::BF16,
            dt::INT8 => DType::I8,
            dt::UINT8 => DType::U8,
            dt::INT16 => DType::I16,
            dt::UINT16 => DType::U16,
            dt::INT32 => DType::I32,
            dt::UINT32 => DType::U32,
            dt::INT64 => DType::I64,
            dt::UINT64 => DType::U64,
            dt::BOOL => DType::Bool,
            dt::FLOAT8E4M3FN => DType::Small(SmallType::F8E4M3FN),
            dt::FLOAT8E4M3FNUZ => DType::Small(SmallType::F8E4M3FNUZ),
            dt::FLOAT8E5M2 => DType::Small(SmallType::F8E5M2),
            dt::FLOAT8E5M2FNUZ => DType::Small(SmallType::F8E5M2FNUZ),
            dt::FLOAT8E8M0 => DType::Small(SmallType::F8E8M0),
            dt::FLOAT4E2M1 => DType::Small(SmallType::F4E2M1),
            dt::INT4 => DType::Small(SmallType::I4),
            dt::UINT4 => DType::Small(SmallType::U4),
            dt::INT2 => DType::Small(SmallType::I2),
            dt::UINT2 => DType::Small(SmallType::U2),
            _ => return None,
        })
    }

    /// The ONNX data-type code of this type.
    pub fn onnx_code(self) -> i32 {
        match self {
            DType::F32 => dt::FLOAT,
            DType::F64 => dt::DOUBLE,
            DType::F16 => dt::FLOAT16,
            DType::BF16 => dt::BFLOAT16,
            DType::I8 => dt::INT8,
            DType::U8 => dt::UINT8,
            DType::I16 => dt::INT16,
            DType::U16 => dt::UINT16,
            DType::I32 => dt::INT32,
            DType::U32 => dt::UINT32,
            DType::I64 => dt::INT64,
            DType::U64 => dt::UINT64,
            DType::Bool => dt::BOOL,
            DType::Small(t) => match t {
                SmallType::F8E4M3FN => dt::FLOAT8E4M3FN,
                SmallType::F8E4M3FNUZ => dt::FLOAT8E4M3FNUZ,
                SmallType::F8E5M2 => dt::FLOAT8E5M2,
                SmallType::F8E5M2FNUZ => dt::FLOAT8E5M2FNUZ,
                SmallType::F8E8M0 => dt::FLOAT8E8M0,
                SmallType::F4E2M1 => dt::FLOAT4E2M1,
                SmallType::I4 => dt::INT4,
                SmallType::U4 => dt::UINT4,
                SmallType::I2 => dt::INT2,
                SmallType::U2 => dt::UINT2,
            },
        }
    }
}
