//! The sparsity scan in the browser: one layer per call, so the page can
//! show progress and cancel between layers.

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::tensors::{feeds_from_js, set};
use super::{js_err, to_js, ModelHandle};
use crate::compare::sparsity_scan::Scan;

/// `layers()`, then `measure(i)` for each index, then `finish()`.
#[wasm_bindgen]
pub struct SparsityScan {
    scan: Scan,
}

#[wasm_bindgen]
impl SparsityScan {
    /// `recipe`: an unstructured prune section with the overall `sparsity`;
    /// `feeds`: the inputs (calibration and evaluation both).
    #[wasm_bindgen(constructor)]
    pub fn new(original: &ModelHandle, recipe: &str, feeds: Array) -> Result<SparsityScan, JsError> {
        let recipe = crate::compress::Recipe::from_json(recipe).map_err(js_err)?;
        let feeds = feeds_from_js(&feeds, "input set")?;
        Ok(SparsityScan { scan: Scan::new(original.model().clone(), recipe, feeds).map_err(js_err)? })
    }

    /// `[node, …]`: the layers scanned, in graph order.
    pub fn layers(&self) -> Array {
        self.scan.layers().iter().map(|n| JsValue::from_str(n)).collect()
    }

    /// Layer `i`'s curve: `{ node, op_type, weights, outcomes: [{ error, agreement }, …] }`.
    pub fn measure(&mut self, i: usize) -> Result<JsValue, JsError> {
        to_js(self.scan.measure(i).map_err(js_err)?)
    }

    /// `{ scan, recipe, markdown }`: the curves measured, the suggested
    /// sparsities and the recipe with them in its `layers`.
    pub fn finish(&self) -> Result<JsValue, JsError> {
        let (result, recipe) = self.scan.finish().map_err(js_err)?;
        let obj = Object::new();
        set(&obj, "scan", &to_js(&result)?)?;
        set(&obj, "recipe", &recipe.to_json().into())?;
        set(&obj, "markdown", &crate::compare::markdown::sparsity_scan(&result).into())?;
        Ok(obj.into())
    }
}
