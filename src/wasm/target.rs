//! Target mode in the browser: one unit of work per call, so the worker can
//! report progress and stop between calls (cancel).

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::tensors::{feeds_from_js, set, tensor_from_js};
use super::{js_err, to_js, ModelHandle};
use crate::compare::target::Search;

/// `new TargetSearch(handle, recipe, inputs, labels?, calibration?)`, then
/// `step()` until it returns null, then `finish()` and `compressed()`.
#[wasm_bindgen]
pub struct TargetSearch {
    search: Search,
    original_raw: usize,
    done: usize,
}

#[wasm_bindgen]
impl TargetSearch {
    /// Splits the inputs, runs the original and compresses once with the
    /// recipe as given (its most compressed settings).
    #[wasm_bindgen(constructor)]
    pub fn new(original: &ModelHandle, recipe: &str, inputs: Array, labels: JsValue, calibration: JsValue) -> Result<TargetSearch, JsError> {
        let recipe = crate::compress::Recipe::from_json(recipe).map_err(js_err)?;
        let inputs = feeds_from_js(&inputs, "input set")?;
        let labels =
            if labels.is_null() || labels.is_undefined() { None } else { Some(tensor_from_js(&labels).map_err(|e| JsError::new(&format!("labels: {e}")))?) };
        let calibration = match calibration.dyn_ref::<Array>() {
            Some(a) if a.length() > 0 => Some(feeds_from_js(a, "calibration sample")?),
            _ => None,
        };
        let search = Search::new(original.model().clone(), &recipe, inputs, labels.as_ref(), calibration).map_err(js_err)?;
        Ok(TargetSearch { search, original_raw: original.size().raw, done: 0 })
    }

    /// One unit of work: `{ stage, done, total }`, or null when finished.
    pub fn step(&mut self) -> Result<JsValue, JsError> {
        let Some(stage) = self.search.step().map_err(js_err)? else { return Ok(JsValue::NULL) };
        self.done += 1;
        let total = self.search.total_steps().max(self.done);
        let obj = Object::new();
        set(&obj, "stage", &stage.into())?;
        set(&obj, "done", &(self.done as f64).into())?;
        set(&obj, "total", &(total as f64).into())?;
        Ok(obj.into())
    }

    /// `{ report, markdown, recipe }` (recipe: the found one, or null).
    pub fn finish(&self) -> Result<JsValue, JsError> {
        let report = self.search.report().map_err(js_err)?;
        let obj = Object::new();
        set(&obj, "markdown", &crate::compare::markdown::target(&report).into())?;
        set(&obj, "report", &to_js(&report)?)?;
        let recipe = self.search.found_recipe().map_err(js_err)?.map(|r| r.to_json());
        set(&obj, "recipe", &recipe.map_or(JsValue::NULL, |r| r.into()))?;
        Ok(obj.into())
    }

    /// The found recipe applied (its record and file), or null.
    pub fn compressed(&mut self) -> Result<Option<ModelHandle>, JsError> {
        let found = self.search.found_model().map_err(js_err)?;
        Ok(found.map(|(model, record)| ModelHandle::compressed(model, record, self.original_raw)))
    }
}
