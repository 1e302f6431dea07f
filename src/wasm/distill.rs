//! Distillation in the browser and the CLI: one minibatch per call, so the
//! worker can report a live curve, pause (stop calling) and cancel.

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::tensors::{feeds_from_js, set, tensor_from_js};
use super::{js_err, to_js, ModelHandle};
use crate::compress::distill::{Section, Student};
use crate::ir::Model;
use crate::train::Trainer;

/// `new Distillation(teacher, section, inputs, labels?)` trains the
/// section's student (`"mlp:…"`); `Distillation.finetune(teacher,
/// compressed, section, inputs, labels?)` fine-tunes a compressed model.
/// Then `step()` until it returns null, and `student()`.
#[wasm_bindgen]
pub struct Distillation {
    trainer: Trainer,
    section: Section,
    from: Model,
    original_raw: usize,
}

fn parse(section: &str) -> Result<Section, JsError> {
    let v: serde_json::Value = serde_json::from_str(section).map_err(|e| JsError::new(&format!("distill section: invalid JSON: {e}")))?;
    Section::from_value(v).map_err(js_err)
}

fn labels_from(labels: &JsValue) -> Result<Option<crate::tensor::Tensor>, JsError> {
    if labels.is_null() || labels.is_undefined() {
        return Ok(None);
    }
    tensor_from_js(labels).map(Some).map_err(|e| JsError::new(&format!("labels: {e}")))
}

#[wasm_bindgen]
impl Distillation {
    #[wasm_bindgen(constructor)]
    pub fn new(teacher: &ModelHandle, section: &str, inputs: Array, labels: JsValue) -> Result<Distillation, JsError> {
        let section = parse(section)?;
        if section.student == Student::Finetune {
            return Err(JsError::new(
                "key 'distill.student': give a student (\"mlp:32\", \"cnn:8,16\") or fine-tune a compressed model (Distillation.finetune)",
            ));
        }
        Self::start(teacher, (**teacher.model()).clone(), section, inputs, labels)
    }

    /// Fine-tunes `compressed` towards `teacher` (pruned zeros stay zero).
    pub fn finetune(teacher: &ModelHandle, compressed: &ModelHandle, section: &str, inputs: Array, labels: JsValue) -> Result<Distillation, JsError> {
        let mut section = parse(section)?;
        section.student = Student::Finetune;
        Self::start(teacher, (**compressed.model()).clone(), section, inputs, labels)
    }

    fn start(teacher: &ModelHandle, from: Model, section: Section, inputs: Array, labels: JsValue) -> Result<Distillation, JsError> {
        let feeds = feeds_from_js(&inputs, "input set")?;
        let labels = labels_from(&labels)?;
        let trainer = section.trainer(from.clone(), teacher.model(), feeds, labels.as_ref()).map_err(js_err)?;
        Ok(Distillation { trainer, section, from, original_raw: teacher.size().raw })
    }

    /// One minibatch: `{ step, total_steps, epoch, finished_epoch? }`, or
    /// null when training is over. A non-finite loss throws; `student()`
    /// still gives the best weights so far.
    pub fn step(&mut self) -> Result<JsValue, JsError> {
        match self.trainer.step().map_err(js_err)? {
            Some(p) => to_js(&p),
            None => Ok(JsValue::NULL),
        }
    }

    /// `{ loss, train, held_back, best_epoch, history }`.
    pub fn summary(&self) -> Result<JsValue, JsError> {
        let obj = Object::new();
        let (train, held) = self.trainer.split_sizes();
        set(&obj, "loss", &self.trainer.loss_kind().name().into())?;
        set(&obj, "train", &(train as f64).into())?;
        set(&obj, "held_back", &(held as f64).into())?;
        set(&obj, "total_steps", &(self.trainer.total_steps() as f64).into())?;
        set(&obj, "best_epoch", &self.trainer.best_epoch().map_or(JsValue::NULL, |e| (e as f64).into()))?;
        set(&obj, "history", &to_js(&self.trainer.history())?)?;
        Ok(obj.into())
    }

    /// The student with its best weights, as a compressed model (its record
    /// holds the run; its recipe is the section).
    pub fn student(&self) -> Result<ModelHandle, JsError> {
        let (model, record) = self.section.finish(&self.trainer, &self.from).map_err(js_err)?;
        Ok(ModelHandle::compressed(model, record, self.original_raw))
    }
}
