//! How much memory a run's values need, known before it starts: the ops'
//! output facts (`ops::facts`) for the given input shapes, walked along the
//! plan's liveness (each value is freed after its last reader, as `execute`
//! does). A run that would need more than `MAX_ACTIVATION_BYTES` is refused
//! with an error naming the inputs, instead of running out of memory.

use std::collections::HashMap;

use super::plan::{Plan, Source};
use crate::ir::{Dim, Model};
use crate::ops::facts::{infer_for, Facts};
use crate::tensor::DType;

/// The most memory a run's inputs and intermediate values may need at once
/// (wasm32 addresses 4 GiB, and the weights and a second model may be there too).
pub const MAX_ACTIVATION_BYTES: usize = 2 << 30;

/// The concrete signature of a run: name, dtype and shape of each input.
pub type Signature = Vec<(String, DType, Vec<usize>)>;

fn bytes_of(f: &Facts) -> Option<usize> {
    let size = f.dtype?.size_of();
    f.shape.as_ref()?.iter().try_fold(size, |acc, d| match d {
        Dim::Fixed(v) if *v >= 0 => acc.checked_mul(*v as usize),
        _ => None,
    })
}

/// Peak bytes of inputs and intermediate values alive at once, if the size
/// of every value the run produces is known. An upper bound: a step that
/// writes into a dying input's buffer needs less. Facts come from the
/// model's own graph: a fused step writes a value of that graph under its name.
pub fn estimate_peak(plan: &Plan, model: &Model, inputs: &Signature) -> Option<usize> {
    let facts: HashMap<String, Facts> = infer_for(model, inputs);
    let mut size_of_slot: HashMap<usize, usize> = HashMap::new();
    let mut live = 0usize;
    for (name, dtype, shape) in inputs {
        if let Some(slot) = plan.slot_names.iter().position(|n| n == name) {
            let bytes = shape.iter().product::<usize>() * dtype.size_of();
            live += bytes;
            size_of_slot.insert(slot, bytes);
        }
    }
    let mut peak = live;
    for step in &plan.steps {
        for slot in step.outputs.iter().flatten() {
            let bytes = bytes_of(facts.get(&plan.slot_names[*slot])?)?;
            live += bytes;
            size_of_slot.insert(*slot, bytes);
        }
        peak = peak.max(live);
        for slot in &step.frees {
            if matches!(plan.sources[*slot], Source::Node | Source::GraphInput(_)) {
                live -= size_of_slot.remove(slot).unwrap_or(0);
            }
        }
    }
    Some(peak)
}
