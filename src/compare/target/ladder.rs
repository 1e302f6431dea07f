//! Each unit's ladder of settings, what each rung costs in bytes and
//! output error, and the per-layer choices a Lagrangian weight makes of them.

use serde::Serialize;

use crate::compress::record::Histogram;
use crate::compress::{Recipe, Record, Rung, Unit};
use crate::ir::Model;

/// One unit's choices, most compressed first: settings more compressed than
/// the step's own (when the step leaves them open), the step's own (rung
/// `own`), the milder ones, and last (rung `rungs.len()`) the unit as it is.
#[derive(Debug, Clone, Serialize)]
pub struct Ladder {
    pub unit: Unit,
    /// Labels of every rung, "as is" last.
    pub labels: Vec<String>,
    /// `None`: the step's own setting.
    #[serde(skip)]
    pub(super) rungs: Vec<Option<Rung>>,
    /// The rung of the step's own setting.
    pub own: usize,
    /// Stored bytes of the unit's tensors at each rung.
    pub bytes: Vec<usize>,
    /// Output error (noise / signal energy) with only this unit at each rung.
    pub error: Vec<f64>,
    /// Errors not run but scaled from rung 0's by the weights' own error
    /// (`estimate`); the candidates built from them are all run.
    pub estimated: Vec<bool>,
    /// ‖w − w'‖² / ‖w‖² of the unit's weights at each rung, when known.
    #[serde(skip)]
    pub(super) weight_error: Vec<Option<WeightError>>,
}

impl Ladder {
    pub(super) fn as_is(&self) -> usize {
        self.rungs.len()
    }
}

/// Every unit the recipe compresses, with its rungs (bytes "as is" and at
/// the step's own setting from the record; every other rung's are measured).
pub(super) fn ladders(recipe: &Recipe, model: &Model, record: &Record) -> Vec<Ladder> {
    record
        .units()
        .into_iter()
        .map(|unit| {
            let entries: Vec<_> = record.entries.iter().filter(|e| e.step == unit.step && e.node == unit.node).collect();
            let method = recipe.steps[unit.step].method();
            let (stronger, milder) = (method.stronger(model, &unit.node), method.milder(model, &unit.node));
            let mut own = entries.first().map_or("as given", |e| e.settings.split(" (").next().unwrap_or(&e.settings)).to_string();
            // Beside longer blocks, the own rung says its block.
            if let Some(block) =
                entries.first().and_then(|e| e.grouping.strip_prefix("blocks of ")).and_then(|g| g.split(' ').next()).filter(|_| !stronger.is_empty())
            {
                own = format!("{own}/{block}");
            }
            let before: usize = entries.iter().map(|e| e.bytes_before).sum();
            let after: usize = entries.iter().map(|e| e.bytes_after).sum();
            let rungs: Vec<Option<Rung>> = stronger.into_iter().map(Some).chain(std::iter::once(None)).chain(milder.into_iter().map(Some)).collect();
            let own_rung = rungs.iter().position(Option::is_none).expect("the own rung is in the ladder");
            let labels = rungs.iter().map(|r| r.as_ref().map_or(own.clone(), |r| r.label.clone())).chain(std::iter::once("as is".to_string())).collect();
            let n = rungs.len() + 1;
            let mut bytes = vec![before; n];
            bytes[own_rung] = after;
            Ladder { unit, labels, rungs, own: own_rung, bytes, error: vec![0.0; n], estimated: vec![false; n], weight_error: vec![None; n] }
        })
        .collect()
}

/// `‖w − w'‖² / ‖w‖²` over the unit's tensors in `record` (weighted by
/// their sizes), when every one of them is known.
pub(super) fn unit_weight_error(record: &Record, step: usize, node: &str) -> Option<WeightError> {
    let entries: Vec<_> = record.entries.iter().filter(|e| e.step == step && e.node == node).collect();
    let total: usize = entries.iter().map(|e| e.bytes_before).sum();
    if entries.is_empty() || total == 0 {
        return None;
    }
    let weighted = |pick: fn(&Histogram) -> Option<f64>| -> Option<f64> {
        entries.iter().map(|e| Some(pick(e.histogram.as_ref()?)? * e.bytes_before as f64 / total as f64)).sum()
    };
    Some(WeightError { plain: weighted(|h| h.relative_error)?, output: weighted(|h| h.output_error) })
}

/// A unit's weight error at one rung: plain, and as the layer's outputs
/// see it on the calibration inputs (when its Hessian is known).
#[derive(Debug, Clone, Copy)]
pub(super) struct WeightError {
    plain: f64,
    output: Option<f64>,
}

/// Rung `r`'s output error scaled from rung 0's (run) by the ratio of the
/// unit's own errors (its outputs' on the calibration inputs when known,
/// else its weights'): for the small perturbations quantisation makes, the
/// model's output error grows in proportion, so this ranks a unit's rungs
/// without running each. `None`: rung 0 itself, or a ratio not known.
pub(super) fn estimate(l: &Ladder, r: usize) -> Option<f64> {
    if r == 0 {
        return None;
    }
    let (w0, wr) = (l.weight_error[0]?, l.weight_error[r]?);
    // Error-compensating rounding moves weights where the inputs do not
    // look: then only the outputs' view of the error ranks the rungs.
    let (e0, er) = match (w0.output, wr.output) {
        (Some(a), Some(b)) => (a, b),
        _ => (w0.plain, wr.plain),
    };
    (e0 > 0.0).then(|| l.error[0] * er / e0)
}

/// For each weight λ on error, every unit takes the rung with the least
/// bytes + λ·error; the distinct choices from λ = 0 (most compressed) up.
pub(super) fn candidate_configs(ladders: &[Ladder]) -> Vec<Vec<usize>> {
    let choose = |lambda: f64| -> Vec<usize> {
        (ladders.iter())
            .map(|l| (0..=l.as_is()).min_by(|&a, &b| cost(l, a, lambda).total_cmp(&cost(l, b, lambda)).then(b.cmp(&a).reverse())).unwrap_or(0))
            .collect()
    };
    let mut lambdas = vec![0.0];
    for l in ladders {
        for a in 0..=l.as_is() {
            for b in 0..=l.as_is() {
                let (db, de) = (l.bytes[b] as f64 - l.bytes[a] as f64, l.error[a] - l.error[b]);
                if db > 0.0 && de > 0.0 {
                    lambdas.push(db / de);
                }
            }
        }
    }
    lambdas.sort_by(f64::total_cmp);
    let mut configs: Vec<Vec<usize>> = Vec::new();
    for w in lambdas.iter().map(|&x| x * (1.0 + 1e-9)).chain(std::iter::once(f64::INFINITY)) {
        let c = if w.is_infinite() { ladders.iter().map(|l| l.as_is()).collect() } else { choose(w) };
        if configs.last() != Some(&c) {
            configs.push(c);
        }
    }
    configs
}

fn cost(l: &Ladder, rung: usize, lambda: f64) -> f64 {
    l.bytes[rung] as f64 + lambda * l.error[rung]
}
