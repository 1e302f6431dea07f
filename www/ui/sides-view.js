// The original, side A and side B in one table: size, latency, agreement,
// accuracy, similarity, flips, calibration — what the two sides trade.
import { formatBytes, h, scrollBox } from './format.js';
import { COLORS, chartElement, mountPlot } from './plot.js';

const SIDE_COLORS = { A: COLORS.a, B: COLORS.b };

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

/** Calibration of the original, A and B on one chart: accuracy per confidence bin against the diagonal (with labels). */
function reliabilityTogether(sides) {
  const first = classification(sides[0].last.report);
  if (!first?.reliability_original) return null;
  const xs = first.reliability_original.map((b) => (b.lo + b.hi) / 2);
  const curve = (bins) => bins.map((b) => (b.count ? b.accuracy : null));
  const series = [{ label: 'original', stroke: COLORS.original, values: curve(first.reliability_original) },
    ...sides.map((s) => ({ label: `side ${s.name}`, stroke: SIDE_COLORS[s.name], values: curve(classification(s.last.report).reliability_compressed) }))];
  const box = chartElement('calibration together', (el) => mountPlot(el, {
    scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
    axes: [{ label: 'confidence', size: 36 }, { label: 'accuracy', size: 48 }],
    series: [{ label: 'confidence' }, ...series.map((c) => ({ label: c.label, stroke: c.stroke, width: 1.5, spanGaps: true, points: { show: true, size: 6, fill: c.stroke } })),
      { label: 'perfect calibration', stroke: '#5b6475', dash: [3, 3], width: 1, points: { show: false } }],
  }, [xs, ...series.map((c) => c.values), xs], { describe: `accuracy per confidence bin: ${series.map((c) => c.label).join(', ')}`, height: 220 }));
  return h('figure', { 'data-testid': 'sides-reliability' }, box, h('figcaption', {}, 'Calibration, all together: accuracy per confidence bin (on the diagonal: confidence means what it says)'));
}

/** Each side's cumulative SQNR per tensor, in the original's graph order: where each recipe loses the signal. */
function sqnrTogether(sides) {
  const diags = sides.map((s) => s.last.report.layers).filter(Boolean);
  if (diags.length !== sides.length) return null;
  const positions = [...new Set(diags.flatMap((d) => d.worst_first.map((t) => t.position)))].sort((a, b) => a - b);
  const maps = diags.map((d) => new Map(d.worst_first.map((t) => [t.position, t])));
  const nameAt = (p) => {
    const t = maps.find((m) => m.has(p))?.get(p);
    return t ? `${t.node} → ${t.tensor}` : '';
  };
  const box = chartElement('SQNR together', (el) => mountPlot(el, {
    scales: { x: { time: false }, y: { range: [0, 150] } },
    axes: [{ show: false }, { label: 'SQNR (dB)', size: 52 }],
    series: [{ label: 'tensor', value: (u, v) => (v == null ? '' : nameAt(positions[v])) },
      ...sides.map((s) => ({ label: `side ${s.name}`, stroke: SIDE_COLORS[s.name], width: 1.5, spanGaps: true, points: { show: true, size: 4 },
        value: (u, v) => (v == null ? '' : `${v.toFixed(1)} dB`) }))],
  }, [positions.map((_, i) => i), ...maps.map((m) => positions.map((p) => (m.has(p) ? Math.min(150, m.get(p).sqnr_db) : null)))],
  { describe: `cumulative SQNR per tensor for ${sides.map((s) => `side ${s.name}`).join(' and ')}`, height: 200 }));
  return h('figure', { 'data-testid': 'sides-sqnr' }, box, h('figcaption', {}, 'Cumulative SQNR per tensor in graph order, each side: where each recipe loses the signal (hover for the tensor)'));
}

/** The charts that put the sides together (reliability with labels; per-layer SQNR). */
export function renderSideCharts(container, sides) {
  if (!sides.length) {
    container.replaceChildren();
    return;
  }
  container.replaceChildren(...[reliabilityTogether(sides), sqnrTogether(sides)].filter(Boolean));
}
