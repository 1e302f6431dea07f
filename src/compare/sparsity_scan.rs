//! The sparsity scan: for each layer an unstructured prune section would
//! prune (each dependency group, for `channels` and `heads`: `group_scan`),
//! the output error with only that layer pruned at each of `LEVELS`, on the
//! user's inputs, and from those curves per-layer sparsities that reach the
//! section's overall sparsity with the least predicted error (written into
//! the recipe's `layers`).
//!
//! Layers are fast because little runs: per layer, the original runs once per input
//! with the values the rest of the model needs captured; then only the part
//! of the graph downstream of the layer runs, once per level and input,
//! with the pruned weight fed as an input (`Downstream`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::sensitivity::{class_output, outcome, Outcome};
use super::Feed;
use crate::compress::prune::{self, single, Target};
use crate::compress::{Recipe, Step};
use crate::error::{Result, SquishError};
use crate::ir::{Model, ValueInfo, ValueType};
use crate::runtime::Session;
use crate::tensor::Tensor;

/// The sparsities each layer is measured at.
pub const LEVELS: [f64; 6] = [0.3, 0.5, 0.7, 0.8, 0.9, 0.95];

#[derive(Debug, Clone, Serialize)]
pub struct LayerCurve {
    pub node: String,
    /// Other layers pruned with it (the rest of a structured group's producers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coupled: Vec<String>,
    pub op_type: String,
    pub weights: usize,
    /// One per level of `LEVELS`.
    pub outcomes: Vec<Outcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanResult {
    /// What a curve is: "layer" (unstructured) or "group" (channels, heads).
    pub unit: String,
    pub levels: Vec<f64>,
    pub curves: Vec<LayerCurve>,
    /// The overall share of zeros asked for (the section's `sparsity`).
    pub target: f64,
    /// Per layer (in `curves` order), the suggested sparsity.
    pub suggested: Vec<(String, f64)>,
    /// The share of the scanned weights the suggestion zeroes.
    pub achieved: f64,
    pub rule: String,
}

pub const RULE: &str = "start every layer dense; repeatedly raise the layer whose next level adds the least output error \
     per weight zeroed (errors measured with that layer alone pruned); the last one raised stops where the overall share \
     reaches the target";

/// A scan in progress: `layers()`, `measure(i)` for each, then `finish()`.
pub enum Scan {
    Layers(LayerScan),
    Groups(super::group_scan::GroupScan),
}

impl Scan {
    /// `recipe` must hold a prune step with an overall `sparsity` (its
    /// criterion and overrides apply); `feeds` are both calibration and
    /// evaluation inputs.
    pub fn new(original: impl Into<Arc<Model>>, recipe: Recipe, feeds: Vec<Feed>) -> Result<Scan> {
        let base = Base::new(original.into(), recipe, feeds)?;
        Ok(match base.section.pattern {
            prune::Pattern::Channels | prune::Pattern::Heads => Scan::Groups(super::group_scan::GroupScan::new(base)?),
            _ => Scan::Layers(LayerScan::new(base)?),
        })
    }

    /// The layers (or groups, named by their first producing layer) scanned, in graph order.
    pub fn layers(&self) -> Vec<String> {
        match self {
            Scan::Layers(s) => s.layers(),
            Scan::Groups(s) => s.layers(),
        }
    }

    /// The error curve of layer (group) `i`.
    pub fn measure(&mut self, i: usize) -> Result<&LayerCurve> {
        match self {
            Scan::Layers(s) => s.measure(i),
            Scan::Groups(s) => s.measure(i),
        }
    }

    /// The curves measured so far, the suggested sparsities, and the recipe with them.
    pub fn finish(&self) -> Result<(ScanResult, Recipe)> {
        match self {
            Scan::Layers(s) => Ok(s.base.suggest("layer", s.curves())),
            Scan::Groups(s) => Ok(s.base.suggest("group", s.curves())),
        }
    }
}

/// What every scan shares: the prune section, and the original's outputs
/// (and each value's size) on every input set.
pub(super) struct Base {
    pub original: Arc<Model>,
    pub section: prune::Section,
    step: usize,
    recipe: Recipe,
    pub feeds: Vec<Feed>,
    pub session: Session,
    pub reference: Vec<Vec<Tensor>>,
    pub class_output: Option<usize>,
    sizes: HashMap<String, usize>,
}

impl Base {
    fn new(original: Arc<Model>, recipe: Recipe, feeds: Vec<Feed>) -> Result<Base> {
        let (step, section) = recipe
            .steps
            .iter()
            .enumerate()
            .find_map(|(i, s)| match s {
                Step::Prune(p) => Some((i, p.clone())),
                _ => None,
            })
            .ok_or_else(|| SquishError::Recipe("the sparsity scan needs a recipe with a 'prune' section".into()))?;
        if section.sparsity.is_none() {
            return Err(SquishError::Recipe("section 'prune': the sparsity scan needs \"sparsity\" (the overall target)".into()));
        }
        if feeds.is_empty() {
            return Err(SquishError::Recipe("the sparsity scan needs at least one input set".into()));
        }
        let session = Session::for_comparison(Arc::clone(&original))?;
        let mut reference = Vec::with_capacity(feeds.len());
        let mut sizes = HashMap::new();
        for f in &feeds {
            let mut observe = |name: &str, t: &mut Tensor| {
                sizes.insert(name.to_string(), t.byte_size());
                Ok(())
            };
            reference.push(session.run_observed(f.clone(), &mut observe)?.outputs.into_iter().map(|(_, t)| t).collect::<Vec<_>>());
        }
        let class_output = reference.first().and_then(|o| class_output(o));
        Ok(Base { original, section, step, recipe, feeds, session, reference, class_output, sizes })
    }

    /// The suggested sparsities from `curves`, and the recipe with them in `layers`.
    fn suggest(&self, unit: &str, curves: Vec<LayerCurve>) -> (ScanResult, Recipe) {
        let target = self.section.sparsity.unwrap_or(0.0);
        let (sparsity, achieved) = allocate(&curves, target);
        // Three decimals: what a recipe shows, and per-row rounding is coarser anyway.
        let suggested: Vec<(String, f64)> = curves.iter().zip(&sparsity).map(|(c, &s)| (c.node.clone(), (s * 1000.0).round() / 1000.0)).collect();
        let mut recipe = self.recipe.clone();
        if let Some(Step::Prune(p)) = recipe.steps.get_mut(self.step) {
            for (c, (_, s)) in curves.iter().zip(&suggested) {
                for node in std::iter::once(&c.node).chain(&c.coupled) {
                    p.layers.entry(node.clone()).or_default().sparsity = Some(*s);
                }
            }
            p.scope = prune::Scope::Layer;
        }
        (ScanResult { unit: unit.into(), levels: LEVELS.to_vec(), curves, target, suggested, achieved, rule: RULE.into() }, recipe)
    }
}

/// The unstructured scan, one layer at a time on its downstream part.
pub struct LayerScan {
    base: Base,
    targets: Vec<Target>,
    /// Per layer: the nodes of its downstream part and the values it reads from upstream.
    parts: Vec<Part>,
    /// Captured values per input set, for the layers of the current pass.
    cache: Vec<HashMap<String, Tensor>>,
    done: Vec<Option<LayerCurve>>,
}

/// Memory a capture pass may hold (all input sets): several layers' values are
/// captured in one run of the original when they fit.
const CAPTURE_BUDGET: usize = 96 << 20;

impl LayerScan {
    fn new(base: Base) -> Result<LayerScan> {
        let targets = single::layers(&base.original, &base.section)?;
        // Static facts and which values are constants: once for every layer's part.
        let (dynamic, facts) = (dynamic_values(&base.original), crate::ops::facts::infer(&base.original));
        let parts = targets.iter().map(|t| Part::of(&base.original, t, &dynamic, &facts)).collect::<Result<Vec<_>>>()?;
        let done = targets.iter().map(|_| None).collect();
        let cache = base.feeds.iter().map(|_| HashMap::new()).collect();
        Ok(LayerScan { base, targets, parts, cache, done })
    }

    /// The layers scanned, in graph order.
    pub fn layers(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.node.clone()).collect()
    }

    /// The error curve of layer `i`.
    pub fn measure(&mut self, i: usize) -> Result<&LayerCurve> {
        let t = self.targets.get(i).ok_or_else(|| SquishError::Recipe(format!("the scan has {} layers, not {}", self.targets.len(), i + 1)))?.clone();
        if self.parts[i].boundary.iter().any(|b| !self.cache[0].contains_key(b)) {
            self.capture_from(i)?;
        }
        let down = Downstream::new(&self.base.original, &t, &self.parts[i])?;
        let stored = self.base.original.graph.constant(&t.weight).ok_or_else(|| SquishError::tensor(&t.weight, "not a constant weight"))?.clone();
        let inputs: Vec<&Tensor> = self.cache.iter().filter_map(|c| c.get(&t.input)).collect();
        let stats = single::input_stats(&t, &inputs)?;
        let mut outcomes = Vec::with_capacity(LEVELS.len());
        for level in LEVELS {
            let w = single::prune_weight(&t, &stored, stats.as_ref(), level, &self.base.section)?;
            let mut got = Vec::with_capacity(self.base.feeds.len());
            for (values, reference) in self.cache.iter().zip(&self.base.reference) {
                got.push(down.run(values, &w, reference)?);
            }
            outcomes.push(outcome(&self.base.reference, &got, self.base.class_output));
        }
        // Values no later layer reads are dropped.
        let later: HashSet<&String> = self.parts[i + 1..].iter().flat_map(|p| &p.boundary).collect();
        self.cache.iter_mut().for_each(|c| c.retain(|k, _| later.contains(k)));
        let curve = LayerCurve { node: t.node.clone(), coupled: Vec::new(), op_type: t.op_type.clone(), weights: t.rows * t.cols, outcomes };
        Ok(self.done[i].insert(curve))
    }

    fn curves(&self) -> Vec<LayerCurve> {
        self.done.iter().flatten().cloned().collect()
    }

    /// One run of the original per input set, capturing what layers `i..`
    /// read, as many layers as fit in `CAPTURE_BUDGET`.
    fn capture_from(&mut self, i: usize) -> Result<()> {
        let mut names: HashSet<String> = HashSet::new();
        let mut bytes = 0usize;
        for (k, part) in self.parts.iter().enumerate().skip(i) {
            let new: Vec<&String> = part.boundary.iter().filter(|b| !names.contains(*b)).collect();
            let more: usize = new.iter().map(|b| self.base.sizes.get(*b).copied().unwrap_or(0)).sum::<usize>() * self.base.feeds.len();
            if k > i && bytes + more > CAPTURE_BUDGET {
                break;
            }
            bytes += more;
            names.extend(new.into_iter().cloned());
        }
        for (feed, cache) in self.base.feeds.iter().zip(&mut self.cache) {
            cache.clear();
            cache.extend(feed.iter().filter(|(n, _)| names.contains(n)).cloned());
            self.base.session.run_observed(feed.clone(), &mut |name, t| {
                if names.contains(name) {
                    cache.insert(name.to_string(), t.clone());
                }
                Ok(())
            })?;
            if let Some(missing) = self.parts[i].boundary.iter().find(|n| !cache.contains_key(*n)) {
                return Err(SquishError::Calibration(format!("value '{missing}' was not observed in a run of the model")));
            }
        }
        Ok(())
    }
}

/// Per curve the suggested sparsity, and the share of weights zeroed (see
/// `RULE`; the last layer raised stops exactly at the target, between levels).
pub fn allocate(curves: &[LayerCurve], target: f64) -> (Vec<f64>, f64) {
    let total: f64 = curves.iter().map(|c| c.weights as f64).sum();
    let level = |l: usize| if l == 0 { 0.0 } else { LEVELS[l - 1] };
    let error = |c: &LayerCurve, l: usize| if l == 0 { 0.0 } else { c.outcomes[l - 1].error };
    let mut at = vec![0usize; curves.len()];
    let mut sparsity = vec![0.0f64; curves.len()];
    let mut zeroed = 0.0f64;
    while total > 0.0 && zeroed < target * total - 1e-9 {
        let cost = |i: usize| {
            let c = &curves[i];
            (error(c, at[i] + 1) - error(c, at[i])).max(0.0) / ((level(at[i] + 1) - level(at[i])) * c.weights as f64).max(1e-30)
        };
        let Some(i) = (0..curves.len()).filter(|&i| at[i] < LEVELS.len()).min_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b))) else { break };
        let w = curves[i].weights as f64;
        let step = (level(at[i] + 1) - level(at[i])) * w;
        if zeroed + step > target * total {
            sparsity[i] += (target * total - zeroed) / w;
            zeroed = target * total;
            break;
        }
        at[i] += 1;
        sparsity[i] = level(at[i]);
        zeroed += step;
    }
    (sparsity, if total > 0.0 { zeroed / total } else { 0.0 })
}

/// The part of a model downstream of one layer, as a model of its own: its
/// inputs are the values it reads from upstream (captured from a run of the
/// original) and the layer's weight.
struct Downstream {
    session: Session,
    /// Values to capture from the original's run.
    boundary: HashSet<String>,
    weight_input: String,
    /// For each of the original's outputs, its index among the part's outputs
    /// (`None`: not downstream, so unchanged).
    outputs: Vec<Option<usize>>,
}

/// The nodes downstream of a layer (with the shape arithmetic they need) and
/// the float activations they read from upstream.
struct Part {
    nodes: Vec<usize>,
    boundary: HashSet<String>,
}

impl Part {
    fn of(model: &Model, t: &Target, dynamic: &HashSet<String>, facts: &HashMap<String, crate::ir::infer::Facts>) -> Result<Part> {
        let g = &model.graph;
        let layer = g.nodes.iter().position(|n| n.name == t.node).ok_or_else(|| SquishError::Recipe(format!("node '{}' is missing", t.node)))?;
        let producer: HashMap<&str, usize> = g.nodes.iter().enumerate().flat_map(|(i, n)| n.outputs.iter().map(move |o| (o.as_str(), i))).collect();
        // Inputs, and what subgraphs (If, Loop) read from the enclosing graph.
        let reads = |i: usize| -> Vec<String> { g.nodes[i].inputs.iter().cloned().chain(crate::runtime::node_captures(&g.nodes[i])).collect() };
        // Downstream: the layer and everything that reads what it produces.
        let mut keep: HashSet<usize> = HashSet::from([layer]);
        let mut produced: HashSet<&str> = g.nodes[layer].outputs.iter().map(String::as_str).collect();
        for (i, n) in g.nodes.iter().enumerate().skip(layer + 1) {
            if reads(i).iter().any(|v| produced.contains(v.as_str())) {
                keep.insert(i);
                produced.extend(n.outputs.iter().map(String::as_str));
            }
        }
        // What they read from upstream: float activations are captured;
        // shape arithmetic and constants are recomputed inside the part.
        let mut boundary = HashSet::new();
        let mut stack: Vec<String> = keep.iter().flat_map(|&i| reads(i)).collect();
        while let Some(v) = stack.pop() {
            let v = v.as_str();
            let Some(&p) = producer.get(v) else {
                if g.inputs.iter().any(|i| i.name == v) && g.initializer(v).is_none() {
                    boundary.insert(v.to_string());
                }
                continue;
            };
            if keep.contains(&p) {
                continue;
            }
            let float = facts.get(v).and_then(|f| f.dtype).is_none_or(|d| d.is_float());
            if dynamic.contains(v) && float {
                boundary.insert(v.to_string());
            } else {
                keep.insert(p);
                stack.extend(reads(p));
            }
        }
        let mut nodes: Vec<usize> = keep.into_iter().collect();
        nodes.sort_unstable();
        Ok(Part { nodes, boundary })
    }
}

impl Downstream {
    fn new(model: &Model, t: &Target, p: &Part) -> Result<Downstream> {
        let g = &model.graph;
        let boundary = p.boundary.clone();
        let weight_input = format!("{}::scan_weight", t.weight);
        let mut nodes: Vec<_> = p.nodes.iter().map(|&i| g.nodes[i].clone()).collect();
        let slot = if t.op_type == "Gather" { 0 } else { 1 };
        let at = nodes.iter().position(|n| n.name == t.node).expect("kept");
        nodes[at].inputs[slot] = weight_input.clone();
        let used: HashSet<String> = nodes.iter().flat_map(|n| n.inputs.iter().cloned()).collect();
        let out_names: Vec<ValueInfo> = g.outputs.iter().filter(|o| nodes.iter().any(|n| n.outputs.contains(&o.name))).cloned().collect();
        let mut part = crate::ir::Graph { name: format!("{} downstream of {}", g.name, t.node), nodes, ..Default::default() };
        part.initializers = g.initializers.iter().filter(|(n, _)| used.contains(n) && !boundary.contains(n)).cloned().collect();
        let value_info = |name: &str| ValueInfo { name: name.to_string(), ty: ValueType::Unknown, doc_string: String::new() };
        part.inputs = boundary.iter().map(|b| value_info(b)).chain(std::iter::once(value_info(&weight_input))).collect();
        part.outputs = out_names;
        let outputs = g.outputs.iter().map(|o| part.outputs.iter().position(|p| p.name == o.name)).collect();
        let (mut sub, _) = Model::split(std::borrow::Cow::Borrowed(model));
        sub.graph = part;
        Ok(Downstream { session: Session::new(sub)?, boundary, weight_input, outputs })
    }

    /// The original's outputs with the layer's weight replaced by `w`.
    fn run(&self, values: &HashMap<String, Tensor>, w: &Tensor, reference: &[Tensor]) -> Result<Vec<Tensor>> {
        let mut feed: Feed = self.boundary.iter().map(|b| (b.clone(), values[b].clone())).collect();
        feed.push((self.weight_input.clone(), w.clone()));
        let mut out: Vec<Option<Tensor>> = self.session.run(feed)?.outputs.into_iter().map(|(_, t)| Some(t)).collect();
        Ok(self.outputs.iter().zip(reference).map(|(o, r)| o.and_then(|i| out[i].take()).unwrap_or_else(|| r.clone())).collect())
    }
}

/// Values that depend on a graph input (the rest are constants).
fn dynamic_values(model: &Model) -> HashSet<String> {
    let g = &model.graph;
    let mut out: HashSet<String> = g.inputs.iter().filter(|i| g.initializer(&i.name).is_none()).map(|i| i.name.clone()).collect();
    for n in &g.nodes {
        if n.inputs.iter().any(|v| out.contains(v)) {
            out.extend(n.outputs.iter().cloned());
        }
    }
    out
}
