//! Structured pruning, patterns `"channels"` and `"heads"`: whole output
//! channels of convolutions and linear layers, or whole attention heads,
//! are removed, so the model itself gets smaller dimensions (fewer
//! parameters, fewer operations, in any runtime). Which units go is chosen
//! per dependency group (`groups`) by a group score: the mean-normalised
//! squared norm of every coupled weight slice (`magnitude`), or for each
//! reading layer ‖W[:, c]‖·‖x_c‖, the unit's contribution to its output on
//! the calibration inputs (`wanda`).

mod cut;
mod groups;
mod rules;

use std::borrow::Cow;
use std::collections::HashMap;

use super::{Criterion, Pattern, Section};
use crate::compress::input_stats::{self as stats, LayerStats, Want};
use crate::compress::record::{Histogram, Removed, StepRecord};
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::ir::editor::Editor;
use crate::ir::{Model, ValueType};
use crate::tensor::Tensor;
use groups::{Group, Links, Role};

fn err(detail: impl Into<String>) -> SquishError {
    SquishError::Recipe(format!("section 'prune': {}", detail.into()))
}

/// The groups a section prunes with their share to remove, and the layers left whole with why.
struct Plan {
    groups: Vec<Group>,
    shares: Vec<f64>,
    kept: Vec<(usize, String)>,
}

fn plan(links: &Links, s: &Section) -> Plan {
    let found = groups::find(links, s.pattern);
    let mut plan = Plan { groups: Vec::new(), shares: Vec::new(), kept: found.blocked };
    let g = links.g;
    for group in found.groups {
        let producers: Vec<usize> = group.cuts.iter().filter(|c| c.role == Role::Produces).map(|c| c.node).collect();
        let excluded = producers.iter().find(|&&p| s.exclude.nodes.contains(&g.nodes[p].name) || s.exclude.op_types.contains(&g.nodes[p].op_type));
        if let Some(&p) = excluded {
            plan.kept.push((p, "excluded by the recipe (its whole dependency group stays)".into()));
            continue;
        }
        let share = producers.iter().map(|&p| s.settings_for(&g.nodes[p].name).sparsity).fold(f64::INFINITY, f64::min);
        plan.shares.push(if share.is_finite() { share } else { s.sparsity.unwrap_or(0.0) });
        plan.groups.push(group);
    }
    plan
}

/// Per-coordinate Σw² of a weight along `axis`.
fn axis_sumsq(t: &Tensor, axis: usize) -> Option<Vec<f64>> {
    let a = t.as_f32()?;
    let size = a.shape()[axis];
    let stride: usize = a.shape()[axis + 1..].iter().product();
    let mut out = vec![0.0f64; size];
    for (i, v) in a.iter().enumerate() {
        out[(i / stride) % size] += (*v as f64) * (*v as f64);
    }
    Some(out)
}

/// The group score of every unit (higher: more important).
fn scores(links: &Links, group: &Group, stats: &[(usize, LayerStats)]) -> Vec<f64> {
    let mut total = vec![0.0f64; group.units];
    for (ci, c) in group.cuts.iter().enumerate() {
        let n = &links.g.nodes[c.node];
        let filter = c.role != Role::Follows || (n.op_type == "Conv" && c.slot == 1);
        let Some(per) = links.g.constant(&c.tensor).and_then(|t| axis_sumsq(t, c.span.axis)).filter(|_| filter) else { continue };
        let x = stats.iter().find(|(i, _)| *i == ci).map(|(_, s)| &s.sumsq);
        let mut unit = vec![0.0f64; group.units];
        for (u, score) in unit.iter_mut().enumerate() {
            for b in 0..c.span.block {
                let k = c.span.offset + u * c.span.block + b;
                *score += match x {
                    Some(x) => per[k].sqrt() * x[k].sqrt(),
                    None => per[k],
                };
            }
        }
        // Each weight counts equally, whatever its scale.
        let mean = unit.iter().sum::<f64>() / group.units as f64;
        if mean > 0.0 {
            total.iter_mut().zip(&unit).for_each(|(t, u)| *t += u / mean);
        }
    }
    total
}

/// For Wanda: the inputs of every reading layer.
fn wants(links: &Links, groups: &[Group]) -> Vec<(usize, usize, Want)> {
    let mut out = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        for (ci, c) in g.cuts.iter().enumerate().filter(|(_, c)| c.role == Role::Reads) {
            let n = &links.g.nodes[c.node];
            let input = n.inputs[0].clone();
            let conv = n.op_type == "Conv";
            let dims = links.dims(&input).unwrap_or_default();
            let axis = if conv { 1 } else { dims.len().saturating_sub(1) };
            if let Some(Some(features)) = dims.get(axis) {
                out.push((gi, ci, Want { input, features: *features as usize, channels_first: conv, hessian: false }));
            }
        }
    }
    out
}

/// The lowest-scoring `share` of the units (at least one unit stays).
fn choose(scores: &[f64], share: f64) -> Vec<usize> {
    let n = ((share * scores.len() as f64).round() as usize).min(scores.len() - 1);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut out = order[..n].to_vec();
    out.sort_unstable();
    out
}

/// Every value's shape in one run of the model on `feed`.
fn observed_shapes(model: &Model, feed: &Feed) -> Result<HashMap<String, Vec<usize>>> {
    let session = crate::runtime::Session::for_comparison(std::sync::Arc::new(model.clone()))?;
    let mut shapes: HashMap<String, Vec<usize>> = feed.iter().map(|(n, t)| (n.clone(), t.shape().to_vec())).collect();
    session
        .run_observed(feed.clone(), &mut |name, t| {
            shapes.insert(name.to_string(), t.shape().to_vec());
            Ok(())
        })
        .map_err(|e| SquishError::Calibration(format!("sample 0: {e}")))?;
    Ok(shapes)
}

/// A model's prunable groups, each unit scored, and the layers left whole.
struct Analysis {
    plan: Plan,
    scores: Vec<Vec<f64>>,
}

/// Finds the groups and scores their units (Wanda: one calibration pass).
fn analyse(model: &Model, links: &Links, s: &Section, calibration: &[Feed]) -> Result<Analysis> {
    let plan = plan(links, s);
    if plan.groups.is_empty() && plan.kept.is_empty() {
        let what = if s.pattern == Pattern::Heads {
            "no attention heads (a Reshape [.., H·d] -> [.., H, d] feeding a product of two activations)"
        } else {
            "no layer with output channels"
        };
        let hint = if calibration.is_empty() { "; the shapes may only be known at run time: give calibration inputs" } else { "" };
        return Err(err(format!("pattern \"{}\": found {what} to prune{hint}", s.pattern.name())));
    }
    let mut gathered: Vec<Vec<(usize, LayerStats)>> = plan.groups.iter().map(|_| Vec::new()).collect();
    if s.method == Criterion::Wanda {
        let w = wants(links, &plan.groups);
        let (keys, wants): (Vec<(usize, usize)>, Vec<Want>) = w.into_iter().map(|(g, c, w)| ((g, c), w)).unzip();
        for ((g, c), st) in keys.into_iter().zip(stats::gather(model, &wants, calibration, "section 'prune': this method")?) {
            gathered[g].push((c, st));
        }
    }
    let scores = plan.groups.iter().zip(&gathered).map(|(g, st)| scores(links, g, st)).collect();
    Ok(Analysis { plan, scores })
}

/// The model with `removed[g]` units of each group cut.
fn cut_model(model: &Model, links: &Links, groups: &[Group], removed: &[Vec<usize>]) -> Result<(Model, Vec<cut::CutTensor>)> {
    let mut ed = Editor::borrowed(links.g);
    for i in 0..ed.nodes().len() {
        ed.hoist_constant(i);
    }
    let cuts = cut::apply(&mut ed, links, groups, removed).map_err(err)?;
    let mut graph = ed.finish();
    // Declared shapes of the shrunk values are stale: inference redoes them.
    let shrunk: std::collections::HashSet<&str> = groups.iter().flat_map(|g| g.values.iter().map(|(v, _)| v.as_str())).collect();
    graph.value_info.retain(|v| !shrunk.contains(v.name.as_str()));
    for vi in graph.inputs.iter_mut() {
        if let (Some(t), ValueType::Tensor { shape, .. }) = (cuts.iter().find(|c| c.stored_as == vi.name), &mut vi.ty) {
            *shape = Some(t.after.shape().iter().map(|&d| crate::ir::Dim::Fixed(d as i64)).collect());
        }
    }
    let (mut shell, _) = Model::split(Cow::Borrowed(model));
    shell.graph = graph;
    Ok((shell, cuts))
}

/// Prunes whole channels or heads.
pub fn apply(model: Cow<'_, Model>, s: &Section, calibration: &[Feed], record: &mut StepRecord) -> Result<Model> {
    let observed = match calibration.first() {
        Some(feed) => observed_shapes(&model, feed)?,
        None => HashMap::new(),
    };
    let links = Links::new(&model, observed);
    let a = analyse(&model, &links, s, calibration)?;
    for (node, why) in &a.plan.kept {
        record.kept(&links.g.nodes[*node], why.clone());
    }
    let removed: Vec<Vec<usize>> = a.scores.iter().zip(&a.plan.shares).map(|(sc, &share)| choose(sc, share)).collect();
    let (pruned, cuts) = cut_model(&model, &links, &a.plan.groups, &removed)?;
    write_record(&links, s, &a.plan, &cuts, record);
    Ok(pruned)
}

/// One dependency group as the sparsity scan shows it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    /// The layers computing the group's units (the recipe's `layers` keys).
    pub producers: Vec<String>,
    pub op_type: String,
    /// Parameters the group's units cover, across every coupled weight.
    pub weights: usize,
}

/// For the sparsity scan: every group a section would prune, scored once,
/// so that any one of them can be cut alone at any share.
pub struct GroupSet {
    observed: HashMap<String, Vec<usize>>,
    facts: HashMap<String, crate::ir::infer::Facts>,
    groups: Vec<Group>,
    scores: Vec<Vec<f64>>,
    pub info: Vec<GroupInfo>,
}

impl GroupSet {
    pub fn new(model: &Model, s: &Section, calibration: &[Feed]) -> Result<GroupSet> {
        s.check_names(model)?;
        let observed = match calibration.first() {
            Some(feed) => observed_shapes(model, feed)?,
            None => HashMap::new(),
        };
        let facts = crate::ops::facts::infer(model);
        let links = Links::sharing(model, &observed, &facts);
        let a = analyse(model, &links, s, calibration)?;
        if a.plan.groups.is_empty() {
            let (node, why) = &a.plan.kept[0];
            return Err(err(format!("no group can be pruned (node '{}': {why})", links.g.nodes[*node].name)));
        }
        let info = a.plan.groups.iter().map(|g| group_info(&links, g)).collect();
        Ok(GroupSet { groups: a.plan.groups, scores: a.scores, info, observed, facts })
    }

    /// `model` (the one `new` was given) with the lowest-scoring `share` of
    /// group `i`'s units removed, nothing else.
    pub fn cut(&self, model: &Model, i: usize, share: f64) -> Result<Model> {
        let links = Links::sharing(model, &self.observed, &self.facts);
        let removed = choose(&self.scores[i], share);
        Ok(cut_model(model, &links, std::slice::from_ref(&self.groups[i]), &[removed])?.0)
    }
}

fn group_info(links: &Links, g: &Group) -> GroupInfo {
    let producers: Vec<&crate::ir::Node> = g.cuts.iter().filter(|c| c.role == Role::Produces).map(|c| &links.g.nodes[c.node]).collect();
    let mut names: Vec<String> = producers.iter().map(|n| n.name.clone()).collect();
    names.dedup();
    let covered = |c: &groups::Cut| {
        let t = links.g.constant(&c.tensor)?;
        let size = *t.shape().get(c.span.axis)?;
        Some(t.len() / size.max(1) * g.units * c.span.block)
    };
    GroupInfo { producers: names, op_type: producers.first().map_or_else(String::new, |n| n.op_type.clone()), weights: g.cuts.iter().filter_map(covered).sum() }
}

fn write_record(links: &Links, s: &Section, plan: &Plan, cuts: &[cut::CutTensor], record: &mut StepRecord) {
    let unit = if s.pattern == Pattern::Heads { "heads" } else { "channels" };
    let label = format!("{} {unit}", format!("{:?}", s.method).to_lowercase());
    for c in cuts {
        let node = &links.g.nodes[c.node];
        let grouping = c
            .axes
            .iter()
            .map(|(axis, gone, size, _)| {
                let g = plan.groups.iter().find(|g| g.cuts.iter().any(|x| x.tensor == c.tensor && x.span.axis == *axis));
                let layers = g.map_or(0, |g| g.cuts.iter().filter(|x| x.role != Role::Follows).count());
                format!("axis {axis}: {} of {size} removed (a group of {layers} weights)", gone.len())
            })
            .collect::<Vec<_>>()
            .join("; ");
        let bytes = |t: &Tensor| t.byte_size();
        let e = record.entry(&c.tensor, node, &label, grouping, (bytes(&c.before), bytes(&c.after)), 0.0, 0.0);
        if let (Some(b), Some(a)) = (c.before.as_f32(), c.after.as_f32()) {
            let (b, a): (Vec<f32>, Vec<f32>) = (b.iter().copied().collect(), a.iter().copied().collect());
            e.gzip_bytes = Some(crate::formats::gzip_len(&a.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()));
            e.histogram = Some(Histogram::of(&b, &a));
        }
        e.removed = c
            .axes
            .iter()
            .map(|(axis, gone, size, role)| Removed { axis: *axis, size: *size, indices: gone.clone(), role: format!("{role:?}").to_lowercase() })
            .collect();
    }
}
