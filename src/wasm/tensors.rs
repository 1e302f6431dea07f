//! Tensors across the boundary: plain objects `{ name, dtype, dims, data }`
//! with `data` a typed array (float16/bfloat16 as their bit patterns in a
//! Uint16Array, small formats one code per byte), and arrays of them.

use half::{bf16, f16};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::formats::data::feeds::Feed;
use crate::tensor::{DType, Tensor};

/// Feeds from JS: an array of input sets, each an array of named tensors.
pub(super) fn feeds_from_js(feeds: &Array, what: &str) -> Result<Vec<Feed>, JsError> {
    let mut out = Vec::with_capacity(feeds.length() as usize);
    for (i, sample) in feeds.iter().enumerate() {
        let sample: Array = sample.dyn_into().map_err(|_| JsError::new(&format!("{what} {i} is not an array of tensors")))?;
        out.push(named_tensors(&sample).map_err(|e| JsError::new(&format!("{what} {i}: {e}")))?);
    }
    Ok(out)
}

pub(super) fn feeds_to_js(feeds: &[Feed]) -> Result<Array, JsError> {
    let out = Array::new();
    for feed in feeds {
        let one = Array::new();
        for (name, t) in feed {
            one.push(&tensor_to_js(Some(name), t)?);
        }
        out.push(&one);
    }
    Ok(out)
}

pub(super) fn named_inputs(inputs: &Array) -> Result<Vec<(String, Tensor)>, JsError> {
    named_tensors(inputs).map_err(|e| JsError::new(&e))
}

pub(super) fn named_tensors(inputs: &Array) -> Result<Vec<(String, Tensor)>, String> {
    let mut named = Vec::with_capacity(inputs.length() as usize);
    for (i, v) in inputs.iter().enumerate() {
        let name = Reflect::get(&v, &"name".into()).ok().and_then(|n| n.as_string()).ok_or_else(|| format!("input #{i}: tensor object has no 'name'"))?;
        let t = tensor_from_js(&v).map_err(|e| format!("input '{name}': {e}"))?;
        named.push((name, t));
    }
    Ok(named)
}

pub(super) fn set(obj: &Object, key: &str, v: &JsValue) -> Result<(), JsError> {
    Reflect::set(obj, &key.into(), v).map(|_| ()).map_err(|_| JsError::new("cannot build result object"))
}

pub(super) fn tensor_to_js(name: Option<&str>, t: &Tensor) -> Result<JsValue, JsError> {
    let obj = Object::new();
    if let Some(name) = name {
        set(&obj, "name", &name.into())?;
    }
    set(&obj, "dtype", &t.dtype().name().into())?;
    let dims = Array::new();
    for &d in t.shape() {
        dims.push(&JsValue::from_f64(d as f64));
    }
    set(&obj, "dims", &dims)?;
    macro_rules! typed {
        ($arr:ty, $a:expr) => {
            <$arr>::from(&$a.iter().copied().collect::<Vec<_>>()[..]).into()
        };
    }
    let data: JsValue = match t {
        Tensor::F32(a) => typed!(js_sys::Float32Array, a),
        Tensor::F64(a) => typed!(js_sys::Float64Array, a),
        Tensor::I8(a) => typed!(js_sys::Int8Array, a),
        Tensor::U8(a) => typed!(js_sys::Uint8Array, a),
        Tensor::I16(a) => typed!(js_sys::Int16Array, a),
        Tensor::U16(a) => typed!(js_sys::Uint16Array, a),
        Tensor::I32(a) => typed!(js_sys::Int32Array, a),
        Tensor::U32(a) => typed!(js_sys::Uint32Array, a),
        Tensor::I64(a) => typed!(js_sys::BigInt64Array, a),
        Tensor::U64(a) => typed!(js_sys::BigUint64Array, a),
        Tensor::F16(a) => js_sys::Uint16Array::from(&a.iter().map(|v| v.to_bits()).collect::<Vec<_>>()[..]).into(),
        Tensor::BF16(a) => js_sys::Uint16Array::from(&a.iter().map(|v| v.to_bits()).collect::<Vec<_>>()[..]).into(),
        Tensor::Bool(a) => js_sys::Uint8Array::from(&a.iter().map(|&v| v as u8).collect::<Vec<_>>()[..]).into(),
        // Small formats travel as their bit patterns, one per byte.
        Tensor::Small(_, a) => typed!(js_sys::Uint8Array, a),
    };
    set(&obj, "data", &data)?;
    Ok(obj.into())
}

pub(super) fn tensor_from_js(v: &JsValue) -> Result<Tensor, String> {
    let get = |k: &str| Reflect::get(v, &k.into()).map_err(|_| format!("cannot read '{k}'"));
    let dtype_name = get("dtype")?.as_string().ok_or("'dtype' must be a string such as \"float32\"")?;
    let dtype = DType::from_name(&dtype_name).ok_or_else(|| format!("unknown dtype '{dtype_name}'"))?;
    let dims_js = get("dims")?;
    if !Array::is_array(&dims_js) {
        return Err("'dims' must be an array of non-negative integers".into());
    }
    let mut dims = Vec::new();
    for d in Array::from(&dims_js).iter() {
        let f = d.as_f64().ok_or("'dims' must contain numbers")?;
        if !(f >= 0.0 && f.fract() == 0.0 && f < 4.0e9) {
            return Err(format!("invalid dimension {f} in 'dims'"));
        }
        dims.push(f as usize);
    }
    let data = get("data")?;
    macro_rules! from_typed {
        ($arr:ty, $conv:expr) => {{
            let arr = data.dyn_into::<$arr>().map_err(|_| format!("'data' must be a {} for dtype {dtype_name}", stringify!($arr)))?;
            Tensor::from_vec(&dims, arr.to_vec().into_iter().map($conv).collect()).map_err(|e| e.to_string())
        }};
    }
    match dtype {
        DType::F32 => from_typed!(js_sys::Float32Array, |x: f32| x),
        DType::F64 => from_typed!(js_sys::Float64Array, |x: f64| x),
        DType::I8 => from_typed!(js_sys::Int8Array, |x: i8| x),
        DType::U8 => from_typed!(js_sys::Uint8Array, |x: u8| x),
        DType::I16 => from_typed!(js_sys::Int16Array, |x: i16| x),
        DType::U16 => from_typed!(js_sys::Uint16Array, |x: u16| x),
        DType::I32 => from_typed!(js_sys::Int32Array, |x: i32| x),
        DType::U32 => from_typed!(js_sys::Uint32Array, |x: u32| x),
        DType::I64 => from_typed!(js_sys::BigInt64Array, |x: i64| x),
        DType::U64 => from_typed!(js_sys::BigUint64Array, |x: u64| x),
        DType::F16 => from_typed!(js_sys::Uint16Array, f16::from_bits),
        DType::BF16 => from_typed!(js_sys::Uint16Array, bf16::from_bits),
        DType::Bool => from_typed!(js_sys::Uint8Array, |x: u8| x != 0),
        DType::Small(st) => {
            let arr = data.dyn_into::<js_sys::Uint8Array>().map_err(|_| format!("'data' must be a Uint8Array of {dtype_name} codes"))?;
            let shape = ndarray::IxDyn(&dims);
            let codes = arr.to_vec();
            crate::tensor::checked_numel(&dims, "input").map_err(|e| e.to_string())?;
            ndarray::ArrayD::from_shape_vec(shape, codes).map(|a| Tensor::Small(st, a)).map_err(|e| e.to_string())
        }
    }
}
