#![cfg_attr(target_arch = "wasm32", allow(unused))] // the harness reads files: native only
//! ONNX node conformance. Cases come from the official generators
//! (`scripts/gen_conformance.py`, cached in `.cache/onnx-node`).
//!
//! * default: every case in `allow.txt` must pass (part of `npm test`);
//! * `--all`: runs every generated case and ends with
//!   `onnx node tests: P passed, F failed, S skipped`, plus the score over
//!   the cases whose op type occurs in the real models (`real_model_ops.txt`);
//! * `--all --grow-allow-list`: adds newly passing cases to `allow.txt`
//!   (the list only grows).
//!
//! A case passes when every output matches in dtype, shape and values
//! (|got − want| ≤ 1e-7 + 1e-3·|want|, the ONNX backend tests' tolerance;
//! NaN matches NaN). Skipped: cases whose data are not plain numeric tensors
//! (sequences, maps, optionals, strings), which Squish does not model.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use squish::onnx::{proto, tensor_io};
use squish::{load_session, Tensor};

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_list(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn load_pb(path: &Path) -> Result<(String, Tensor), Outcome> {
    let bytes = std::fs::read(path).map_err(|e| Outcome::Fail(format!("{}: {e}", path.display())))?;
    let tp = match proto::decode_tensor(&bytes) {
        Ok(tp) => tp,
        // Sequence/map/optional data files are other messages.
        Err(_) => return Err(Outcome::Skip("non-tensor data".into())),
    };
    if tp.data_type == proto::data_type::STRING {
        return Err(Outcome::Skip("string tensors".into()));
    }
    if tp.dims.is_empty() && tp.data_type == 0 {
        return Err(Outcome::Skip("non-tensor data".into()));
    }
    tensor_io::tensor_from_proto(&tp).map(|t| (tp.name.clone(), t)).map_err(|e| Outcome::Fail(format!("reading {}: {e}", path.display())))
}

fn close(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {} vs expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} vs expected {:?}", got.shape(), want.shape()));
    }
    for (i, (g, w)) in got.to_f64_vec().iter().zip(want.to_f64_vec()).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == &w || (g - w).abs() <= 1e-7 + 1e-3 * w.abs();
        if !ok {
            return Err(format!("element {i}: {g} vs expected {w}"));
        }
    }
    Ok(())
}

fn run_case(dir: &Path) -> Outcome {
    let model = match std::fs::read(dir.join("model.onnx")) {
        Ok(b) => b,
        Err(e) => return Outcome::Fail(format!("model.onnx: {e}")),
    };
    // Sequences, maps and optionals are outside what Squish models.
    if let Ok(m) = proto::decode_model(&model) {
        let g = m.graph.unwrap_or_default();
        let non_tensor = g.input.iter().chain(&g.output).any(|v| {
            !matches!(v.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(proto::type_proto::Value::TensorType(_)))
        });
        if non_tensor {
            return Outcome::Skip("sequence, map or optional values".into());
        }
    }
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    sets.sort();
    // Data first, so that cases Squish cannot represent are skipped, not failed.
    let mut data = Vec::new();
    for set in &sets {
        let files = |prefix: &str| -> Result<Vec<(String, Tensor)>, Outcome> {
            (0..).map(|j| set.join(format!("{prefix}_{j}.pb"))).take_while(|p| p.exists()).map(|p| load_pb(&p)).collect()
        };
        match (files("input"), files("output")) {
            (Ok(i), Ok(o)) => data.push((i, o)),
            (Err(e), _) | (_, Err(e)) => return e,
        }
    }
    let session = match load_session(&model) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(format!("load: {e}")),
    };
    let names: Vec<String> = session.model().graph.real_inputs().map(|v| v.name.clone()).collect();
    for (inputs, outputs) in data {
        let named: Vec<_> = inputs.into_iter().zip(&names).map(|((_, t), n)| (n.clone(), t)).collect();
        let got = match session.run(named) {
            Ok(r) => r.outputs,
            Err(e) => return Outcome::Fail(format!("run: {e}")),
        };
        if got.len() != outputs.len() {
            return Outcome::Fail(format!("{} outputs, expected {}", got.len(), outputs.len()));
        }
        for ((name, g), (_, w)) in got.iter().zip(&outputs) {
            if let Err(e) = close(g, w) {
                return Outcome::Fail(format!("output '{name}': {e}"));
            }
        }
    }
    Outcome::Pass
}

fn first_op(dir: &Path) -> Option<String> {
    let bytes = std::fs::read(dir.join("model.onnx")).ok()?;
    let m = proto::decode_model(&bytes).ok()?;
    m.graph?.node.first().map(|n| n.op_type.clone())
}

#[cfg(target_arch = "wasm32")]
fn main() {} // reads cases from disk: native only

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let all = args.iter().any(|a| a == "--all") || std::env::var_os("CONFORMANCE_ALL").is_some();
    let grow = args.iter().any(|a| a == "--grow-allow-list");
    let filter: Option<&String> = args.iter().skip(1).find(|a| !a.starts_with("--"));
    let cases_dir = std::env::var_os("SQUISH_ONNX_NODE_TESTS").map(PathBuf::from).unwrap_or_else(|| root().join(".cache/onnx-node/node"));
    let allow_path = root().join("tests/conformance/allow.txt");
    let allow = read_list(&allow_path);
    if !cases_dir.is_dir() {
        eprintln!(
            "conformance: no generated cases in {} — run `python3 scripts/gen_conformance.py .cache/onnx-node` (npm test does)",
            cases_dir.display()
        );
        println!("test result: FAILED. 0 passed; 1 failed; 0 ignored");
        std::process::exit(1);
    }
    let mut names: Vec<String> = std::fs::read_dir(&cases_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    if !all {
        names.retain(|n| allow.contains(n));
        let missing: Vec<_> = allow.iter().filter(|a| !cases_dir.join(a).is_dir()).collect();
        if !missing.is_empty() {
            eprintln!("conformance: allow-listed cases missing from the generated set: {missing:?}");
        }
    }
    if let Some(f) = filter {
        names.retain(|n| n.contains(f.as_str()));
    }
    let real_ops = read_list(&root().join("tests/conformance/real_model_ops.txt"));
    let (mut passed, mut failed, mut skipped) = (Vec::new(), Vec::new(), 0usize);
    let (mut scope_total, mut scope_passed) = (0usize, 0usize);
    std::panic::set_hook(Box::new(|_| {}));
    for name in &names {
        let dir = cases_dir.join(name);
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(&dir))).unwrap_or_else(|p| {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            Outcome::Fail(format!("PANIC (a bug: bad input must be an error): {msg}"))
        });
        let in_scope = !name.contains("expanded") && first_op(&dir).is_some_and(|op| real_ops.contains(&op));
        match outcome {
            Outcome::Pass => {
                passed.push(name.clone());
                scope_passed += in_scope as usize;
                scope_total += in_scope as usize;
            }
            Outcome::Fail(why) => {
                scope_total += in_scope as usize;
                if !all || in_scope || std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
                    println!("FAIL {name}: {}", why.chars().take(300).collect::<String>());
                }
                failed.push(name.clone());
            }
            Outcome::Skip(why) => {
                skipped += 1;
                if std::env::var_os("CONFORMANCE_VERBOSE").is_some() {
                    println!("skip {name}: {why}");
                }
            }
        }
    }
    let _ = std::panic::take_hook();
    if grow {
        let mut list = allow.clone();
        list.extend(passed.iter().cloned());
        let body = list.iter().cloned().collect::<Vec<_>>().join("\n");
        std::fs::write(&allow_path, format!("# ONNX node tests that must pass (grown by `npm run conformance -- --grow-allow-list`; never shrink)\n{body}\n")).unwrap();
        println!("allow-list: {} cases ({} new)", list.len(), list.len() - allow.len());
    }
    if all {
        println!("in scope (op types of the real models, non-expanded): {scope_passed} of {scope_total} passed");
        println!("onnx node tests: {} passed, {} failed, {skipped} skipped", passed.len(), failed.len());
    } else {
        let status = if failed.is_empty() { "ok" } else { "FAILED" };
        println!("test result: {status}. {} passed; {} failed; {skipped} ignored", passed.len(), failed.len());
    }
    if !all && !failed.is_empty() {
        std::process::exit(1);
    }
}
