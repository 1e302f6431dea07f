//! Squish: load an ONNX model, compress it, run original and compressed side
//! by side and report what changed. Compiled to WebAssembly for the page and
//! the CLI; the same crate runs natively for tests.
//!
//! Data flows one way: bytes → `onnx` → `graph::Model` → `runtime` → outputs.

pub mod compare;
pub mod error;
pub mod graph;
pub mod kernels;
pub mod onnx;
pub mod quant;
pub mod runtime;
pub mod tensor;
pub mod text;

#[cfg(target_arch = "wasm32")]
mod bindings;

pub use error::{Result, SquishError};
pub use graph::Model;
pub use runtime::Session;
pub use tensor::{DType, Tensor};

/// Loads and plans a model from ONNX bytes.
pub fn load_session(bytes: &[u8]) -> Result<Session> {
    Session::new(onnx::load_model(bytes)?)
}
