// The report's charts. Curves and histograms are uPlot charts (plot.js),
// mounted into the element each function returns as soon as the library is
// loaded; labelled bar lists (one bar per layer or class) are plain HTML, so
// their labels and values stay text that screen readers and searches find.
import { barTrack, h } from './format.js';
import { COLORS, chartElement, histogramPlot, library, mountPlot } from './plot.js';

const GRID = '#e3e6ec';

/**
 * Lines over a shared x axis (the points' order). `series`: [{ name, color,
 * points: [{ y, label }] }]; y shown over [lo, hi]. Hovering shows each
 * point's label in the legend.
 */
export function lineChart(series, { lo, hi: top, height = 180, yLabel = '', format = (v) => String(Math.round(v)) }) {
  // An empty range (every value equal) would leave the axis without ticks.
  const hi = top > lo ? top : lo + Math.max(Math.abs(lo) * 0.1, 1e-6);
  const n = Math.max(1, ...series.map((s) => s.points.length));
  const xs = Array.from({ length: n }, (_, i) => i);
  const data = [xs, ...series.map((s) => xs.map((i) => s.points[i]?.y ?? null))];
  return chartElement(yLabel, (box) => mountPlot(box, {
    scales: { x: { time: false }, y: { range: [lo, hi] } },
    axes: [{ show: false }, { size: 52, values: (u, splits) => splits.map(format), grid: { stroke: GRID } }],
    series: [{ label: 'point', value: (u, v) => (v == null ? '' : String(v + 1)) },
      ...series.map((s) => ({ label: s.name, stroke: s.color, width: 1.5, points: { show: true, size: 5, fill: s.color },
        value: (u, v, si, i) => (i == null ? '' : s.points[i]?.label ?? '') }))],
  }, data, { describe: `${yLabel}: ${series.map((s) => s.name).join(', ')}`, height }));
}

/** Reliability diagram: accuracy per confidence bin (bars) against the diagonal. */
export function reliabilityChart(bins, { label = 'reliability' } = {}) {
  const xs = bins.map((b) => (b.lo + b.hi) / 2);
  const acc = bins.map((b) => (b.count === 0 ? null : b.accuracy));
  return chartElement(label, async (box) => {
    const UPlot = await library();
    return mountPlot(box, {
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      axes: [{ label: 'confidence', size: 34, values: (u, s) => s.map((v) => v.toFixed(1)) }, { label: 'accuracy', size: 44, values: (u, s) => s.map((v) => v.toFixed(1)) }],
      legend: { show: false },
      series: [{}, { label: 'accuracy', stroke: COLORS.a, fill: `${COLORS.a}cc`, paths: UPlot.paths.bars({ size: [0.85, Infinity] }), points: { show: false } },
        { label: 'perfect calibration', stroke: COLORS.front, dash: [3, 3], width: 1, points: { show: false } }],
    }, [[0, ...xs, 1], [null, ...acc, null], [0, ...xs, 1]], {
      describe: `${label}: ${bins.filter((b) => b.count).map((b) => `confidence ${b.lo.toFixed(1)}–${b.hi.toFixed(1)}: accuracy ${(100 * b.accuracy).toFixed(0)}% of ${b.count}`).join('; ')}`,
      height: 170,
    });
  }, 'chart-box small');
}

/** One horizontal bar per row: its share (0–1), labelled; plain HTML. */
export function sparsityChart(rows, { label = 'zeros per layer', unit = 'zeros' } = {}) {
  return h('div', { class: 'hbars', role: 'list', 'aria-label': label }, rows.map((r) => {
    const text = `${(100 * r.value).toFixed(1)}%`;
    return h('div', { class: 'hbar', role: 'listitem', title: `${r.label}: ${text} ${unit}` },
      h('span', { class: 'hbar-label' }, r.label), barTrack([[r.value, 'fill']]), h('span', { class: 'hbar-value' }, text));
  }));
}

/** A tensor's weights before (grey) and after (blue, non-zeros only) over the same bins. */
export function weightHistogram(hist, { label = 'weights before and after' } = {}) {
  return chartElement(label, (box) => histogramPlot(box, { low: hist.low, high: hist.high, xLabel: 'weight value', describe: label,
    series: [{ label: 'before', counts: hist.before, color: COLORS.original }, { label: 'non-zero after', counts: hist.after, color: COLORS.a }] }));
}

/**
 * The hand-back curve: combined agreement (and accuracy) against the share
 * the compressed model answers, on a true coverage axis; the chosen
 * threshold marked by a dashed line.
 */
export function coverageChart(curve, chosen, { label = 'hand-back curve' } = {}) {
  const pts = [...curve].sort((a, b) => a.coverage - b.coverage);
  const hasAccuracy = pts.every((p) => p.accuracy != null);
  const lo = Math.min(...pts.map((p) => Math.min(p.agreement, p.accuracy ?? 1)));
  // At least 5 points of range: a curve at 100% throughout still gets an axis.
  const floor = Math.min(0.95, Math.max(0, Math.floor(lo * 20) / 20));
  const pct = (v) => `${(100 * v).toFixed(2)}%`;
  const at = (p) => `with the compressed model answering ${(100 * p.coverage).toFixed(1)}%${p.threshold == null ? '' : ` (confidence ≥ ${p.threshold.toFixed(4)})`}`;
  const markChosen = (u) => {
    const x = u.valToPos(chosen.coverage, 'x', true);
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = '#15803d';
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  };
  const series = [{ label: 'answered by the compressed model', value: (u, v) => (v == null ? '' : `${(100 * v).toFixed(1)}%`) },
    { label: 'agreement with the original', stroke: COLORS.a, width: 1.5, points: { show: true, size: 4 }, value: (u, v, si, i) => (i == null ? '' : `${pct(pts[i].agreement)} ${at(pts[i])}`) }];
  if (hasAccuracy) series.push({ label: 'accuracy', stroke: COLORS.front, width: 1.5, points: { show: true, size: 4 }, value: (u, v) => (v == null ? '' : pct(v)) });
  const data = [pts.map((p) => p.coverage), pts.map((p) => p.agreement)];
  if (hasAccuracy) data.push(pts.map((p) => p.accuracy));
  return chartElement(label, (box) => mountPlot(box, {
    scales: { x: { time: false, range: [0, 1] }, y: { range: [floor, 1] } },
    axes: [{ label: 'share answered by the compressed model (dashed: chosen)', size: 40, values: (u, s) => s.map((v) => `${Math.round(100 * v)}%`) },
      { size: 52, values: (u, s) => s.map((v) => `${Math.round(100 * v)}%`) }],
    hooks: { draw: [markChosen] },
    series,
  }, data, { describe: `${label}: chosen share ${(100 * chosen.coverage).toFixed(1)}% at agreement ${pct(chosen.agreement)}`, height: 210 }));
}

/** Per class, the original's and the compressed model's figure side by side (HTML bars; the interval in text). */
export function classBars(rows, key, { label = 'per class' } = {}) {
  return h('div', { class: 'hbars classes', role: 'list', 'aria-label': label }, rows.map((r) => {
    const [o, c] = key === 'accuracy' ? [r.accuracy_original, r.accuracy_compressed] : [1, r.agreement];
    const interval = `95% interval ${(100 * r.interval[0]).toFixed(1)}–${(100 * r.interval[1]).toFixed(1)}%, ${r.examples} examples`;
    return h('div', { class: `hbar${r.rare ? ' rare' : ''}`, role: 'listitem', title: `class ${r.class}: original ${(100 * o).toFixed(1)}%, compressed ${(100 * c).toFixed(1)}% (${interval})` },
      h('span', { class: 'hbar-label' }, `class ${r.class}${r.rare ? ' *' : ''}`),
      h('span', { class: 'pair' }, barTrack([[o, 'fill before']]), barTrack([[c, 'fill']])),
      h('span', { class: 'hbar-value' }, `${(100 * (o - c)).toFixed(1)} pt`));
  }));
}
