// The original, side A and side B in one table: size, latency, agreement,
// accuracy, similarity, flips, calibration — what the two sides trade.
import { formatBytes, h, scrollBox } from './format.js';

const pct = (v) => (v == null ? '–' : `${(100 * v).toFixed(2)}%`);

function classification(report) {
  return report.outputs.find((o) => o.classification)?.classification ?? null;
}

/** Rows: [key, label, original(report), side(report, last)]; a missing figure shows as –. */
const ROWS = [
  ['recipe', 'recipe', () => 'none', (r, last) => recipeLabel(last.recipe)],
  ['size', 'size', (r) => formatBytes(r.sizes.original.raw), (r) => formatBytes(r.sizes.compressed.raw)],
  ['gzip', 'size gzipped', (r) => formatBytes(r.sizes.original.gzip), (r) => formatBytes(r.sizes.compressed.gzip)],
  ['latency', 'latency (median)', (r) => ms(r.latency?.original_median_ms), (r) => ms(r.latency?.compressed_median_ms)],
  ['agreement', 'agreement with the original (top-1)', () => '100%', (r) => pct(classification(r)?.top1_agreement)],
  ['accuracy', 'accuracy', (r) => pct(classification(r)?.accuracy_original), (r) => pct(classification(r)?.accuracy_compressed)],
  ['cosine', 'lowest output cosine', () => '1', (r) => Math.min(...r.outputs.map((o) => o.regression.cosine_min)).toFixed(5)],
  ['flipped', 'flipped predictions', () => '0', (r) => String(classification(r)?.flipped_count ?? '–')],
  ['overconfident', 'overconfident errors (≥ 0.9)', (r) => String(classification(r)?.overconfident_original?.length ?? '–'),
    (r) => String(classification(r)?.overconfident_compressed.length ?? '–')],
  ['ece', 'calibration error (ECE)', (r) => classification(r)?.ece_original?.toFixed(4) ?? '–', (r) => classification(r)?.ece_compressed.toFixed(4) ?? '–'],
];

function ms(v) {
  return v == null ? '–' : `${v.toFixed(2)} ms`;
}

function recipeLabel(recipe) {
  const text = JSON.stringify(recipe);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/**
 * `sides`: [{ name, last }] with each side's last run; the original column
 * comes from side A's run (each side measured the original too: its latency
 * is within noise of A's; the table says whose figures it shows).
 */
export function renderSides(container, sides) {
  if (!sides.length) {
    container.replaceChildren();
    return;
  }
  const base = sides[0].last.report;
  const rows = ROWS.map(([key, label, original, side]) => h('tr', { 'data-testid': `sum-${key}` },
    h('th', { scope: 'row' }, label), h('td', {}, original(base)),
    sides.map((s) => h('td', { title: key === 'recipe' ? JSON.stringify(s.last.recipe) : '' }, side(s.last.report, s.last)))));
  container.replaceChildren(
    h('h4', {}, sides.length > 1 ? 'The original, side A and side B' : 'The original and side A'),
    scrollBox('the original and the sides compared', h('table', { class: 'sides-table' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', { scope: 'col' }, 'original'), sides.map((s) => h('th', { scope: 'col', class: `side-${s.name.toLowerCase()}` }, `side ${s.name}`)))),
      h('tbody', {}, rows))),
    h('div', { class: 'status' }, `Same ${base.samples} input set(s) for every column; each side was timed alone (the original's latency from side A's run).`));
}
