//! Output elements whose value the ONNX spec leaves undefined, so that no
//! answer is right: a float → integer `Cast` (or `CastLike`) of a value that
//! is NaN, infinite, or whose integer part lies outside the target type.
//! Expected outputs for them depend on the generator's libraries (numpy,
//! ml_dtypes), not on the spec; the harness leaves them out and counts them.

use squish::ir::Graph;
use squish::{DType, Tensor};

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
    let (lo, hi) = target_type(graph, node, feeds)?.integer_range()?;
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
