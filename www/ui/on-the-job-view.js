// "On the job" panels of a classification output: per class (bars with
// 95% intervals, rare classes marked, where flips go) and the hand-back
// curve (the compressed model answers when confident, the original the rest).
import { h } from './format.js';
import { classBars, coverageChart } from './charts.js';

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
