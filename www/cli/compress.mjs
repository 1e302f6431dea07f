// `squish compress`: recipe + optional calibration inputs → compressed model
// and a per-tensor table of what changed. The output file is written only
// when compression succeeded (`writeAtomic`).
import { openModel, readFile, writeAtomic } from './files.mjs';
import { inputSets, readCalibration } from './inputs.mjs';

/** Whether the recipe text asks for a search (a parse error is left to the engine, which names it). */
function hasTarget(text) {
  try {
    return JSON.parse(text)?.target != null;
  } catch {
    return false;
  }
}


const kib = (b) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

export function formatRecord(record) {
  const rows = [['tensor', 'node', 'step', 'settings', 'grouping', 'before', 'after', 'zeros', 'max |Δw|']];
  for (const c of record.entries) {
    rows.push([c.tensor, `${c.node} (${c.op_type})`, `${c.step}: ${c.method}`, c.settings, c.grouping, kib(c.bytes_before), kib(c.bytes_after),
      `${(100 * c.sparsity).toFixed(1)}%`, c.max_abs_error.toExponential(2)]);
  }
  // Pruned tensors also have a sparse encoding (bitmap + non-zeros): its size, when any has one.
  if (record.entries.some((c) => c.sparse_bytes != null)) {
    rows[0].splice(7, 0, 'gzip', 'sparse');
    record.entries.forEach((c, i) => rows[i + 1].splice(7, 0, c.gzip_bytes == null ? '–' : kib(c.gzip_bytes), c.sparse_bytes == null ? '–' : kib(c.sparse_bytes)));
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const lines = rows.map((r) => r.map((v, i) => (i >= 5 ? String(v).padStart(widths[i]) : String(v).padEnd(widths[i]))).join('  '));
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  if (!record.entries.length) lines.push('(no tensor changed)');
  for (const [name, lo, hi] of record.calibrated_ranges) lines.push(`activation ${name}: calibrated range [${lo.toPrecision(4)}, ${hi.toPrecision(4)}]`);
  for (const s of record.smoothed ?? []) {
    const where = s.folded_into ? `folded into LayerNormalization ${s.folded_into}` : 'a Mul before them';
    lines.push(`equalised (α ${s.alpha}) ${s.activation} for ${s.layers.join(', ')}: channel scales ${s.scale_min.toPrecision(3)}–${s.scale_max.toPrecision(3)}, ${where}`);
  }
  for (const s of record.kept) lines.push(`kept as is (step ${s.step}, ${s.method}): ${s.node} (${s.op_type}): ${s.reason}`);
  for (const w of record.warnings) lines.push(`WARNING ${w.node} (${w.op_type}) '${w.tensor}': ${w.detail}`);
  const ratio = record.model_bytes_before / Math.max(1, record.model_bytes_after);
  lines.push(`model: ${kib(record.model_bytes_before)} → ${kib(record.model_bytes_after)} (${ratio.toFixed(2)}× smaller)`);
  return lines.join('\n');
}

/**
 * A recipe with a "target": searches per-layer settings on the input sets
 * (some held back), writes the model the search found, prints the table.
 */
function searchTarget(engine, model, recipe, calibration, opts, outPath) {
  if (!opts.inputs && !opts.text) throw new Error('the recipe has a "target": give the inputs to search on (--inputs DIR|FILE, or --text LINES.txt --tokenizer tokenizer.json)');
  const feeds = inputSets(engine, model, opts);
  const labels = opts.labels ? engine.readLabels(opts.labels, readFile(opts.labels, 'labels')) : null;
  const t0 = performance.now();
  const search = new engine.TargetSearch(model, recipe, feeds, labels, calibration.length ? calibration : null);
  try {
    for (let p; (p = search.step()); ) process.stderr.write(`\r${p.stage}: ${p.done}/${p.total}   `);
    process.stderr.write('\n');
    const { report, markdown, recipe: found } = search.finish();
    const lines = [markdown.trimEnd(), `searched in ${((performance.now() - t0) / 1000).toFixed(1)} s`];
    if (opts.report) {
      writeAtomic(opts.report, Buffer.from(JSON.stringify(report, null, 2)));
      lines.push(`wrote ${opts.report}`);
    }
    const compressed = search.compressed();
    if (!compressed) throw new Error(`no recipe meets the target, so nothing was written: ${report.unreachable}`);
    const out = compressed.toBytes();
    compressed.free();
    writeAtomic(outPath, out);
    lines.push(`found recipe: ${found}`, `wrote ${outPath} (${out.length} bytes)`);
    return lines.join('\n');
  } finally {
    search.free();
  }
}

export function compressModel(engine, bytes, recipePath, calibrationDir, outPath, opts = {}) {
  const recipe = readFile(recipePath, 'recipe').toString('utf8');
  const model = openModel(engine, bytes);
  try {
    const calibration = calibrationDir ? readCalibration(engine, calibrationDir, model.summary().inputs) : [];
    if (hasTarget(recipe)) return searchTarget(engine, model, recipe, calibration, opts, outPath);
    if (opts.inputs || opts.text || opts.labels) throw new Error('--inputs, --text and --labels are for a recipe with a "target" (the search runs on them); use --calibration DIR otherwise');
    const t0 = performance.now();
    const compressed = model.compress(recipe, calibration);
    const ms = performance.now() - t0;
    const record = compressed.compressionRecord();
    const out = compressed.toBytes();
    compressed.free();
    writeAtomic(outPath, out);
    return `${formatRecord(record)}\ncompressed in ${ms.toFixed(0)} ms; wrote ${outPath} (${out.length} bytes)`;
  } finally {
    model.free();
  }
}
