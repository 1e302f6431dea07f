// `squish compare`: both models on the same inputs; a JSON report (schema in
// the README), a Markdown one, and with --recipe a sensitivity study whose
// exclusion list can be pasted into the recipe.
import { inputSets, readCalibration } from './inputs.mjs';
import { readFile, writeAtomic } from './files.mjs';


export function compareModels(engine, paths, opts) {
  const original = new engine.ModelHandle(readFile(paths[0], 'model'));
  const compressed = new engine.ModelHandle(readFile(paths[1], 'model'));
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
  const t0 = performance.now();
  const { report, markdown } = engine.compareModels(original, compressed, feeds, labels, JSON.stringify(options), null);
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
