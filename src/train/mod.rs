//! Training: reverse-mode differentiation over Squish's own graph, the
//! losses distillation uses, optimisers and the loop that fits a model.
//!
//! `tape` runs a model forward with the same operators inference uses,
//! keeping every value, and walks the nodes backwards with each op's rule
//! (`rules`) to get the gradient of every trainable weight. `loss` turns
//! the teacher's outputs (and labels, when given) into the gradients the
//! walk starts from; `optim` updates weights; `fit` is the loop (minibatches,
//! schedule, validation, early stopping), one minibatch per call so that
//! callers can report progress and stop.
//!
//! Sits above `ops`/`runtime` (it runs operators and the teacher) and below
//! `compress` (the `distill` method uses it).

pub mod fit;
pub mod loss;
pub mod optim;
pub(crate) mod rules;
pub mod tape;

pub use fit::{EpochRecord, FitOptions, Trainer};
pub use loss::LossKind;
pub use optim::{Optimizer, Schedule};
pub use tape::{Param, Tape};
