//! Squish: load an ONNX model, compress it, run original and compressed side
//! by side and report what changed. Compiled to WebAssembly for the page and
//! the CLI; the same crate runs natively for tests.
//!
//! Data flows one way: bytes → `formats::onnx` → `ir::Model` → `compress`
//! → `ir::Model` → `runtime` → outputs → `compare` → report.
//!
//! # Layers
//!
//! Bottom to top. A module may import from its own layer and the layers
//! below it, never from a layer above (`tests/layers.rs` checks every
//! `crate::` path against this list):
//!
//! 1. `error` — the one error type
//! 2. `kernels` — scalar reference and SIMD twins on slices
//! 3. `tensor` — typed n-d values
//! 4. `ir` — model, graph, node, value facts, the graph editor
//! 5. `formats` — ONNX files, data files, tokenizers
//! 6. `ops` — operators: evaluation and output facts
//! 7. `runtime` — plan once, run many; load-time passes
//! 8. `train` — the tape (autodiff over the graph), losses, optimisers, the fit loop
//! 9. `compress` — recipe, record, methods (quantise, prune, distil)
//! 10. `compare` — what changed between two models
//! 11. `wasm` — the WebAssembly API (the only place errors become JS errors)

pub mod compare;
pub mod compress;
pub mod error;
pub mod formats;
pub mod ir;
pub mod kernels;
pub mod ops;
pub mod runtime;
pub mod tensor;
pub mod train;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{Result, SquishError};
pub use ir::Model;
pub use runtime::Session;
pub use tensor::{DType, Tensor};

/// Loads and plans a model from ONNX bytes.
pub fn load_session(bytes: &[u8]) -> Result<Session> {
    Session::new(formats::onnx::load_model(bytes)?)
}
