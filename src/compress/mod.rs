//! Compression: methods behind one interface, the recipe that composes them
//! and the record of what they changed.
//!
//! A method is `Model × its recipe section × calibration data → Model`, plus
//! its entries in the record (`Method`). A recipe is a list of steps, each a
//! method's section, applied in order (`recipe`); `compress` runs them and
//! stamps the result with the recipe and the Squish version (provenance).
//! Methods: `prune` (the `"prune"` section), `distill` (`"distill"`) and
//! `quant` (`"quantize"`);
//! `hessian` (the damped input Hessian and error compensation) and
//! `input_stats` (what calibration inputs tell about each layer) are shared.

pub mod cache;
pub mod calibrate;
pub mod distill;
pub mod hessian;
pub mod input_stats;
pub mod prune;
pub mod quant;
pub mod recipe;
pub mod record;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::formats::data::feeds::Feed;
use crate::ir::Model;
pub use cache::Cache;
pub use recipe::{Recipe, Step, Target};
pub use record::{Entry, Kept, Record, Removed, Smoothed, StepRecord, Unit, Warning};

/// Nodes (by name) or op types a section leaves as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclude {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub op_types: Vec<String>,
}

impl Exclude {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.op_types.is_empty()
    }
}

/// A compression method, configured by its recipe section.
pub trait Method {
    /// The section's key in a recipe ("quantize").
    fn name(&self) -> &'static str;

    /// Checks what the section names against the model (nodes that do not
    /// exist, settings a node cannot take) before any step runs.
    fn check(&self, model: &Model) -> Result<()>;

    /// Applies the method; `inputs.calibration` holds input sets (may be
    /// empty when the method needs none). Adds its entries through `record`. From a
    /// borrowed model the result copies only what the method keeps; from an
    /// owned one each replaced weight is freed as soon as it is replaced.
    /// `cache` keeps work that does not depend on the section's per-layer
    /// settings (scoped to this step and the steps before it).
    fn apply(&self, model: Cow<'_, Model>, inputs: &StepInputs, record: &mut StepRecord, cache: &Cache) -> Result<Model>;

    /// Leaves `node` as it is: what sensitivity restores one unit at a time,
    /// and what a suggested exclusion writes into the section.
    fn exclude(&mut self, node: &str);

    /// Settings milder than the ones the section gives `node`, mildest last
    /// (leaving it as it is, `exclude`, is milder still): the rungs a target
    /// search steps back through.
    fn milder(&self, model: &Model, node: &str) -> Vec<Rung>;

    /// Settings more compressed than the section's own for `node`, most
    /// compressed first, that the section leaves open (a block size it does
    /// not fix): the rungs a target search may step up to.
    fn stronger(&self, _model: &Model, _node: &str) -> Vec<Rung> {
        Vec::new()
    }

    /// Gives `node` the settings of `rung` (written as a per-layer override).
    fn set_rung(&mut self, node: &str, rung: &Rung) -> Result<()>;
}

/// What a step may read besides the model it transforms.
pub struct StepInputs<'a> {
    pub calibration: &'a [Feed],
    /// The model before the recipe's first step: the teacher a `distill`
    /// step imitates (kept only when the recipe has one).
    pub original: Option<&'a Model>,
}

/// One setting a search may give a unit: a label ("int8_block",
/// "sparsity 0.25") and the per-layer override that writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rung {
    pub label: String,
    pub layer: serde_json::Value,
}

/// Metadata keys of the provenance every compressed model carries.
pub const METADATA_VERSION: &str = "squish.version";
pub const METADATA_RECIPE: &str = "squish.recipe";

/// Applies every step of `recipe` to `model`, which is left as it is; the
/// result shares nothing with it and copies only the weights it keeps.
pub fn compress(model: &Model, recipe: &Recipe, calibration: &[Feed]) -> Result<(Model, Record)> {
    let model_bytes_before = crate::formats::onnx::encoded_len(model);
    let (out, mut record) = apply_steps(Cow::Borrowed(model), recipe, calibration)?;
    record.model_bytes_before = model_bytes_before;
    record.model_bytes_after = crate::formats::onnx::encoded_len(&out);
    Ok((out, record))
}

/// `compress` consuming the model (each float weight is freed as soon as its
/// compressed form exists). `file_bytes`: the size of the file the model came
/// from, when known (re-encoding a large model to measure it costs memory).
pub fn compress_owned(model: Model, recipe: &Recipe, calibration: &[Feed], file_bytes: Option<usize>) -> Result<(Model, Record)> {
    let model_bytes_before = file_bytes.unwrap_or_else(|| crate::formats::onnx::encoded_len(&model));
    let (model, mut record) = apply_steps(Cow::Owned(model), recipe, calibration)?;
    record.model_bytes_before = model_bytes_before;
    record.model_bytes_after = crate::formats::onnx::encoded_len(&model);
    Ok((model, record))
}

/// The steps alone, without measuring sizes (`model_bytes_*` stay 0): for a
/// caller that encodes the result anyway and takes the size from that.
pub fn apply_steps(model: Cow<'_, Model>, recipe: &Recipe, calibration: &[Feed]) -> Result<(Model, Record)> {
    apply_steps_cached(model, recipe, calibration, &Cache::none())
}

/// `apply_steps` reusing what `cache` kept from earlier compressions of the
/// same model with the same calibration inputs.
pub fn apply_steps_cached(model: Cow<'_, Model>, recipe: &Recipe, calibration: &[Feed], cache: &Cache) -> Result<(Model, Record)> {
    if let Some(t) = &recipe.target {
        return Err(crate::error::SquishError::Recipe(format!(
            "key 'target' ({} {}): a target needs the search, which runs the model on your inputs (squish compress --inputs DIR, or the page's Compress with inputs)",
            t.metric.name(),
            t.bound_text()
        )));
    }
    for step in &recipe.steps {
        step.method().check(&model)?;
    }
    let mut record = Record { recipe: recipe.to_json(), ..Record::default() };
    // A distill step learns from the original: keep it (a copy when the steps consume it).
    let needs_original = recipe.steps.iter().any(|s| matches!(s, Step::Distill(_)));
    let original_copy = match &model {
        Cow::Owned(m) if needs_original => Some(m.clone()),
        _ => None,
    };
    let original_borrowed = match &model {
        Cow::Borrowed(m) => Some(*m),
        Cow::Owned(_) => None,
    };
    let original = original_copy.as_ref().or(original_borrowed);
    let mut model = model;
    for (i, step) in recipe.steps.iter().enumerate() {
        let method = step.method();
        // What a step gets depends on the steps before it: they are its scope.
        let scope = cache.scoped(&format!("{i}:{}", serde_json::to_string(&recipe.steps[..i]).expect("steps serialise")));
        let inputs = StepInputs { calibration, original };
        model = Cow::Owned(method.apply(model, &inputs, &mut StepRecord { record: &mut record, step: i, method: method.name() }, &scope)?);
    }
    let mut model = model.into_owned();
    stamp_provenance(&mut model, &record.recipe);
    Ok((model, record))
}

/// Writes the recipe and the Squish version into the model's metadata. A
/// recipe already there (a model compressed again) is kept under
/// `squish.recipe.1`, `.2`, … in the order they were applied.
pub(crate) fn stamp_provenance(model: &mut Model, recipe: &str) {
    let earlier = model.metadata.iter().filter(|(k, _)| k.starts_with(&format!("{METADATA_RECIPE}."))).count();
    for (k, _) in model.metadata.iter_mut().filter(|(k, _)| k == METADATA_RECIPE) {
        *k = format!("{METADATA_RECIPE}.{}", earlier + 1);
    }
    model.metadata.retain(|(k, _)| k != METADATA_VERSION);
    model.metadata.push((METADATA_VERSION.into(), env!("CARGO_PKG_VERSION").into()));
    model.metadata.push((METADATA_RECIPE.into(), recipe.into()));
}
