//! Output elements whose value the ONNX spec leaves undefined, so that no
//! answer is right: a float → integer `Cast` (or `CastLike`) of a value that
//! is NaN, infinite, or whose integer part lies outside the target type.
//! Expected outputs for them depend on the generator's libraries (numpy,
//! ml_dtypes), not on the spec; the harness leaves them out and counts them.

use squish::ir::Graph;
use squish::tensor::small::SmallType;
use squish::{DType, Tensor};

/// The integer range of a target type, if it is an integer type.
fn integer_range(dtype: DType) -> Option<(f64, f64)> {
    Some(match dtype {
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

/// The type a Cast or CastLike node converts to.
fn target_type(graph: &Graph, node: &squish::ir::Node, feeds: &[(String, Tensor)]) -> Option<DType> {
    match node.op_type.as_str() {
        "Cast" => DType::from_onnx(i32::try_from(node.int_attr("to", 0)).ok()?),
        "CastLike" => {
            let like = node.inputs.get(1)?;
            feeds.iter().find(|(n, _)| n == like).map(|(_, t)| t.dtype()).or_else(|| graph.constant(like).map(|t| t.dtype()))
        }
        _ => None,
    }
}

/// For graph output `k`: which elements are undefined, when it is written
/// directly by a float → integer cast of a graph input (`None`: all defined).
pub fn elements(graph: &Graph, feeds: &[(String, Tensor)], k: usize) -> Option<Vec<bool>> {
    let out = &graph.outputs.get(k)?.name;
    let node = graph.nodes.iter().find(|n| n.outputs.first() == Some(out) && n.domain.is_empty())?;
    let (lo, hi) = integer_range(target_type(graph, node, feeds)?)?;
    let (_, source) = feeds.iter().find(|(n, _)| Some(n) == node.inputs.first())?;
    if !source.dtype().is_float() {
        return None;
    }
    // Conversion truncates towards zero; the spec defines in-range results
    // only. `< hi + 1` rather than `≤ hi`: i64::MAX rounds up to 2^63 in f64.
    let in_range = |x: f64| x.trunc() >= lo && x.trunc() < hi + 1.0;
    let undefined = source.to_f64_vec().into_iter().map(|x| !x.is_finite() || !in_range(x)).collect();
    Some(undefined)
}
