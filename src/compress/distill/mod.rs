//! Distillation: a student learns to imitate the original model (the
//! teacher) on the calibration inputs — a new small MLP or CNN, or the model as it
//! comes to this step fine-tuned back towards the original (pruned zeros
//! stay zero). The `"distill"` section:
//!
//! ```json
//! { "student": "finetune" | "mlp:32" | "cnn:8,16", "epochs": 30, "batch_size": 32,
//!   "learning_rate": 0.001, "optimizer": "adam", "schedule": "cosine",
//!   "validation": 0.1, "loss": "kl", "temperature": 2, "mixup": 0, … }
//! ```
//!
//! The loop and its keys are `train::FitOptions`; `exclude` freezes nodes
//! (fine-tuning leaves their weights as they are).

pub mod quantized;
pub mod student;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::{Exclude, Method, Rung, StepInputs, StepRecord};
use crate::error::{Result, SquishError};
use crate::formats::data::feeds::Feed;
use crate::ir::Model;
use crate::tensor::Tensor;
use crate::train::{EpochRecord, FitOptions, Tape, Trainer};
pub use student::Student;

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub student: Student,
    pub fit: FitOptions,
    pub exclude: Exclude,
}

impl Serialize for Section {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(&self.fit).map_err(serde::ser::Error::custom)?;
        let obj = v.as_object_mut().expect("options serialise as an object");
        obj.insert("student".into(), Value::String(self.student.label()));
        if !self.exclude.is_empty() {
            obj.insert("exclude".into(), serde_json::to_value(&self.exclude).map_err(serde::ser::Error::custom)?);
        }
        v.serialize(s)
    }
}

fn err(detail: impl Into<String>) -> SquishError {
    SquishError::Recipe(format!("section 'distill': {}", detail.into()))
}

impl Section {
    pub fn from_value(v: Value) -> Result<Section> {
        let Value::Object(mut map) = v else { return Err(err("a section is a JSON object")) };
        let student = match map.remove("student") {
            None => Student::Finetune,
            Some(Value::String(s)) => Student::parse(&s)?,
            Some(other) => return Err(SquishError::Recipe(format!("key 'distill.student': expected a string, got {other}"))),
        };
        let exclude = match map.remove("exclude") {
            None => Exclude::default(),
            Some(e) => serde_json::from_value(e).map_err(|e| err(format!("exclude: {e}")))?,
        };
        let fit: FitOptions = serde_json::from_value(Value::Object(map)).map_err(|e| err(e.to_string()))?;
        fit.check()?;
        Ok(Section { student, fit, exclude })
    }

    /// A tape for the student and the teacher's output it learns.
    fn student_tape(&self, model: Model, teacher: &Model, calibration: &[Feed]) -> Result<Tape> {
        match &self.student {
            Student::Finetune => {
                // Quantised weights train as floats through simulated quantisation.
                let (form, codes) = quantized::training_form(&model)?;
                let excluded = self.excluded_nodes(&model);
                let mut weights = student::trainable(&form, &excluded);
                weights.extend(quantized::fake_quantized_weights(&form, &excluded));
                if weights.is_empty() {
                    return Err(err("the model has no float or quantised weights to fine-tune"));
                }
                let mut tape = Tape::new(&form, |name, _| weights.contains_key(name))?;
                if !codes.is_empty() {
                    tape.export_into(model, codes);
                }
                for p in tape.params.iter_mut() {
                    p.prunable = weights[&p.name];
                    if p.prunable && p.value.iter().any(|&v| v == 0.0) {
                        p.frozen_zeros = Some(p.value.iter().map(|&v| v == 0.0).collect());
                    }
                }
                Ok(tape)
            }
            Student::Mlp(_) | Student::Cnn(_) => {
                let shape = self.student_shape(teacher, calibration)?;
                let m = match &self.student {
                    Student::Cnn(channels) => student::cnn(&shape, channels, self.fit.seed)?,
                    Student::Mlp(hidden) => student::mlp(&shape, hidden, self.fit.seed),
                    Student::Finetune => unreachable!("matched above"),
                };
                let mut tape = Tape::new(&m, |_, _| true)?;
                for p in tape.params.iter_mut() {
                    p.prunable = p.name.ends_with(".weight");
                }
                Ok(tape)
            }
        }
    }

    fn excluded_nodes(&self, model: &Model) -> Vec<String> {
        model
            .graph
            .nodes
            .iter()
            .filter(|n| self.exclude.nodes.contains(&n.name) || self.exclude.op_types.contains(&n.op_type))
            .map(|n| n.name.clone())
            .collect()
    }

    /// The input and output a new student must have, from one run of the teacher.
    fn student_shape(&self, teacher: &Model, calibration: &[Feed]) -> Result<student::Shape> {
        let (input, features) = student::input_of(teacher)?;
        let output = match &self.fit.output {
            Some(o) => o.clone(),
            None => teacher.graph.outputs.first().map(|o| o.name.clone()).ok_or_else(|| err("the teacher has no outputs"))?,
        };
        let first = calibration.first().ok_or_else(|| err("training needs inputs"))?;
        let run = crate::runtime::Session::new(teacher.clone())?.run(first.clone())?;
        let out = run.outputs.into_iter().find(|(n, _)| *n == output).map(|(_, t)| t).ok_or_else(|| err(format!("the teacher has no output '{output}'")))?;
        let Tensor::F32(a) = out else { return Err(err(format!("the teacher's output '{output}' is {}; a new student learns float32 outputs", out.dtype()))) };
        if a.ndim() != 2 {
            return Err(SquishError::Recipe(format!(
                "key 'distill.student': a new student learns [batch, values] outputs; the teacher's '{output}' has shape {:?} (fine-tune instead)",
                a.shape()
            )));
        }
        let softmax = crate::train::loss::is_distribution(&a);
        Ok(student::Shape { input, features, output, classes: a.shape()[1], softmax })
    }

    fn training_record(&self, step: usize, trainer: &Trainer, parameters_before: usize, out: &Model) -> Training {
        let (train_examples, held_back) = trainer.split_sizes();
        Training {
            step,
            student: self.student.label(),
            parameters_before,
            parameters_after: parameter_count(out),
            loss: trainer.loss_kind().name().into(),
            train_examples,
            held_back,
            best_epoch: trainer.best_epoch(),
            weight_sparsity: trainer.weight_sparsity(),
            epochs: trainer.history().iter().map(EpochSummary::from).collect(),
        }
    }

    /// A run driven step by step (the page, the CLI) as a compressed model:
    /// the student with its best weights, stamped with this section as its
    /// recipe, and the record of the run. `from`: the model the student
    /// started from (its parameters and size are the "before").
    pub fn finish(&self, trainer: &Trainer, from: &Model) -> Result<(Model, super::Record)> {
        let mut out = trainer.model()?;
        let recipe = super::Recipe { steps: vec![super::Step::Distill(Box::new(self.clone()))], target: None }.to_json();
        let mut record = super::Record { recipe: recipe.clone(), ..Default::default() };
        record.training.push(self.training_record(0, trainer, parameter_count(from), &out));
        super::stamp_provenance(&mut out, &recipe);
        record.model_bytes_before = crate::formats::onnx::encoded_len(from);
        record.model_bytes_after = crate::formats::onnx::encoded_len(&out);
        Ok((out, record))
    }

    /// Trains the student on `inputs` (step it with `Trainer::step`).
    pub fn trainer(&self, model: Model, teacher: &Model, inputs: Vec<Feed>, labels: Option<&Tensor>) -> Result<Trainer> {
        if inputs.is_empty() {
            return Err(err("training needs inputs (squish compress --calibration DIR, or inputs on the page)"));
        }
        let tape = self.student_tape(model, teacher, &inputs)?;
        Trainer::new(teacher, tape, inputs, labels, self.fit.clone())
    }
}

/// What one distill step did, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Training {
    pub step: usize,
    pub student: String,
    pub parameters_before: usize,
    pub parameters_after: usize,
    pub loss: String,
    pub train_examples: usize,
    pub held_back: usize,
    /// The epoch whose weights were kept (best on the held-back part, or the last).
    pub best_epoch: Option<usize>,
    /// Share of exact zeros over the student's weight matrices (pruned ones stay zero).
    pub weight_sparsity: f64,
    pub epochs: Vec<EpochSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct EpochSummary {
    pub epoch: usize,
    pub loss: f64,
    pub validation: Option<f64>,
}

impl From<&EpochRecord> for EpochSummary {
    fn from(e: &EpochRecord) -> Self {
        EpochSummary { epoch: e.epoch, loss: e.loss, validation: e.validation }
    }
}

/// Parameters of a model: float initializers and quantised weights (the
/// integer codes a DequantizeLinear reads); not shapes, indices or the
/// quantisation parameters.
pub fn parameter_count(model: &Model) -> usize {
    let codes: std::collections::HashSet<&str> =
        model.graph.nodes.iter().filter(|n| n.op_type == "DequantizeLinear").filter_map(|n| n.inputs.first().map(String::as_str)).collect();
    let scales: std::collections::HashSet<&str> =
        model.graph.nodes.iter().filter(|n| n.op_type == "DequantizeLinear").flat_map(|n| n.inputs.iter().skip(1).map(String::as_str)).collect();
    model
        .graph
        .initializers
        .iter()
        .filter(|(n, t)| if t.dtype().is_float() { !scales.contains(n.as_str()) } else { codes.contains(n.as_str()) })
        .map(|(_, t)| t.len())
        .sum()
}

impl Method for Section {
    fn name(&self) -> &'static str {
        "distill"
    }

    fn check(&self, model: &Model) -> Result<()> {
        let names = crate::ir::all_node_names(&model.graph);
        if let Some(n) = self.exclude.nodes.iter().find(|n| !names.contains(n.as_str())) {
            return Err(err(format!("exclude: the model has no node '{n}'")));
        }
        match self.student {
            Student::Mlp(_) => drop(student::input_of(model)?),
            Student::Cnn(_) => drop(student::image_of(&student::input_of(model)?.0)?),
            Student::Finetune => {}
        }
        Ok(())
    }

    fn apply(&self, model: Cow<'_, Model>, inputs: &StepInputs, record: &mut StepRecord, _cache: &super::Cache) -> Result<Model> {
        let teacher = inputs.original.ok_or_else(|| err("the original model is not available to learn from"))?;
        let before = parameter_count(&model);
        let mut trainer = self.trainer(model.into_owned(), teacher, inputs.calibration.to_vec(), None)?;
        while trainer.step()?.is_some() {}
        let out = trainer.model()?;
        record.training(self.training_record(record.step, &trainer, before, &out));
        Ok(out)
    }

    fn exclude(&mut self, node: &str) {
        if !self.exclude.nodes.iter().any(|n| n == node) {
            self.exclude.nodes.push(node.to_string());
        }
    }

    /// Training has no per-layer rungs: a search leaves a distill step as it is.
    fn milder(&self, _model: &Model, _node: &str) -> Vec<Rung> {
        Vec::new()
    }

    fn set_rung(&mut self, node: &str, rung: &Rung) -> Result<()> {
        Err(err(format!("node '{node}': distillation has no per-layer setting '{}'", rung.label)))
    }
}
