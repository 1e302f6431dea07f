#![cfg_attr(target_arch = "wasm32", allow(unused))] // the harness reads files: native only
//! ONNX node conformance. Cases come from the official generators
//! (`scripts/gen_conformance.py`, cached in `.cache/onnx-node`).
//!
//! * default: every case in `allow.txt` must pass (part of `npm test`); an
//!   allow-listed case that is missing from the generated set, or that would
//!   be skipped, fails the run;
//! * `--all`: runs every generated case and ends with
//!   `onnx node tests: P passed, F failed, S skipped`, plus the score over
//!   the cases whose op type occurs in the real models (`real_model_ops.txt`);
//! * `--all --grow-allow-list`: adds newly passing cases to `allow.txt`
//!   (the list only grows).
//!
//! A case passes when every output matches in dtype, shape and values, and
//! agrees with what the ops' shape rules inferred (`ops::facts`)
//! (|got − want| ≤ 1e-7 + 1e-3·|want|, the ONNX backend tests' tolerance;
//! NaN matches NaN). Elements the ONNX spec leaves undefined are not compared
//! (`undefined.rs`: out-of-range float → integer casts) and the summary counts
//! them. For every passing case the harness also checks that each compared
//! element would fail had the expected value been different, so a comparison
//! can never pass vacuously. Skipped: cases whose data are not plain numeric
//! tensors (sequences, maps, optionals, strings), which Squish does not model.

mod undefined;

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use squish::formats::onnx::{proto, tensor_io};
use squish::{load_session, Tensor};

enum Outcome {
    /// Passed; the number of output elements not compared (undefined by the spec).
    Pass {
        undefined: usize,
    },
    Fail(String),
    Skip(String),
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_list(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
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

/// The backend tests' element rule.
fn element_matches(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan()) || got == want || (got - want).abs() <= 1e-7 + 1e-3 * want.abs()
}

/// A value that `element_matches` must reject against whatever matched `want`
/// (moved towards zero, so it never overflows to ±Inf).
fn tampered(want: f64) -> f64 {
    if !want.is_finite() {
        return 0.0;
    }
    let step = 1.0 + 0.01 * want.abs();
    if want > 0.0 {
        want - step
    } else {
        want + step
    }
}

/// Compares one output, leaving out the elements marked undefined. Also
/// proves the comparison is not vacuous: every compared element would have
/// failed with a tampered expected value.
fn compare(got: &Tensor, want: &Tensor, undefined: Option<&[bool]>) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {} vs expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} vs expected {:?}", got.shape(), want.shape()));
    }
    let compared = |i: usize| undefined.is_none_or(|u| !u[i]);
    for (i, (g, w)) in got.to_f64_vec().into_iter().zip(want.to_f64_vec()).enumerate().filter(|(i, _)| compared(*i)) {
        if !element_matches(g, w) {
            return Err(format!("element {i}: {g} vs expected {w}"));
        }
        if element_matches(g, tampered(w)) {
            return Err(format!("element {i}: the comparison would also accept {} (harness bug)", tampered(w)));
        }
    }
    Ok(())
}

/// What the ops' shape rules inferred for an output agrees with what the
/// run produced, wherever the rules decided (dtype; shape when every
/// dimension is fixed).
fn facts_agree(facts: Option<&squish::ops::facts::Facts>, got: &Tensor) -> Result<(), String> {
    let Some(f) = facts else { return Ok(()) };
    if let Some(d) = f.dtype.filter(|d| *d != got.dtype()) {
        return Err(format!("dtype {d}, the run gave {}", got.dtype()));
    }
    let fixed: Option<Vec<usize>> =
        f.shape.as_ref().and_then(|s| s.iter().map(|d| if let squish::ir::Dim::Fixed(v) = d { Some(*v as usize) } else { None }).collect());
    match fixed {
        Some(shape) if shape != got.shape() => Err(format!("shape {shape:?}, the run gave {:?}", got.shape())),
        _ => Ok(()),
    }
}

/// The input and output sets of a case, or why it cannot run as tensors.
type DataSet = (Vec<(String, Tensor)>, Vec<(String, Tensor)>);

fn read_data(dir: &Path) -> Result<Vec<DataSet>, Outcome> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()).unwrap_or_default();
    sets.sort();
    let mut data = Vec::new();
    for set in &sets {
        let files = |prefix: &str| -> Result<Vec<(String, Tensor)>, Outcome> {
            (0..).map(|j| set.join(format!("{prefix}_{j}.pb"))).take_while(|p| p.exists()).map(|p| load_pb(&p)).collect()
        };
        data.push((files("input")?, files("output")?));
    }
    Ok(data)
}

/// Sequences, maps and optionals are outside what Squish models.
fn uses_non_tensor_values(model: &[u8]) -> bool {
    proto::decode_model(model).is_ok_and(|m| {
        let g = m.graph.unwrap_or_default();
        g.input.iter().chain(&g.output).any(|v| !matches!(v.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(proto::type_proto::Value::TensorType(_))))
    })
}

fn run_case(dir: &Path) -> Outcome {
    let model = match std::fs::read(dir.join("model.onnx")) {
        Ok(b) => b,
        Err(e) => return Outcome::Fail(format!("model.onnx: {e}")),
    };
    if uses_non_tensor_values(&model) {
        return Outcome::Skip("sequence, map or optional values".into());
    }
    // Data first, so that cases Squish cannot represent are skipped, not failed.
    let data = match read_data(dir) {
        Ok(d) => d,
        Err(outcome) => return outcome,
    };
    let session = match load_session(&model) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(format!("load: {e}")),
    };
    let graph = &session.model().graph;
    let names: Vec<String> = graph.real_inputs().map(|v| v.name.clone()).collect();
    let mut not_compared = 0;
    for (inputs, outputs) in data {
        let named: Vec<_> = inputs.into_iter().zip(&names).map(|((_, t), n)| (n.clone(), t)).collect();
        let masks: Vec<Option<Vec<bool>>> = (0..outputs.len()).map(|k| undefined::elements(graph, &named, k)).collect();
        let signature: Vec<_> = named.iter().map(|(n, t)| (n.clone(), t.dtype(), t.shape().to_vec())).collect();
        let facts = squish::ops::facts::infer_for(session.model(), &signature);
        let got = match session.run(named) {
            Ok(r) => r.outputs,
            Err(e) => return Outcome::Fail(format!("run: {e}")),
        };
        if got.len() != outputs.len() {
            return Outcome::Fail(format!("{} outputs, expected {}", got.len(), outputs.len()));
        }
        for (((name, g), (_, w)), mask) in got.iter().zip(&outputs).zip(&masks) {
            if let Err(e) = compare(g, w, mask.as_deref()) {
                return Outcome::Fail(format!("output '{name}': {e}"));
            }
            if let Err(e) = facts_agree(facts.get(name), g) {
                return Outcome::Fail(format!("output '{name}': the op's shape rule says {e}"));
            }
            not_compared += mask.as_ref().map_or(0, |m| m.iter().filter(|u| **u).count());
        }
    }
    Outcome::Pass { undefined: not_compared }
}

fn first_op(dir: &Path) -> Option<String> {
    let bytes = std::fs::read(dir.join("model.onnx")).ok()?;
    let m = proto::decode_model(&bytes).ok()?;
    m.graph?.node.first().map(|n| n.op_type.clone())
}

/// What a run found.
#[derive(Default)]
struct Tally {
    passed: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<String>,
    /// Output elements left out as undefined, and in how many cases.
    undefined_elements: usize,
    undefined_cases: usize,
    scope_total: usize,
    scope_passed: usize,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

fn run_all(cases_dir: &Path, names: &[String], real_ops: &BTreeSet<String>, all: bool) -> Tally {
    let verbose = std::env::var_os("CONFORMANCE_VERBOSE").is_some();
    let mut t = Tally::default();
    std::panic::set_hook(Box::new(|_| {}));
    for name in names {
        let dir = cases_dir.join(name);
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(&dir)))
            .unwrap_or_else(|p| Outcome::Fail(format!("PANIC (a bug: bad input must be an error): {}", panic_message(p))));
        let in_scope = !name.contains("expanded") && first_op(&dir).is_some_and(|op| real_ops.contains(&op));
        t.scope_total += in_scope as usize;
        match outcome {
            Outcome::Pass { undefined } => {
                t.passed.push(name.clone());
                t.scope_passed += in_scope as usize;
                t.undefined_elements += undefined;
                t.undefined_cases += (undefined > 0) as usize;
            }
            Outcome::Fail(why) => {
                if !all || in_scope || verbose {
                    println!("FAIL {name}: {}", why.chars().take(300).collect::<String>());
                }
                t.failed.push(name.clone());
            }
            Outcome::Skip(why) => {
                // An allow-listed case must run: a skip there is a failure.
                if !all {
                    println!("FAIL {name}: allow-listed but skipped ({why})");
                    t.failed.push(name.clone());
                    continue;
                }
                t.scope_total -= in_scope as usize;
                if verbose {
                    println!("skip {name}: {why}");
                }
                t.skipped.push(name.clone());
            }
        }
    }
    let _ = std::panic::take_hook();
    t
}

/// The failed cases grouped by the operator they test (a non-expanded case's
/// first node), most failures first: which operators would fix the most.
fn print_failures_by_op(cases_dir: &Path, failed: &[String]) {
    let mut by_op: std::collections::BTreeMap<String, usize> = Default::default();
    let mut expanded = 0;
    for name in failed {
        if name.contains("expanded") {
            expanded += 1;
            continue;
        }
        *by_op.entry(first_op(&cases_dir.join(name)).unwrap_or_else(|| "?".into())).or_default() += 1;
    }
    let mut ops: Vec<(String, usize)> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("failures by operator (non-expanded cases; {expanded} expanded cases fail on the ops of their function bodies):");
    for (op, n) in &ops {
        println!("  {op}: {n}");
    }
}

fn grow_allow_list(allow_path: &Path, allow: &BTreeSet<String>, passed: &[String]) {
    let mut list = allow.clone();
    list.extend(passed.iter().cloned());
    let body = list.iter().cloned().collect::<Vec<_>>().join("\n");
    let header = "# ONNX node tests that must pass (grown by `npm run conformance -- --grow-allow-list`; never shrink)";
    std::fs::write(allow_path, format!("{header}\n{body}\n")).expect("write allow.txt");
    println!("allow-list: {} cases ({} new)", list.len(), list.len() - allow.len());
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
        eprintln!("conformance: no generated cases in {} — run `python3 scripts/gen_conformance.py .cache/onnx-node` (npm test does)", cases_dir.display());
        println!("test result: FAILED. 0 passed; 1 failed; 0 ignored");
        std::process::exit(1);
    }
    let mut names: Vec<String> = std::fs::read_dir(&cases_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut missing: Vec<&String> = Vec::new();
    if !all {
        names.retain(|n| allow.contains(n));
        missing = allow.iter().filter(|a| !cases_dir.join(a).is_dir()).collect();
    }
    if let Some(f) = filter {
        names.retain(|n| n.contains(f.as_str()));
        missing.retain(|n| n.contains(f.as_str()));
    }
    for m in &missing {
        println!("FAIL {m}: allow-listed but missing from the generated set in {}", cases_dir.display());
    }
    let real_ops = read_list(&root().join("tests/conformance/real_model_ops.txt"));
    let t = run_all(&cases_dir, &names, &real_ops, all);
    if grow {
        grow_allow_list(&allow_path, &allow, &t.passed);
    }
    println!(
        "not compared: {} output elements in {} passing cases, whose values the ONNX spec leaves undefined (out-of-range or non-finite float → integer casts)",
        t.undefined_elements, t.undefined_cases
    );
    if all {
        println!("in scope (op types of the real models, non-expanded): {} of {} passed", t.scope_passed, t.scope_total);
        println!("onnx node tests: {} passed, {} failed, {} skipped", t.passed.len(), t.failed.len(), t.skipped.len());
        print_failures_by_op(&cases_dir, &t.failed);
        return;
    }
    let failed = t.failed.len() + missing.len();
    let status = if failed == 0 { "ok" } else { "FAILED" };
    println!("test result: {status}. {} passed; {failed} failed; 0 ignored", t.passed.len());
    if failed > 0 {
        std::process::exit(1);
    }
}
