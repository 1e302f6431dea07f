//! Sensitivity in the browser: one unit per call, so the page can show
//! progress and cancel between units.

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::tensors::{feeds_from_js, set};
use super::{js_err, to_js, ModelHandle};

/// Sensitivity, one layer per call so the page can show progress and cancel
/// between layers: `layers()`, then `measure(node)` for each, then `finish()`.
#[wasm_bindgen]
pub struct SensitivityStudy {
    study: crate::compare::sensitivity::Study,
    layers: Vec<crate::compress::Unit>,
    baseline: crate::compare::sensitivity::Outcome,
    done: Vec<crate::compare::sensitivity::LayerSensitivity>,
}

#[wasm_bindgen]
impl SensitivityStudy {
    #[wasm_bindgen(constructor)]
    pub fn new(original: &ModelHandle, recipe: &str, calibration: Array, feeds: Array) -> Result<SensitivityStudy, JsError> {
        use crate::compare::sensitivity::Study;
        let recipe = crate::compress::Recipe::from_json(recipe).map_err(js_err)?;
        let model = original.model().clone();
        let calibration = feeds_from_js(&calibration, "calibration sample")?;
        let feeds = feeds_from_js(&feeds, "input set")?;
        let study = Study::new(model, recipe, calibration, feeds).map_err(js_err)?;
        let (layers, baseline) = study.baseline().map_err(js_err)?;
        Ok(SensitivityStudy { study, layers, baseline, done: Vec::new() })
    }

    /// `[node, …]`: the layers the recipe compresses.
    pub fn layers(&self) -> Array {
        self.layers.iter().map(|u| JsValue::from_str(&u.node)).collect()
    }

    /// Measures one layer (only it compressed; it alone restored).
    pub fn measure(&mut self, node: &str) -> Result<JsValue, JsError> {
        let unit = self.layers.iter().find(|u| u.node == node).ok_or_else(|| JsError::new(&format!("node '{node}' is not compressed by the recipe")))?;
        let r = self.study.layer(unit, &self.layers, &self.baseline).map_err(js_err)?;
        let js = to_js(&r)?;
        self.done.retain(|d| d.node != node);
        self.done.push(r);
        Ok(js)
    }

    /// `{ sensitivity, markdown }`: the ranked list and the suggested
    /// `exclude.nodes` from the layers measured.
    pub fn finish(&self) -> Result<JsValue, JsError> {
        let s = crate::compare::sensitivity::summarise(self.baseline, self.done.clone());
        let obj = Object::new();
        set(&obj, "markdown", &crate::compare::markdown::sensitivity(&s).into())?;
        set(&obj, "sensitivity", &to_js(&s)?)?;
        Ok(obj.into())
    }
}
