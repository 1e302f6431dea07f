// `squish compress`: recipe + optional calibration inputs → compressed model
// and a per-tensor table of what changed. The output file is written only
// when compression succeeded (`writeAtomic`).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readInputs } from './run.mjs';
import { readFile, writeAtomic } from './files.mjs';

/** Calibration samples: DIR holds input_J files (one sample) or sub-folders of them. */
export function readCalibration(engine, dir, inputs) {
  if (!existsSync(dir)) throw new Error(`calibration folder '${dir}' does not exist`);
  const subdirs = readdirSync(dir).filter((d) => statSync(join(dir, d)).isDirectory()).sort();
  const folders = subdirs.length ? subdirs.map((d) => join(dir, d)) : [dir];
  return folders.map((f) => {
    try {
      return readInputs(engine, f, inputs);
    } catch (e) {
      throw new Error(`calibration sample '${f}': ${e.message}`);
    }
  });
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

export function compressModel(engine, bytes, recipePath, calibrationDir, outPath) {
  const recipe = readFile(recipePath, 'recipe').toString('utf8');
  const model = new engine.ModelHandle(bytes);
  try {
    const calibration = calibrationDir ? readCalibration(engine, calibrationDir, model.summary().inputs) : [];
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
