//! File and data formats: ONNX models and tensors (`onnx`), the input and
//! label files users bring (`data`), and Hugging Face tokenizers
//! (`tokenizer`). Readers turn bytes into `ir`/`tensor` values and name the
//! file, field or element at fault when they cannot.

pub mod data;
pub mod onnx;
pub mod tokenizer;
