//! The comparison report as Markdown (what `squish compare --markdown` writes
//! and what users paste into a pull request).

use std::fmt::Write;

use super::metrics::Figure;

use super::outputs::OutputKind;
use super::Report;

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

fn opt_pct(v: Option<f64>) -> String {
    v.map(pct).unwrap_or_else(|| "–".into())
}

/// How many rows of each ranked table are shown.
const TOP: usize = 10;

/// Per class and hand-back, when asked for.
fn on_the_job(s: &mut String, c: &super::outputs::ClassificationMetrics) {
    if let Some(p) = &c.per_class {
        let figure = if p.truth == "labels" { "accuracy" } else { "agreement" };
        let _ = writeln!(
            s,
            "\n### Per class (by {}; largest drop first; interval: 95% Wilson of the compressed {figure})\n\n| class | examples | agreement | accuracy original → compressed | lost / gained | interval |\n|---|---|---|---|---|---|",
            p.truth
        );
        for row in p.rows.iter().take(TOP) {
            let rare = if row.rare { " (rare)" } else { "" };
            let acc = match (row.accuracy_original, row.accuracy_compressed) {
                (Some(a), Some(b)) => format!("{} → {}", pct(a), pct(b)),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {}{rare} | {} | {acc} | {} / {} | {}–{} |",
                row.class,
                row.examples,
                pct(row.agreement),
                row.lost,
                row.gained,
                pct(row.interval.0),
                pct(row.interval.1)
            );
        }
        if !p.flip_pairs.is_empty() {
            let pairs: Vec<String> = p.flip_pairs.iter().take(TOP).map(|f| format!("{} → {} ({}×)", f.from, f.to, f.count)).collect();
            let _ = writeln!(s, "\nFlips go (original → compressed): {}.", pairs.join(", "));
        }
    }
    if let Some(h) = &c.handback {
        let q = h.chosen;
        let threshold = q.threshold.map(|t| format!("confidence ≥ {t:.4}")).unwrap_or_else(|| "never (no threshold keeps it)".into());
        let accuracy = q.accuracy.map(|a| format!(", accuracy {}", pct(a))).unwrap_or_default();
        let _ = writeln!(
            s,
            "\n### Hand back to the original\n\nThe compressed model answers when {threshold} and the original answers the rest: the compressed model answers {} of the inputs, agreement {}{accuracy} (target {}).",
            pct(q.coverage),
            pct(q.agreement),
            pct(h.target)
        );
    }
}

fn figure_name(f: Figure) -> &'static str {
    match f {
        Figure::Agreement => "agreement",
        Figure::Cosine => "cosine",
        Figure::AbsError => "mean |Δ|",
    }
}

fn figure_value(f: Figure, v: f64, digits: usize) -> String {
    match f {
        Figure::Agreement => pct(v),
        Figure::Cosine => format!("{v:.digits$}"),
        Figure::AbsError => format!("{v:.3e}"),
    }
}

/// The slices table, worst first.
fn slices(s: &mut String, sl: &super::slices::Slices) {
    let _ = writeln!(
        s,
        "## Slices (output `{}`, by {}; worst first)\n\n| slice | examples | {} | accuracy original → compressed |\n|---|---|---|---|",
        sl.output,
        sl.by,
        figure_name(sl.figure)
    );
    for row in sl.rows.iter().take(2 * TOP) {
        let acc = match (row.accuracy_original, row.accuracy_compressed) {
            (Some(a), Some(b)) => format!("{} → {}", pct(a), pct(b)),
            _ => "–".into(),
        };
        let figure = figure_value(sl.figure, row.figure, 6);
        let _ = writeln!(s, "| {} | {} | {figure} | {acc} |", row.slice, row.examples);
    }
    s.push('\n');
}

/// The probes table: each model's figure under each probe, and the gap.
fn probes(s: &mut String, p: &super::probes::Probes) {
    let labelled = p.clean.accuracy_original.is_some();
    let _ = writeln!(
        s,
        "## Edge-case probes (output `{}`, seed {})\n\n{} with the original on clean inputs{}; gap: what the compressed model loses beyond what the original loses (above 0: more brittle).\n",
        p.output,
        p.seed,
        match p.figure {
            Figure::Agreement => "Agreement",
            Figure::Cosine => "Mean cosine",
            Figure::AbsError => "Mean absolute difference",
        },
        if labelled { ", and accuracy" } else { "" }
    );
    let texts = p.rows.iter().any(|r| r.changed.is_some());
    let _ = writeln!(
        s,
        "Inputs changed: {}.\n\n| probe | severity | original | compressed | accuracy original | accuracy compressed | gap |{}\n|---|---|---|---|---|---|---|{}",
        p.inputs.join(", "),
        if texts { " texts changed |" } else { "" },
        if texts { "---|" } else { "" }
    );
    let points = p.figure == Figure::Agreement || labelled;
    let figure = |v: f64| figure_value(p.figure, v, 4);
    let gap = |v: f64| match (points, p.figure) {
        (true, _) => format!("{:+.2} pt", 100.0 * v),
        (false, Figure::AbsError) => format!("{v:+.2e}"),
        _ => format!("{v:+.4}"),
    };
    for row in std::iter::once(&p.clean).chain(&p.rows) {
        let name = row.probe.map_or("clean", |p| p.name());
        let _ = write!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            row.severity,
            figure(row.original),
            figure(row.compressed),
            opt_pct(row.accuracy_original),
            opt_pct(row.accuracy_compressed),
            gap(row.gap)
        );
        let _ = writeln!(s, "{}", if texts { format!(" {} |", opt_pct(row.changed)) } else { String::new() });
    }
    for skip in &p.skipped {
        let _ = writeln!(s, "\nSkipped `{}`: {}.", skip.probe.name(), skip.reason);
    }
    s.push('\n');
}

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Squish comparison\n\n{} input set(s) through both models.\n", r.samples);
    if let Some(z) = &r.sizes {
        let _ = writeln!(s, "| size | original | compressed | ratio |\n|---|---|---|---|");
        let _ = writeln!(s, "| raw | {} | {} | {:.2}× |", kib(z.original.raw), kib(z.compressed.raw), z.original.raw as f64 / z.compressed.raw.max(1) as f64);
        let _ = writeln!(
            s,
            "| gzip | {} | {} | {:.2}× |\n",
            kib(z.original.gzip),
            kib(z.compressed.gzip),
            z.original.gzip as f64 / z.compressed.gzip.max(1) as f64
        );
    }
    if let Some(l) = &r.latency {
        let _ = writeln!(
            s,
            "Latency on this device (median of {} runs): original {:.2} ms, compressed {:.2} ms ({:.2}× {}).\n",
            l.runs,
            l.original_median_ms,
            l.compressed_median_ms,
            if l.speedup >= 1.0 { l.speedup } else { 1.0 / l.speedup },
            if l.speedup >= 1.0 { "faster" } else { "slower" }
        );
    }
    for o in &r.outputs {
        let g = &o.regression;
        let _ = writeln!(
            s,
            "## Output `{}` ({}, {} examples of {:?})\n",
            o.name,
            if o.kind == OutputKind::Classification { "classification" } else { "regression" },
            o.examples,
            o.example_shape
        );
        // Neighbours matter for embeddings; among near one-hot class rows they are ties.
        let neighbours =
            if o.kind == OutputKind::Regression { format!(" · nearest-neighbour agreement {}", opt_pct(g.neighbour_agreement)) } else { String::new() };
        let _ = writeln!(
            s,
            "SQNR {:.1} dB · cosine mean {:.6}, min {:.6} · max |Δ| {:.3e} · mean |Δ| {:.3e}{neighbours}\n",
            g.sqnr_db, g.cosine_mean, g.cosine_min, g.max_abs_error, g.mean_abs_error
        );
        let Some(c) = &o.classification else { continue };
        let _ = writeln!(s, "| metric | original | compressed |\n|---|---|---|");
        let _ = writeln!(s, "| accuracy | {} | {} |", opt_pct(c.accuracy_original), opt_pct(c.accuracy_compressed));
        let _ = writeln!(
            s,
            "| ECE (vs {}) | {} | {:.4} |",
            c.calibration_reference,
            c.ece_original.map(|e| format!("{e:.4}")).unwrap_or("–".into()),
            c.ece_compressed
        );
        let _ = writeln!(
            s,
            "| overconfident errors (≥ 0.9) | {} | {} |\n",
            c.overconfident_original.as_ref().map(|v| v.len().to_string()).unwrap_or("–".into()),
            c.overconfident_compressed.len()
        );
        let _ = writeln!(
            s,
            "Top-1 agreement {} · top-{} agreement {} · {} flipped · KL mean {:.3e}, max {:.3e} nats\n",
            pct(c.top1_agreement),
            c.top_k,
            pct(c.top_k_agreement),
            c.flipped_count,
            c.kl_mean,
            c.kl_max
        );
        let _ = writeln!(s, "| original margin | examples | agreement | accuracy original | accuracy compressed |\n|---|---|---|---|---|");
        for b in &c.difficulty {
            let _ = writeln!(
                s,
                "| {:.2}–{:.2} | {} | {} | {} | {} |",
                b.margin_lo,
                b.margin_hi,
                b.count,
                opt_pct(b.agreement),
                opt_pct(b.accuracy_original),
                opt_pct(b.accuracy_compressed)
            );
        }
        if !c.flipped.is_empty() {
            let _ = writeln!(s, "\n| example | original (conf.) | compressed (conf.) | label |\n|---|---|---|---|");
            for f in c.flipped.iter().take(TOP) {
                let label = f.label.map(|l| l.to_string()).unwrap_or("–".into());
                let _ = writeln!(
                    s,
                    "| {} | {} ({:.3}) | {} ({:.3}) | {} |",
                    f.index, f.original_class, f.original_confidence, f.compressed_class, f.compressed_confidence, label
                );
            }
            if c.flipped_count > TOP {
                let _ = writeln!(s, "\n…and {} more in the JSON report.", c.flipped_count - TOP);
            }
        }
        on_the_job(&mut s, c);
        s.push('\n');
    }
    if let Some(sl) = &r.slices {
        slices(&mut s, sl);
    }
    if let Some(p) = &r.probes {
        probes(&mut s, p);
    }
    if let Some(d) = &r.layers {
        let _ = writeln!(s, "## Where the error enters\n\nLocal SQNR: the layer fed the original's inputs. Cumulative: the compressed model as it runs.\n\n| node | op | tensor | local SQNR (dB) | cumulative in → out (dB) | compressed |\n|---|---|---|---|---|---|");
        for t in d.entry_points.iter().take(TOP) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} | {:.1} → {:.1} | {} |",
                t.node,
                t.op_type,
                t.tensor,
                t.local_sqnr_db,
                t.input_sqnr_db,
                t.sqnr_db,
                if t.compressed { "yes" } else { "no" }
            );
        }
        let _ = writeln!(s, "\n## Worst tensors\n\n| tensor | node | SQNR (dB) | cosine | max abs error |\n|---|---|---|---|---|");
        for t in d.worst_first.iter().take(TOP) {
            let _ = writeln!(s, "| {} | {} ({}) | {:.1} | {:.6} | {:.3e} |", t.tensor, t.node, t.op_type, t.sqnr_db, t.cosine, t.max_abs_error);
        }
        if !d.unaligned.is_empty() {
            let _ = writeln!(s, "\n{} tensor(s) of the original have no counterpart in the compressed model.", d.unaligned.len());
        }
        s.push('\n');
    }
    if let Some(z) = &r.sensitivity {
        s.push_str(&sensitivity(z));
    }
    s
}

/// The sensitivity section alone (the page and CLI run the study after the comparison).
pub fn sensitivity(z: &super::sensitivity::Sensitivity) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Sensitivity\n\nWith the whole recipe: output error {:.3e}, agreement {}.\n", z.baseline.error, opt_pct(z.baseline.agreement));
    let _ = writeln!(s, "| node | op | error, only this layer | error, this layer restored | agreement restored |\n|---|---|---|---|---|");
    for l in &z.ranked {
        let _ = writeln!(s, "| {} | {} | {:.3e} | {:.3e} | {} |", l.node, l.op_type, l.only_this.error, l.restored.error, opt_pct(l.restored.agreement));
    }
    let _ = writeln!(s, "\nSuggested: keep {} layer(s) in fp32: `\"exclude\": {{\"nodes\": {:?}}}`\n\n({})\n", z.exclusion.len(), z.exclusion, z.rule);
    s
}

/// The sparsity scan: each layer's output error (agreement) per level, and the suggestion.
pub fn sparsity_scan(z: &super::sparsity_scan::ScanResult) -> String {
    let mut s = String::new();
    let (what, share) = if z.unit == "group" {
        ("this dependency group (named by its first producing layer) cut", "share of its channels or heads removed")
    } else {
        ("this layer pruned", "share of zeros")
    };
    let _ = writeln!(s, "## Sparsity scan\n\nOutput error with only {what}, at each {share} (agreement in brackets).\n");
    let head: Vec<String> = z.levels.iter().map(|l| format!("{:.0}%", 100.0 * l)).collect();
    let _ = writeln!(s, "| node | op | weights | {} | suggested |\n|---|---|---|{}---|", head.join(" | "), "---|".repeat(z.levels.len()));
    for (c, (_, sug)) in z.curves.iter().zip(&z.suggested) {
        let cells: Vec<String> = c.outcomes.iter().map(|o| format!("{:.2e} ({})", o.error, opt_pct(o.agreement))).collect();
        let coupled = if c.coupled.is_empty() { String::new() } else { format!(" (with {})", c.coupled.join(", ")) };
        let _ = writeln!(s, "| {}{coupled} | {} | {} | {} | {:.0}% |", c.node, c.op_type, c.weights, cells.join(" | "), 100.0 * sug);
    }
    let _ = writeln!(s, "\nSuggested sparsities remove {:.1}% of these weights (target {:.1}%). ({})\n", 100.0 * z.achieved, 100.0 * z.target, z.rule);
    s
}

fn kib(b: usize) -> String {
    if b >= 1 << 20 {
        format!("{:.2} MiB", b as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

/// The target search: what it found, the uniform recipes beside it, and
/// each layer's choice.
pub fn target(r: &super::target::TargetReport) -> String {
    let mut s = String::new();
    let name = r.target.metric.name();
    let bound = r.target.bound_text();
    let _ = writeln!(
        s,
        "## Target: {name} {bound}\n\nSearched on {} input sets, checked on {} held back (seed {}); calibration: {} input sets{}; {} candidates run, {} compressions.\n",
        r.searched_inputs,
        r.held_back_inputs,
        r.target.seed,
        r.calibration_inputs,
        if r.calibrated_on_searched { " (the searched ones: figures there are in-sample for calibrated methods such as GPTQ)" } else { "" },
        r.candidates_run,
        r.compressions
    );
    if let Some(why) = &r.unreachable {
        let _ = writeln!(s, "**Not reachable**: {why}.\n");
    }
    let _ = writeln!(s, "| recipe | size | {name}, searched | {name}, held back | meets |\n|---|---|---|---|---|");
    let _ = writeln!(s, "| original | {} | | | |", kib(r.original_bytes));
    for c in r.found.iter().chain(&r.uniform) {
        let label = if c.label == "found" { "**found**".to_string() } else { format!("uniform: {}", c.label) };
        let searched = c.searched.map_or(String::new(), |v| format!("{v:.4}"));
        let _ = writeln!(s, "| {label} | {} | {searched} | {:.4} | {} |", kib(c.bytes), c.held_back, if c.met { "yes" } else { "no" });
    }
    match (r.no_smaller_uniform, &r.found) {
        (Some(true), Some(f)) if f.met => s.push_str("\nThe found recipe meets the target on the held-back inputs, and no uniform recipe that does is smaller.\n"),
        (Some(false), _) => s.push_str("\nA uniform recipe that meets the target on the held-back inputs is smaller than the found one (it missed the target on the searched inputs).\n"),
        (_, Some(f)) if !f.met => s.push_str("\nThe found recipe misses the target on the held-back inputs: the searched inputs were not representative enough (give more inputs, or aim higher).\n"),
        _ => {}
    }
    let _ = writeln!(s, "\n| node | op | chosen | settings: bytes, error alone |\n|---|---|---|---|");
    for c in &r.choices {
        let l = &c.ladder;
        let cells: Vec<String> =
            (0..l.labels.len()).map(|i| format!("{}: {}, {}{:.2e}", l.labels[i], kib(l.bytes[i]), if l.estimated[i] { "≈" } else { "" }, l.error[i])).collect();
        let _ = writeln!(s, "| {} | {} | {} | {} |", c.node, c.op_type, c.chosen, cells.join("; "));
    }
    let _ = writeln!(s, "\n({})", r.rule);
    s
}
