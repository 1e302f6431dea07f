//! Cutting the chosen units out: each weight loses its slices along every
//! axis a group names, each Reshape's target shape and each depthwise
//! convolution's `group` get the new sizes. Weights keep their names; shape
//! constants are copied (another Reshape may read the same one).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ndarray::Axis;

use super::groups::{Group, Links, Role};
use crate::ir::editor::Editor;
use crate::ir::{AttrValue, Node};
use crate::map_tensor;
use crate::tensor::Tensor;

/// The constant element giving a Reshape's output size along one axis.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShapeRef {
    /// The node reading the constant (the Reshape, or the Concat building its shape) and which input.
    pub reader: usize,
    pub slot: usize,
    pub tensor: String,
    pub index: usize,
}

/// Finds the element `j` of input `slot` of node `reader`: `None` when it is
/// -1 (inferred: nothing to rewrite).
fn locate(l: &Links, reader: usize, slot: usize, j: usize) -> Result<Option<ShapeRef>, String> {
    let n = &l.g.nodes[reader];
    let v = n.inputs.get(slot).ok_or("no target shape")?;
    if let Some(tensor) = l.root_constant(v) {
        let vals = l.g.constant(&tensor).and_then(|t| t.to_i64_vec()).ok_or("its target shape is not an integer constant")?;
        return match vals.get(j) {
            Some(-1) => Ok(None),
            Some(0) => Err(format!("its target shape copies axis {j} from the input (0)")),
            Some(_) => Ok(Some(ShapeRef { reader, slot, tensor, index: j })),
            None => Err("its target shape is shorter than the output".into()),
        };
    }
    let p = l.g.nodes.iter().position(|p| p.outputs.iter().any(|o| o == v)).ok_or("its target shape is a model input")?;
    let pn = &l.g.nodes[p];
    if pn.op_type != "Concat" || !pn.domain.is_empty() || pn.int_attr("axis", 0) != 0 {
        return Err(format!("its target shape for axis {j} is computed at run time"));
    }
    let mut start = 0usize;
    for (s, piece) in pn.inputs.iter().enumerate() {
        let len = l.dims(piece).and_then(|d| d.first().copied().flatten()).ok_or("its target shape is built from pieces of unknown length")? as usize;
        if j < start + len {
            return locate(l, p, s, j - start);
        }
        start += len;
    }
    Err("its target shape is shorter than the output".into())
}

/// Whether the Reshape's size for output axis `axis` can be rewritten.
pub fn check_shape_element(l: &Links, n: &Node, axis: usize) -> Result<(), String> {
    let i = l.g.nodes.iter().position(|m| std::ptr::eq(m, n)).ok_or("not a node of the graph")?;
    locate(l, i, 1, axis).map(|_| ())
}

/// What was removed from one weight, for the record.
pub struct CutTensor {
    /// The weight as the original model names it.
    pub tensor: String,
    /// Its name in the pruned model (a copy when other inputs read the original).
    pub stored_as: String,
    /// The node the record lists it under (the first reader a group cuts).
    pub node: usize,
    pub before: Tensor,
    pub after: Tensor,
    /// Per axis: the removed indices, the size before and the role.
    pub axes: Vec<(usize, Vec<usize>, usize, Role)>,
}

/// Indices along an axis a group removes: every unit's block.
fn indices(span: super::groups::Span, units: &[usize]) -> impl Iterator<Item = usize> + '_ {
    units.iter().flat_map(move |&u| (0..span.block).map(move |b| span.offset + u * span.block + b))
}

/// Per axis of one weight: the indices removed and the weight's role.
type AxisCuts = BTreeMap<usize, (BTreeSet<usize>, Role)>;

/// Applies every group's removal (`removed[g]`: the units group `g` loses).
pub fn apply(ed: &mut Editor, l: &Links, groups: &[Group], removed: &[Vec<usize>]) -> Result<Vec<CutTensor>, String> {
    // Per node input: the weight it reads and what each axis loses.
    let mut by_input: BTreeMap<(usize, usize), (String, AxisCuts)> = BTreeMap::new();
    let mut shape_edits: HashMap<ShapeRef, (usize, i64)> = HashMap::new();
    let mut node_edits: BTreeMap<usize, Node> = BTreeMap::new();
    for (gi, (g, units)) in groups.iter().zip(removed).enumerate().filter(|(_, (_, u))| !u.is_empty()) {
        for c in &g.cuts {
            let entry = by_input.entry((c.node, c.slot)).or_insert((c.tensor.clone(), BTreeMap::new()));
            entry.1.entry(c.span.axis).or_insert_with(|| (BTreeSet::new(), c.role)).0.extend(indices(c.span, units));
        }
        for &(node, span) in &g.reshapes {
            if let Some(r) = locate(l, node, 1, span.axis)? {
                let delta = (units.len() * span.block) as i64;
                match shape_edits.get(&r) {
                    Some(&(other, _)) if other != gi => return Err(format!("shape constant '{}' is shared by two groups that shrink differently", r.tensor)),
                    _ => shape_edits.insert(r, (gi, delta)),
                };
            }
        }
        for &(node, span) in &g.depthwise {
            let n = node_edits.entry(node).or_insert_with(|| l.g.nodes[node].clone());
            let group = n.int_attr("group", 1) - (units.len() * span.block) as i64;
            set_int_attr(n, "group", group);
        }
    }
    let mut out = Vec::new();
    for ((node, slot), (tensor, axes)) in by_input {
        let before = ed.initializer(&tensor).cloned().ok_or_else(|| format!("weight '{tensor}' is not an initializer"))?;
        let mut after = before.clone();
        let mut record = Vec::new();
        for (axis, (gone, role)) in axes {
            let size = after.shape()[axis];
            let keep: Vec<usize> = (0..size).filter(|i| !gone.contains(i)).collect();
            // select keeps the source's strides; everything downstream expects row-major.
            after = map_tensor!(&after, a => a.select(Axis(axis), &keep).as_standard_layout().into_owned());
            record.push((axis, gone.into_iter().collect(), size, role));
        }
        // A weight other inputs read too (exporters share equal tensors) is copied for this one.
        let name = if l.readers(&tensor) == [(node, slot)] && !l.is_captured(&tensor) {
            ed.remove_initializer(&tensor);
            ed.add_initializer_as(&tensor, after.clone());
            tensor.clone()
        } else {
            let name = ed.add_initializer(&format!("{tensor}_pruned"), after.clone());
            node_edits.entry(node).or_insert_with(|| l.g.nodes[node].clone()).inputs[slot] = name.clone();
            name
        };
        out.push(CutTensor { tensor, stored_as: name, node, before, after, axes: record });
    }
    rewrite_shapes(ed, l, shape_edits, &mut node_edits)?;
    for (i, n) in node_edits {
        ed.replace(i, vec![n]);
    }
    Ok(out)
}

/// Each shape constant is copied with its sizes reduced and the reader rewired to the copy.
fn rewrite_shapes(ed: &mut Editor, l: &Links, edits: HashMap<ShapeRef, (usize, i64)>, node_edits: &mut BTreeMap<usize, Node>) -> Result<(), String> {
    let mut per_input: BTreeMap<(usize, usize, String), Vec<(usize, i64)>> = BTreeMap::new();
    for (r, (_, delta)) in edits {
        per_input.entry((r.reader, r.slot, r.tensor)).or_default().push((r.index, delta));
    }
    for ((reader, slot, tensor), changes) in per_input {
        let t = l.g.constant(&tensor).ok_or_else(|| format!("shape constant '{tensor}' is missing"))?;
        let mut vals = t.to_i64_vec().ok_or_else(|| format!("shape constant '{tensor}' is not integer"))?;
        for (i, delta) in changes {
            vals[i] -= delta;
            if vals[i] <= 0 {
                return Err(format!("shape constant '{tensor}' element {i} would become {}", vals[i]));
            }
        }
        let shape = t.shape().to_vec();
        let copy = match t {
            Tensor::I32(_) => Tensor::from_vec(&shape, vals.iter().map(|&v| v as i32).collect::<Vec<i32>>()),
            _ => Tensor::from_vec(&shape, vals),
        }
        .map_err(|e| e.to_string())?;
        let name = ed.add_initializer(&format!("{tensor}_pruned"), copy);
        let n = node_edits.entry(reader).or_insert_with(|| l.g.nodes[reader].clone());
        n.inputs[slot] = name;
    }
    Ok(())
}

fn set_int_attr(n: &mut Node, name: &str, v: i64) {
    if let Some(a) = n.attributes.iter_mut().find(|a| a.name == name) {
        a.value = AttrValue::Int(v);
    }
}
