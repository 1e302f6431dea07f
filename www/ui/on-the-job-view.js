// "On the job" panels: slices of the inputs, per class (bars with 95% intervals, rare classes
// marked, where flips go), the hand-back curve (the compressed model answers
// when confident, the original the rest) and the edge-case probes (each
// model's figure as the perturbation grows; the robustness gap).
import { h } from './format.js';
import { classBars, coverageChart, lineChart } from './charts.js';

const pct = (v) => (v == null ? '–' : `${(100 * v).toFixed(2)}%`);

export function perClassPanel(p) {
  if (!p) return null;
  const key = p.truth === 'labels' ? 'accuracy' : 'agreement';
  const rare = p.rows.filter((r) => r.rare).length;
  const pairs = p.flip_pairs.slice(0, 8).map((f) => `${f.from} → ${f.to} (${f.count}×)`).join(', ');
  return h('div', { class: 'panel', 'data-testid': 'per-class' },
    h('h4', {}, `Per class · ${key} original (grey) and compressed (blue), largest drop first`),
    h('div', { class: 'status' }, `By ${p.truth === 'labels' ? 'your labels' : "the original's answers"}; the line is the compressed figure's 95% interval`
      + (rare ? `; * rare (fewer than 10 examples: ${rare} class(es)) — read their drops with care` : '')),
    classBars(p.rows, key, { label: `${key} per class` }),
    h('div', { class: 'status', 'data-testid': 'flip-pairs' }, pairs ? `Flips go (original → compressed): ${pairs}.` : 'No prediction changed class.'),
    h('details', {}, h('summary', {}, 'Per-class table'),
      h('table', { 'data-testid': 'per-class-table' },
        h('thead', {}, h('tr', {}, ['class', 'examples', 'agreement', 'accuracy original → compressed', 'lost / gained', '95% interval'].map((c) => h('th', {}, c)))),
        h('tbody', {}, p.rows.map((r) => h('tr', {}, [String(r.class), `${r.examples}${r.rare ? ' (rare)' : ''}`, pct(r.agreement),
          r.accuracy_original == null ? '–' : `${pct(r.accuracy_original)} → ${pct(r.accuracy_compressed)}`, `${r.lost} / ${r.gained}`,
          `${pct(r.interval[0])}–${pct(r.interval[1])}`].map((c) => h('td', {}, c))))))));
}

export function handbackPanel(hb) {
  if (!hb) return null;
  const c = hb.chosen;
  const rule = c.threshold == null ? 'no threshold keeps it: the original answers everything'
    : `the compressed model answers when its confidence is at least ${c.threshold.toFixed(4)}: ${pct(c.coverage)} of the inputs, agreement ${pct(c.agreement)}${c.accuracy == null ? '' : `, accuracy ${pct(c.accuracy)}`}`;
  return h('div', { class: 'panel', 'data-testid': 'handback' },
    h('h4', {}, 'Hand back to the original · the compressed model answers what it is sure of'),
    h('div', { class: 'status', 'data-testid': 'handback-choice' }, `To keep agreement ≥ ${pct(hb.target)}, ${rule}.`),
    coverageChart(hb.curve, c));
}

const FIGURE_WHAT = {
  agreement: 'agreement with the original on clean inputs',
  cosine: 'cosine to the original on clean inputs',
  abs_error: 'mean |difference| from the original on clean inputs',
};

/** One small chart per probe: the original (grey) and the compressed model (blue) from clean to the harshest severity. */
export function probesPanel(p) {
  if (!p) return null;
  const useAccuracy = p.clean.accuracy_original != null;
  const what = useAccuracy ? 'accuracy' : FIGURE_WHAT[p.figure];
  const value = (r, which) => (useAccuracy ? r[`accuracy_${which}`] : r[which]);
  const kinds = [...new Set(p.rows.map((r) => r.probe))];
  const values = [p.clean, ...p.rows].flatMap((r) => [value(r, 'original'), value(r, 'compressed')]);
  // Agreement, accuracy and cosine top out at 1; an absolute difference starts at 0.
  const error = !useAccuracy && p.figure === 'abs_error';
  const [lo, hi] = error ? [0, Math.max(1e-9, ...values)] : [Math.max(0, Math.floor(20 * Math.min(...values)) / 20), 1];
  const format = error ? (v) => v.toPrecision(2) : (v) => `${Math.round(100 * v)}%`;
  const shown = error ? (v) => v.toPrecision(3) : pct;
  const points = useAccuracy || p.figure === 'agreement';
  const gapText = (g) => (points ? `${(100 * g).toFixed(2)} pt` : g.toPrecision(3));
  const charts = kinds.map((kind) => {
    const rows = [p.clean, ...p.rows.filter((r) => r.probe === kind)];
    const series = ['original', 'compressed'].map((which, i) => ({ name: which, color: i ? '#3346a8' : '#9aa6bd',
      points: rows.map((r) => ({ y: value(r, which), label: `severity ${r.severity}: ${shown(value(r, which))}` })) }));
    const worst = rows.at(-1);
    const changed = worst.changed != null ? ` (${pct(worst.changed)} of texts changed)` : '';
    return h('figure', { 'data-testid': `probe-${kind}` }, lineChart(series, { lo, hi, width: 300, height: 150, yLabel: `${kind}: ${what}`, format }),
      h('figcaption', {}, `${kind}, severity 0 (clean) → ${worst.severity}: gap ${gapText(worst.gap)}${changed}`));
  });
  const skipped = p.skipped.map((s) => h('div', { class: 'status', 'data-testid': `probe-skipped-${s.probe}` }, `Skipped ${s.probe}: ${s.reason}.`));
  if (!p.rows.length) {
    return h('div', { class: 'panel', 'data-testid': 'probes-panel' }, h('h4', {}, 'Edge-case probes'), ...skipped);
  }
  const worst = p.rows.reduce((a, b) => (b.gap > a.gap ? b : a), p.rows[0]);
  return h('div', { class: 'panel', 'data-testid': 'probes-panel' },
    h('h4', {}, `Edge-case probes · ${what} as the inputs are perturbed (seed ${p.seed})`),
    h('div', { class: 'status', 'data-testid': 'probes-worst' }, worst.gap > 0
      ? `Most brittle under ${worst.probe} at severity ${worst.severity}: the compressed model loses ${gapText(worst.gap)} more than the original.`
      : 'Under every probe the compressed model loses no more than the original.'),
    h('div', { class: 'probe-charts' }, charts), ...skipped);
}

/** Slices of the inputs, worst first. */
export function slicesPanel(sl) {
  if (!sl) return null;
  const labelled = sl.rows.some((r) => r.accuracy_original != null);
  const fig = (v) => (sl.figure === 'agreement' ? pct(v) : sl.figure === 'abs_error' ? v.toPrecision(3) : v.toFixed(6));
  return h('div', { class: 'panel', 'data-testid': 'slices' },
    h('h4', {}, `Slices · by ${sl.by}, worst first`),
    h('div', { class: 'status' }, sl.by === 'names' ? 'Your slice names.' : `Quantile bins of each input's ${sl.by}: where in the inputs the compressed model differs most.`),
    h('table', { 'data-testid': 'slices-table' },
      h('thead', {}, h('tr', {}, ['slice', 'examples', sl.figure === 'abs_error' ? 'mean |difference|' : sl.figure, ...(labelled ? ['accuracy original → compressed'] : [])].map((c) => h('th', {}, c)))),
      h('tbody', {}, sl.rows.map((r) => h('tr', {}, [r.slice, String(r.examples), fig(r.figure),
        ...(labelled ? [`${pct(r.accuracy_original)} → ${pct(r.accuracy_compressed)}`] : [])].map((c) => h('td', {}, c)))))));
}
