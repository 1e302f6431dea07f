//! The recipe: one JSON format for the CLI, the page, the widget and shared
//! links (`www/recipe.schema.json` publishes it; README "Recipes").
//!
//! ```json
//! { "version": 1, "prune": {…}, "distill": {…}, "quantize": {…} }
//! { "version": 1, "steps": [{ "prune": {…} }, { "distill": {…} }, { "prune": {…} }] }
//! ```
//!
//! Sections run in the order prune → distil → quantise; `steps` gives any
//! order and repeats. A recipe without sections (`{"scheme": "int8_dynamic",
//! …}`, the format before version 1) is read as its `quantize` section. Every
//! form becomes the same list of steps, so equivalent recipes give
//! byte-identical models; `to_json` writes the canonical form.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Method;
use super::{distill, prune, quant};
use crate::error::{Result, SquishError};

/// The schema version this Squish reads and writes.
pub const RECIPE_VERSION: u64 = 1;

/// Section keys in the order a sectioned recipe applies them.
pub const SECTION_ORDER: [&str; 3] = ["prune", "distill", "quantize"];

/// Top-level keys of a recipe written before version 1 (the quantize section's).
const LEGACY_KEYS: [&str; 12] =
    ["scheme", "per_channel", "symmetric", "block_size", "format", "rounding", "damping", "act_order", "smooth", "exclude", "layers", "calibration"];

/// One step: a method and its section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Step {
    #[serde(rename = "prune")]
    Prune(prune::Section),
    /// Boxed: the training options make it several times larger than the others.
    #[serde(rename = "distill")]
    Distill(Box<distill::Section>),
    #[serde(rename = "quantize")]
    Quantize(quant::Section),
}

impl Step {
    pub fn method(&self) -> &dyn Method {
        match self {
            Step::Prune(s) => s,
            Step::Distill(s) => s.as_ref(),
            Step::Quantize(s) => s,
        }
    }

    pub fn method_mut(&mut self) -> &mut dyn Method {
        match self {
            Step::Prune(s) => s,
            Step::Distill(s) => s.as_mut(),
            Step::Quantize(s) => s,
        }
    }

    /// Parses one section by its key.
    fn parse(key: &str, value: Value) -> Result<Step> {
        match key {
            "quantize" => Ok(Step::Quantize(quant::Section::from_value(value)?)),
            "prune" => Ok(Step::Prune(prune::Section::from_value(value)?)),
            "distill" => Ok(Step::Distill(Box::new(distill::Section::from_value(value)?))),
            other => Err(SquishError::Recipe(format!("unknown section '{other}' (expected one of {})", SECTION_ORDER.join(", ")))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub steps: Vec<Step>,
    /// A quality the result must keep: the steps are then the most
    /// compressed settings a search may use, layer by layer
    /// (`compare::target`).
    pub target: Option<Target>,
}

/// What the target is measured with, on the original's outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetMetric {
    /// Share of inputs whose top-1 class is the original's.
    Agreement,
    /// The lowest per-input cosine between the outputs.
    MinCosine,
    /// Share of inputs classified as their label (needs labels).
    Accuracy,
    /// Mean KL divergence of the compressed class distribution from the original's (lower is better).
    Kl,
}

impl TargetMetric {
    pub fn name(self) -> &'static str {
        match self {
            TargetMetric::Agreement => "agreement",
            TargetMetric::MinCosine => "min_cosine",
            TargetMetric::Accuracy => "accuracy",
            TargetMetric::Kl => "kl",
        }
    }

    pub fn higher_is_better(self) -> bool {
        self != TargetMetric::Kl
    }
}

/// `"target": {"metric": "agreement", "at_least": 0.99}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub metric: TargetMetric,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    /// For `kl`, which is better lower.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
    /// The output measured (default: the first class output for agreement,
    /// accuracy and kl; every float output, the worst one counting, for
    /// min_cosine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Share of the inputs held back from the search to check its result.
    #[serde(default = "default_held_back")]
    pub held_back: f64,
    /// Seed of the split into searched and held-back inputs.
    #[serde(default)]
    pub seed: u64,
}

fn default_held_back() -> f64 {
    0.25
}

impl Target {
    fn from_value(v: Value) -> Result<Target> {
        let t: Target = serde_json::from_value(v).map_err(|e| recipe_err(format!("target: {e}")))?;
        let name = t.metric.name();
        match (t.at_least, t.at_most, t.metric.higher_is_better()) {
            (None, None, true) => return Err(recipe_err(format!("target: metric {name} needs \"at_least\" (e.g. 0.99)"))),
            (None, None, false) => return Err(recipe_err("target: metric kl needs \"at_most\" (e.g. 0.01)")),
            (Some(_), _, false) => return Err(recipe_err("target: kl is a divergence (lower is better): give \"at_most\", not \"at_least\"")),
            (_, Some(_), true) => return Err(recipe_err(format!("target: {name} is better higher: give \"at_least\", not \"at_most\""))),
            _ => {}
        }
        let bound = t.bound();
        let range = match t.metric {
            TargetMetric::MinCosine => -1.0..=1.0,
            TargetMetric::Kl => 0.0..=f64::MAX,
            _ => 0.0..=1.0,
        };
        if !range.contains(&bound) {
            return Err(recipe_err(format!("target: {name} {} is out of range [{}, {}]", t.bound_text(), range.start(), range.end())));
        }
        if !(t.held_back > 0.0 && t.held_back < 1.0) {
            return Err(recipe_err(format!("target: held_back must be a share in (0, 1), got {}", t.held_back)));
        }
        Ok(t)
    }

    /// The bound, whichever side it is on.
    pub fn bound(&self) -> f64 {
        self.at_least.or(self.at_most).unwrap_or(f64::NAN)
    }

    /// "at least 0.99" / "at most 0.01".
    pub fn bound_text(&self) -> String {
        match self.at_least {
            Some(v) => format!("at least {v}"),
            None => format!("at most {}", self.bound()),
        }
    }

    /// Whether `value` of the metric meets the target.
    pub fn met_by(&self, value: f64) -> bool {
        if self.metric.higher_is_better() {
            value >= self.bound()
        } else {
            value <= self.bound()
        }
    }
}

fn recipe_err(detail: impl Into<String>) -> SquishError {
    SquishError::Recipe(detail.into())
}

impl Recipe {
    pub fn from_json(text: &str) -> Result<Recipe> {
        let v: Value = serde_json::from_str(text).map_err(|e| recipe_err(format!("invalid JSON: {e}")))?;
        let Value::Object(mut top) = v else { return Err(recipe_err("a recipe is a JSON object")) };
        let versioned = top.contains_key("version");
        check_version(top.remove("version"))?;
        if let Some(k) = LEGACY_KEYS.iter().find(|k| versioned && top.contains_key(**k)) {
            return Err(recipe_err(format!("'{k}' at the top level of a version 1 recipe: put quantize settings in a 'quantize' section")));
        }
        let target = top.remove("target").map(Target::from_value).transpose()?;
        if let Some(k) = LEGACY_KEYS.iter().find(|k| target.is_some() && top.contains_key(**k)) {
            return Err(recipe_err(format!("'{k}' at the top level next to a target: put the quantize settings in a 'quantize' section")));
        }
        let steps = if let Some(list) = top.remove("steps") {
            if let Some(k) = top.keys().next() {
                return Err(recipe_err(format!("key '{k}' next to 'steps': with a list of steps, every section goes inside it")));
            }
            steps_from_list(list)?
        } else {
            steps_from_sections(top)?
        };
        if steps.is_empty() && target.is_some() {
            return Err(recipe_err(
                "a target needs a section to search in: its settings are the most compressed the search may use (e.g. {\"quantize\": {\"scheme\": \"int4_block\"}})",
            ));
        }
        if steps.is_empty() {
            return Err(recipe_err("no step: give at least one section (e.g. {\"quantize\": {\"scheme\": \"int8_dynamic\"}})"));
        }
        Ok(Recipe { steps, target })
    }

    /// The canonical JSON: `{"version":1,"steps":[…]}` (and the target),
    /// keys in a fixed order.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Canonical<'a> {
            version: u64,
            steps: &'a [Step],
            #[serde(skip_serializing_if = "Option::is_none")]
            target: Option<&'a Target>,
        }
        serde_json::to_string(&Canonical { version: RECIPE_VERSION, steps: &self.steps, target: self.target.as_ref() }).expect("recipes serialise")
    }

    /// The recipe with `node` left as it is by step `step` (sensitivity, and
    /// the suggested exclusions).
    pub fn excluding(&self, units: &[(usize, &str)]) -> Recipe {
        let mut r = self.clone();
        for &(step, node) in units {
            if let Some(s) = r.steps.get_mut(step) {
                s.method_mut().exclude(node);
            }
        }
        r
    }
}

fn check_version(v: Option<Value>) -> Result<()> {
    match v {
        None => Ok(()),
        Some(Value::Number(n)) if n.as_u64() == Some(RECIPE_VERSION) => Ok(()),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v > RECIPE_VERSION) => {
            Err(recipe_err(format!("version {n} is newer than this Squish reads ({RECIPE_VERSION}); update Squish")))
        }
        Some(other) => Err(recipe_err(format!("version must be {RECIPE_VERSION}, got {other}"))),
    }
}

/// `[{ "prune": {…} }, { "quantize": {…} }, …]`: one section per item.
fn steps_from_list(list: Value) -> Result<Vec<Step>> {
    let Value::Array(items) = list else { return Err(recipe_err("'steps' must be a list of sections")) };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(obj) = item else { return Err(recipe_err(format!("steps[{i}] must be an object holding one section"))) };
            if obj.len() != 1 {
                let keys: Vec<&String> = obj.keys().collect();
                return Err(recipe_err(format!("steps[{i}] must hold exactly one section, found {keys:?}")));
            }
            let (key, value) = obj.into_iter().next().expect("one entry");
            Step::parse(&key, value).map_err(|e| recipe_err(format!("steps[{i}]: {}", e.to_string().trim_start_matches("recipe: "))))
        })
        .collect()
}

/// Sections in the fixed order; the legacy top-level form is the quantize section.
fn steps_from_sections(mut top: Map<String, Value>) -> Result<Vec<Step>> {
    let legacy: Map<String, Value> = LEGACY_KEYS.iter().filter_map(|k| top.remove(*k).map(|v| (k.to_string(), v))).collect();
    if let Some(k) = top.keys().find(|k| !SECTION_ORDER.contains(&k.as_str())).filter(|_| !legacy.is_empty()) {
        return Err(recipe_err(format!("unknown key '{k}' (a recipe without sections takes the quantize keys: {})", LEGACY_KEYS.join(", "))));
    }
    if !legacy.is_empty() {
        if top.contains_key("quantize") {
            let k = legacy.keys().next().expect("non-empty");
            return Err(recipe_err(format!("'{k}' at the top level and a 'quantize' section: put every quantize setting inside the section")));
        }
        top.insert("quantize".into(), Value::Object(legacy));
    }
    if let Some(k) = top.keys().find(|k| !SECTION_ORDER.contains(&k.as_str())) {
        return Err(recipe_err(format!("unknown key '{k}' (expected version, steps, {})", SECTION_ORDER.join(", "))));
    }
    SECTION_ORDER.iter().filter_map(|k| top.remove(*k).map(|v| Step::parse(k, v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn every_form_reads_as_the_same_steps() {
        let legacy = Recipe::from_json(r#"{"scheme":"int8_dynamic","exclude":{"nodes":["a"]}}"#).unwrap();
        let section = Recipe::from_json(r#"{"version":1,"quantize":{"scheme":"int8_dynamic","exclude":{"nodes":["a"]}}}"#).unwrap();
        let steps = Recipe::from_json(r#"{"steps":[{"quantize":{"exclude":{"nodes":["a"]},"scheme":"int8_dynamic"}}]}"#).unwrap();
        assert_eq!(legacy, section);
        assert_eq!(section, steps);
        assert_eq!(legacy.to_json(), steps.to_json());
        let canonical = legacy.to_json();
        assert!(canonical.starts_with(r#"{"version":1,"steps":[{"quantize":{"scheme":"int8_dynamic""#), "{canonical}");
        assert_eq!(Recipe::from_json(&canonical).unwrap(), legacy, "the canonical form reads back");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn errors_name_the_key_and_the_section() {
        let err = |text: &str| Recipe::from_json(text).unwrap_err().to_string();
        assert!(err(r#"{"quantize":{"scheme":"int8_dynamic","bogus":1}}"#).contains("section 'quantize': unknown field `bogus`"));
        assert!(err(r#"{"scheme":"int8_dynamic","bogus":1}"#).contains("unknown key 'bogus' (a recipe without sections takes the quantize keys: scheme"));
        assert!(err(r#"{"quantise":{}}"#).contains("unknown key 'quantise'"));
        assert!(err(r#"{"version":2,"quantize":{"scheme":"fp16"}}"#).contains("version 2 is newer"));
        assert!(err(r#"{"version":"1"}"#).contains("version must be 1"));
        assert!(err(r#"{"scheme":"fp16","quantize":{"scheme":"fp16"}}"#).contains("'scheme' at the top level and a 'quantize' section"));
        assert!(err(r#"{"steps":[{"quantize":{"scheme":"fp16"},"prune":{}}]}"#).contains("steps[0] must hold exactly one section"));
        assert!(err(r#"{"steps":[{"quantize":{"scheme":"fp16"}}],"quantize":{}}"#).contains("key 'quantize' next to 'steps'"));
        assert!(err(r#"{"steps":[{"quantize":{}}]}"#).contains("steps[0]: section 'quantize': no scheme given"));
        assert!(
            err(r#"{"distill":{"teacher":"original"}}"#).contains("section 'distill': unknown field `teacher`"),
            "{}",
            err(r#"{"distill":{"teacher":"original"}}"#)
        );
        assert!(err(r#"{"distill":{"student":"mlp:0"}}"#).contains("key 'distill.student'"));
        assert!(err(r#"{"distill":{"epochs":0}}"#).contains("key 'distill.epochs'"));
        assert!(err(r#"{"prune":{"sparsity":1.5}}"#).contains("section 'prune': sparsity must be in [0, 1), got 1.5"));
        assert!(err(r#"{"target":{"agreement":0.99},"quantize":{"scheme":"fp16"}}"#).contains("target: unknown field `agreement`"));
        assert!(err(r#"{"target":{"metric":"kl","at_least":0.1},"quantize":{"scheme":"fp16"}}"#).contains("give \"at_most\", not \"at_least\""));
        assert!(err(r#"{"target":{"metric":"agreement"},"quantize":{"scheme":"fp16"}}"#).contains("agreement needs \"at_least\""));
        assert!(err(r#"{"target":{"metric":"agreement","at_least":1.5},"quantize":{"scheme":"fp16"}}"#).contains("out of range [0, 1]"));
        assert!(err(r#"{"target":{"metric":"min_cosine","at_least":0.9,"held_back":1}}"#).contains("held_back must be a share in (0, 1)"));
        assert!(err(r#"{"target":{"metric":"min_cosine","at_least":0.9}}"#).contains("a target needs a section to search in"));
        assert!(err("{}").contains("no step"));
        assert!(err(r#"{"version":1,"scheme":"fp16"}"#).contains("'scheme' at the top level of a version 1 recipe"));
        assert!(err(r#"{"scheme":"int4_block","block_size":48}"#).contains("block_size must be 32, 64 or 128, got 48"));
        assert!(err("[1]").contains("a recipe is a JSON object"));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn a_target_reads_back_from_the_canonical_form() {
        let r = Recipe::from_json(r#"{"quantize":{"scheme":"int4_block"},"target":{"metric":"min_cosine","at_least":0.99,"seed":3}}"#).unwrap();
        let t = r.target.as_ref().unwrap();
        assert_eq!((t.metric, t.held_back, t.seed), (TargetMetric::MinCosine, 0.25, 3));
        assert!(t.met_by(0.99) && !t.met_by(0.9899));
        assert_eq!(Recipe::from_json(&r.to_json()).unwrap(), r);
        let kl = Recipe::from_json(r#"{"quantize":{"scheme":"int8_dynamic"},"target":{"metric":"kl","at_most":0.01}}"#).unwrap();
        assert!(kl.target.unwrap().met_by(0.005));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn excluding_a_unit_keeps_it_as_it_is() {
        let r = Recipe::from_json(r#"{"scheme":"int4_weight","layers":{"b":{"scheme":"int8_weight"}}}"#).unwrap();
        let e = r.excluding(&[(0, "a"), (0, "b"), (3, "c")]);
        let Step::Quantize(q) = &e.steps[0] else { panic!("a quantize step") };
        assert_eq!(q.exclude.nodes, ["a", "b"]);
        assert!(q.layers.is_empty(), "an override of an excluded node is dropped");
    }
}
