// Renders a comparison report (the JSON of `compareModels`, README
// "Comparing"): headline tiles, per-output metrics, calibration, difficulty
// buckets, flipped examples, and the per-layer diagnosis.
import { formatBytes, h } from './format.js';
import { lineChart, reliabilityChart } from './charts.js';
import { handbackPanel, perClassPanel, probesPanel, slicesPanel } from './on-the-job-view.js';

const pct = (v) => (v == null ? '–' : `${(100 * v).toFixed(2)}%`);
const db = (v) => `${v.toFixed(1)} dB`;

function tile(label, value, detail, testid) {
  return h('div', { class: 'tile', 'data-testid': testid }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, value), detail ? h('div', { class: 'status' }, detail) : null);
}

function table(head, rows, testid) {
  return h('table', { 'data-testid': testid },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

function headline(report) {
  const tiles = [];
  const z = report.sizes;
  if (z) {
    tiles.push(tile('Size', `${formatBytes(z.original.raw)} → ${formatBytes(z.compressed.raw)}`,
      `gzip ${formatBytes(z.original.gzip)} → ${formatBytes(z.compressed.gzip)} (${(z.original.gzip / z.compressed.gzip).toFixed(2)}× smaller)`, 'tile-size'));
  }
  const l = report.latency;
  if (l) {
    tiles.push(tile('Latency on this device', `${l.original_median_ms.toFixed(2)} → ${l.compressed_median_ms.toFixed(2)} ms`,
      `median of ${l.runs} runs · ${l.speedup >= 1 ? `${l.speedup.toFixed(2)}× faster` : `${(1 / l.speedup).toFixed(2)}× slower`}`, 'tile-latency'));
  }
  const c = report.outputs.find((o) => o.classification)?.classification;
  if (c) {
    tiles.push(tile('Agreement (top-1)', pct(c.top1_agreement), `${c.flipped_count} flipped · top-${c.top_k} ${pct(c.top_k_agreement)}`, 'tile-agreement'));
    if (c.accuracy_original != null) tiles.push(tile('Accuracy', `${pct(c.accuracy_original)} → ${pct(c.accuracy_compressed)}`, 'against your labels', 'tile-accuracy'));
  } else if (report.outputs[0]) {
    const g = report.outputs[0].regression;
    tiles.push(tile('Output similarity', `cosine ${g.cosine_min.toFixed(5)}`, `worst example · SQNR ${db(g.sqnr_db)}`, 'tile-similarity'));
  }
  return h('div', { class: 'tiles' }, tiles);
}

function outputSection(o) {
  const g = o.regression;
  const parts = [
    h('h4', {}, `Output ${o.name} · ${o.kind} · ${o.examples} examples`),
    h('div', { class: 'status' }, `SQNR ${db(g.sqnr_db)} · cosine mean ${g.cosine_mean.toFixed(6)}, min ${g.cosine_min.toFixed(6)} · max |Δ| ${g.max_abs_error.toExponential(2)} · mean |Δ| ${g.mean_abs_error.toExponential(2)}`
      + (o.kind === 'regression' ? ` · nearest-neighbour agreement ${pct(g.neighbour_agreement)}` : '')),
  ];
  const c = o.classification;
  if (!c) return h('div', { class: 'output' }, parts);
  parts.push(h('div', { class: 'status' }, `KL(original ‖ compressed) mean ${c.kl_mean.toExponential(2)}, max ${c.kl_max.toExponential(2)} nats · overconfident errors (≥ 0.9): `
    + `${c.overconfident_original ? `${c.overconfident_original.length} → ` : ''}${c.overconfident_compressed.length}`));
  const calib = h('div', { class: 'calibration' },
    c.reliability_original ? h('figure', {}, reliabilityChart(c.reliability_original, { label: 'original reliability' }), h('figcaption', {}, `original · ECE ${c.ece_original.toFixed(4)}`)) : null,
    h('figure', { 'data-testid': 'reliability' }, reliabilityChart(c.reliability_compressed, { label: 'compressed reliability' }),
      h('figcaption', {}, `compressed · ECE ${c.ece_compressed.toFixed(4)} (vs ${c.calibration_reference === 'labels' ? 'labels' : "the original's answers"})`)));
  const buckets = table(['original margin', 'examples', 'agreement', 'accuracy original', 'accuracy compressed'],
    c.difficulty.map((b) => [`${b.margin_lo.toFixed(2)}–${b.margin_hi.toFixed(2)}`, String(b.count), pct(b.agreement), pct(b.accuracy_original), pct(b.accuracy_compressed)]), 'difficulty');
  parts.push(h('div', { class: 'two' }, calib, h('div', {}, h('div', { class: 'status' }, 'Do already-hard examples flip most?'), buckets)));
  parts.push(perClassPanel(c.per_class), handbackPanel(c.handback));
  if (c.flipped.length) {
    parts.push(h('details', {}, h('summary', {}, `${c.flipped_count} flipped example(s)`),
      table(['example', 'original (confidence)', 'compressed (confidence)', 'label'],
        c.flipped.map((f) => [String(f.index), `${f.original_class} (${f.original_confidence.toFixed(3)})`, `${f.compressed_class} (${f.compressed_confidence.toFixed(3)})`, f.label ?? '–']), 'flipped')));
  }
  return h('div', { class: 'output' }, parts);
}

function layerSection(d) {
  if (!d) return null;
  const ordered = [...d.worst_first].sort((a, b) => a.position - b.position);
  const label = (t) => `${t.node} (${t.op_type}) → ${t.tensor}`;
  const chart = lineChart([
    { name: 'cumulative SQNR', color: '#3346a8', points: ordered.map((t) => ({ y: t.sqnr_db, label: `${label(t)}: ${db(t.sqnr_db)}` })) },
    { name: 'local SQNR', color: '#c2410c', points: ordered.map((t) => ({ y: t.local_sqnr_db, label: `${label(t)}: ${db(t.local_sqnr_db)}` })) },
  ], { lo: 0, hi: 150, yLabel: 'SQNR per tensor in graph order' });
  const entries = d.entry_points.slice(0, 12).map((t) => [t.node, t.op_type, db(t.local_sqnr_db), `${db(t.input_sqnr_db)} → ${db(t.sqnr_db)}`, t.compressed ? 'yes' : 'no']);
  return h('div', { class: 'layers' },
    h('h4', {}, `Which layer lost it · ${d.worst_first.length} tensors compared`),
    h('div', { class: 'status' }, 'Local SQNR: the layer fed the original model\'s inputs (its own error). Cumulative: the compressed model as it runs. Hover a point for the layer.'),
    chart,
    entries.length ? table(['node', 'op', 'local SQNR', 'cumulative in → out', 'compressed'], entries, 'entry-points') : h('p', {}, 'No layer adds error above float noise.'),
    d.unaligned.length ? h('div', { class: 'status' }, `${d.unaligned.length} tensor(s) of the original have no counterpart in the compressed model (renamed, fused or folded).`) : null);
}

export function renderReport(container, report) {
  const parts = [headline(report), ...report.outputs.map(outputSection), slicesPanel(report.slices), probesPanel(report.probes), layerSection(report.layers)];
  container.replaceChildren(...parts.filter(Boolean));
}

/** The ranked sensitivity table and the button that applies the suggestion. */
export function renderSensitivity(container, s, onKeep) {
  const rows = s.ranked.map((l) => [l.node, l.op_type, l.only_this.error.toExponential(2), l.restored.error.toExponential(2), pct(l.restored.agreement), s.exclusion.includes(l.node) ? '✓' : '']);
  container.replaceChildren(
    h('h4', {}, 'Sensitivity: which layers to leave as they were'),
    h('div', { class: 'status' }, `With the whole recipe: output error ${s.baseline.error.toExponential(2)}, agreement ${pct(s.baseline.agreement)}. Suggested: ${s.rule}.`),
    table(['node', 'op', 'error, only this layer compressed', 'error, this layer restored', 'agreement restored', 'suggested'], rows, 'sensitivity'),
    s.exclusion.length
      ? h('button', { class: 'primary', 'data-testid': 'keep-fp32', onclick: () => onKeep(s.exclusion_units) }, `Keep these ${s.exclusion.length} layer(s) as they were (fp32, dense) → recompress → compare again`)
      : h('p', {}, 'No single layer stands out: restoring any one of them removes too little of the error.'));
}

/** The sparsity scan: each layer's (or dependency group's) output error at each level, and the suggested sparsities. */
export function renderScan(container, s, onUse) {
  const groups = s.unit === 'group';
  const head = [groups ? 'group (first layer)' : 'node', 'op', 'weights', ...s.levels.map((l) => `${Math.round(100 * l)}%`), 'suggested'];
  const rows = s.curves.map((c, i) => [c.coupled?.length ? `${c.node} (+${c.coupled.length} coupled)` : c.node, c.op_type, String(c.weights),
    ...c.outcomes.map((o) => `${o.error.toExponential(1)} (${pct(o.agreement)})`), `${Math.round(100 * s.suggested[i][1])}%`]);
  container.replaceChildren(
    h('h4', {}, groups ? 'Sparsity scan: output error with only this group\'s channels or heads removed (agreement)'
      : 'Sparsity scan: output error with only this layer pruned (agreement)'),
    table(head, rows, 'scan'),
    h('div', { class: 'status' }, `Suggested per-${s.unit} sparsities remove ${(100 * s.achieved).toFixed(1)}% of these weights `
      + `(target ${(100 * s.target).toFixed(1)}%): ${s.rule}.`),
    h('button', { class: 'primary', 'data-testid': 'use-scan', onclick: onUse }, `Use these per-${s.unit} sparsities → recompress → compare again`));
}

/** The target search: the recipe found beside every uniform recipe, checked on inputs the search never saw. */
export function renderTarget(container, r) {
  const t = r.target;
  const bound = t.at_least != null ? `≥ ${t.at_least}` : `≤ ${t.at_most}`;
  const value = (v) => (v == null ? '' : t.metric === 'kl' ? v.toExponential(2) : v.toFixed(4));
  const rows = [['original', formatBytes(r.original_bytes), '', '', '']];
  for (const c of [r.found, ...r.uniform].filter(Boolean)) {
    rows.push([c.label === 'found' ? 'found by the search' : `uniform: ${c.label}`, formatBytes(c.bytes), value(c.searched), value(c.held_back), c.met ? 'yes' : 'no']);
  }
  const verdict = !r.found ? `Not reachable: ${r.unreachable}.`
    : !r.found.met ? 'The recipe found misses the target on the held-back inputs: give more inputs, or aim higher.'
      : r.no_smaller_uniform === false ? 'A uniform recipe that missed the target on the searched inputs meets it on the held-back ones and is smaller.'
        : 'The recipe found meets the target on the held-back inputs, and no uniform recipe that does is smaller.';
  const choices = r.choices.map((c) => [c.node, c.op_type, c.chosen]);
  container.replaceChildren(
    h('h4', {}, `Target: ${t.metric} ${bound}`),
    h('div', { class: 'status' }, `Searched on ${r.searched_inputs} input sets, checked on ${r.held_back_inputs} held back (seed ${t.seed}); ${r.candidates_run} candidates run, ${r.compressions} compressions.`),
    table(['recipe', 'size', `${t.metric}, searched`, `${t.metric}, held back`, 'meets'], rows, 'target'),
    h('p', { 'data-testid': 'target-verdict' }, verdict),
    h('details', {}, h('summary', {}, `Per-layer choices (${choices.length})`), table(['node', 'op', 'chosen'], choices, 'target-choices')));
}
