#![cfg(not(target_arch = "wasm32"))] // reads the source tree
//! The layer order stated in `src/lib.rs` holds: no module imports from a
//! layer above its own. Every `crate::…` path in `src/` (imports, and paths
//! written inline) is checked, test modules included, since they compile
//! into the same crate.

use std::path::{Path, PathBuf};

/// The layers, bottom first, as `src/lib.rs` lists them (`//! N. \`name\``).
fn documented_layers(lib_rs: &str) -> Vec<String> {
    lib_rs
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().strip_prefix("//!")?.trim_start();
            let (number, rest) = l.split_once(". `")?;
            number.parse::<usize>().ok()?;
            Some(rest.split('`').next()?.to_string())
        })
        .collect()
}

/// The top-level module each `crate::` path in `code` names (`crate::{a, b::c}` names a and b).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                out.extend(inner.split(',').map(|item| ident(item.trim())).filter(|s| !s.is_empty()));
            } else {
                out.push(ident(rest));
            }
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// `(file, line text, module, imported layer)` for every import against the order.
fn violations(files: &[(String, String)], layers: &[String]) -> Vec<String> {
    let rank = |m: &str| layers.iter().position(|l| l == m);
    let mut bad = Vec::new();
    for (rel, code) in files {
        let module = rel.split(['/', '.']).next().unwrap_or("");
        let Some(own) = rank(module) else { continue };
        for target in crate_paths(code) {
            if let Some(r) = rank(&target).filter(|&r| r > own) {
                bad.push(format!("{rel}: `{module}` (layer {}) imports `crate::{target}` (layer {})", own + 1, r + 1));
            }
        }
    }
    bad
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p: PathBuf = entry.path();
        if p.is_dir() {
            rust_files(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers = documented_layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(layers.len() >= 8, "src/lib.rs lists no layers: {layers:?}");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    let top: std::collections::BTreeSet<String> =
        files.iter().map(|(rel, _)| rel.split(['/', '.']).next().unwrap().to_string()).filter(|m| m != "lib").collect();
    for m in &top {
        assert!(layers.contains(m), "module `{m}` is not in the layer list of src/lib.rs");
    }
    let bad = violations(&files, &layers);
    assert!(bad.is_empty(), "imports against the layer order of src/lib.rs:\n{}", bad.join("\n"));
}

/// The check itself: an upward import is caught, in every spelling.
#[test]
fn a_deliberately_upward_import_is_caught() {
    let layers: Vec<String> = ["error", "tensor", "ops", "runtime"].iter().map(|s| s.to_string()).collect();
    let files = vec![
        ("ops/conv.rs".to_string(), "use crate::runtime::Session;\nuse crate::tensor::Tensor;".to_string()),
        ("tensor/mod.rs".to_string(), "use crate::{error::Result, ops::norm_axis};".to_string()),
        ("error.rs".to_string(), "fn f() { let _ = crate::tensor::Tensor::scalar(1.0); }".to_string()),
        ("runtime/mod.rs".to_string(), "// crate::compare is only named in a comment\nuse crate::ops::Op;".to_string()),
    ];
    let bad = violations(&files, &layers);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(bad[0].starts_with("ops/conv.rs: `ops` (layer 3) imports `crate::runtime`"), "{}", bad[0]);
    assert!(bad[1].contains("`crate::ops`") && bad[2].contains("`crate::tensor`"), "{bad:?}");
    assert_eq!(documented_layers("//! Layers:\n//! 1. `error` — x\n//! 2. `tensor` — y\n"), ["error", "tensor"]);
}
