// `squish compare`: both models on the same inputs; a JSON report (schema in
// the README), a Markdown one, and with --recipe a sensitivity study whose
// exclusion list can be pasted into the recipe.
import { inputSets, readCalibration, readTexts } from './inputs.mjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openModel, readFile, readModel, writeAtomic } from './files.mjs';

const SLICE_FEATURES = ['auto', 'length', 'brightness', 'contrast', 'loudness', 'norm'];

/** A feature name, or a file naming each example's slice (one per line; or a JSON array). */
function sliceOptions(value, bins) {
  const options = { bins: Number(bins ?? 4) };
  if (SLICE_FEATURES.includes(value)) return { ...options, by: value };
  const text = readFile(value, 'slices').toString('utf8');
  let names;
  try {
    names = value.endsWith('.json') ? JSON.parse(text).map(String) : text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  } catch (e) {
    throw new Error(`${value}: slices file: ${e.message}`);
  }
  return { ...options, names };
}

const TEXT_PROBES = new Set(['typo', 'drop', 'repeat', 'whitespace', 'truncate', 'case']);

/**
 * What the probes feed both models: DIR/PROBE_SEVERITY/input_J.pb (sub-folders
 * per input set when there are several), or for text probes
 * DIR/PROBE_SEVERITY.txt, the changed texts one per line.
 */
function saveProbes(engine, feeds, texts, probes, dir) {
  for (const kind of engine.probeNames(probes.kinds)) {
    for (const severity of probes.severities) {
      if (TEXT_PROBES.has(kind)) {
        if (!texts) throw new Error(`probe '${kind}' changes texts: give them with --text LINES.txt --tokenizer tokenizer.json`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, `${kind}_${severity}.txt`), engine.probeTexts(texts.texts, kind, severity, probes.seed).join('\n') + '\n');
        continue;
      }
      const probed = engine.probeInputs(feeds, kind, severity, probes.seed);
      probed.forEach((feed, i) => {
        const at = join(dir, `${kind}_${severity}`, probed.length > 1 ? `set_${i}` : '');
        mkdirSync(at, { recursive: true });
        feed.forEach((t, j) => writeFileSync(join(at, `input_${j}.pb`), engine.writeTensorProto(t)));
      });
    }
  }
}

export function compareModels(engine, paths, opts) {
  const original = openModel(engine, readModel(paths[0]));
  const compressed = openModel(engine, readModel(paths[1]));
  try {
    return compareHandles(engine, original, compressed, opts);
  } finally {
    original.free();
    compressed.free();
  }
}


function compareHandles(engine, original, compressed, opts) {
  const feeds = inputSets(engine, original, opts);
  const labels = opts.labels ? engine.readLabels(opts.labels, readFile(opts.labels, 'labels')) : null;
  const options = opts.options ? JSON.parse(readFile(opts.options, 'options').toString('utf8')) : {};
  if (opts.runs !== undefined) options.latency_runs = Number(opts.runs);
  if (opts['per-class']) options.per_class = true;
  if (opts.handback) options.handback = true;
  if (opts['handback-target'] !== undefined) options.handback_target = Number(opts['handback-target']);
  if (opts.slices) options.slices = sliceOptions(opts.slices, opts['slice-bins']);
  if (opts.probes) {
    options.probes = { kinds: opts.probes.split(','), severities: (opts.severities ?? '1,2,3').split(',').map(Number), seed: Number(opts['probe-seed'] ?? 0) };
  }
  if (opts['on-the-job-output']) options.on_the_job_output = opts['on-the-job-output'];
  const texts = readTexts(opts);
  if (opts['save-probes']) saveProbes(engine, feeds, texts, options.probes, opts['save-probes']);
  const t0 = performance.now();
  const { report, markdown } = engine.compareModels(original, compressed, feeds, labels, JSON.stringify(options), texts, null);
  const lines = [`compared in ${((performance.now() - t0) / 1000).toFixed(2)} s`];
  let md = markdown;
  if (opts.recipe && opts.sensitivity === 'sparsity') {
    const recipe = readFile(opts.recipe, 'recipe').toString('utf8');
    const t1 = performance.now();
    const scan = new engine.SparsityScan(original, recipe, feeds);
    try {
      const layers = scan.layers();
      layers.forEach((node, i) => {
        process.stderr.write(`\rsparsity scan: ${i + 1}/${layers.length} (${node})`);
        scan.measure(i);
      });
      if (layers.length) process.stderr.write('\n');
      const { scan: result, recipe: suggested, markdown: section } = scan.finish();
      lines.push(`sparsity scan of ${layers.length} ${result.unit}(s) × ${result.levels.length} levels in ${((performance.now() - t1) / 1000).toFixed(2)} s`);
      report.sparsity_scan = result;
      md += section;
      if (opts['suggest-recipe']) {
        writeAtomic(opts['suggest-recipe'], `${JSON.stringify(JSON.parse(suggested), null, 2)}\n`);
        lines.push(`wrote ${opts['suggest-recipe']} (the recipe with the suggested per-layer sparsities)`);
      }
    } finally {
      scan.free();
    }
  } else if (opts.recipe) {
    const recipe = readFile(opts.recipe, 'recipe').toString('utf8');
    const calibration = opts.calibration ? readCalibration(engine, opts.calibration, original.summary().inputs) : [];
    const study = new engine.SensitivityStudy(original, recipe, calibration, feeds);
    const layers = study.layers();
    layers.forEach((node, i) => {
      process.stderr.write(`\rsensitivity: layer ${i + 1}/${layers.length}`);
      study.measure(node);
    });
    if (layers.length) process.stderr.write('\n');
    const { sensitivity, markdown: section } = study.finish();
    study.free();
    report.sensitivity = sensitivity;
    md += section;
    if (opts['suggest-recipe']) {
      const suggested = engine.suggestedRecipe(recipe, sensitivity.exclusion_units);
      writeAtomic(opts['suggest-recipe'], `${JSON.stringify(JSON.parse(suggested), null, 2)}\n`);
      lines.push(`wrote ${opts['suggest-recipe']} (the recipe with the suggested exclusions)`);
    }
  }
  if (opts.report) {
    writeAtomic(opts.report, `${JSON.stringify(report, null, 2)}\n`);
    lines.push(`wrote ${opts.report}`);
  }
  if (opts.markdown) {
    writeAtomic(opts.markdown, md);
    lines.push(`wrote ${opts.markdown}`);
  }
  return `${md}\n${lines.join('\n')}`;
}
