// Charts drawn with uPlot (small, fast, canvas-based, MIT; ~50 KB): weight
// histograms and the sweep's trade-off scatter. Loaded on first use, so the
// embeddable widget does not pay for it until a chart is shown. Each chart
// follows its container's width and carries a text description for screen
// readers (the canvas itself says nothing).
import { h } from './format.js';

let uplot = null;
let sheet = null;

/** The uPlot class (imported once, on first use). */
export async function library() {
  uplot ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css?inline')]).then(([m, css]) => {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(css.default);
    return m.default;
  });
  return uplot;
}

/** uPlot's own styles, added to the shadow root (or document) `el` lives in. */
function adoptPlotStyles(el) {
  const root = el.getRootNode();
  if (!sheet || !('adoptedStyleSheets' in root) || root.adoptedStyleSheets.includes(sheet)) return;
  root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
}

const COLORS = { original: '#8a94a8', a: '#3346a8', b: '#c2410c', front: '#b3261e' };
export { COLORS };

/**
 * Draws a uPlot chart into `container` (replacing what was there), sized to
 * its width and redrawn when that changes. `describe` is the text screen
 * readers get. Returns the uPlot instance.
 */
export async function mountPlot(container, opts, data, { describe, height = 200 } = {}) {
  const UPlot = await library();
  const target = h('div', { class: 'plot', role: 'img', 'aria-label': describe ?? opts.title ?? 'chart' });
  container.replaceChildren(target);
  adoptPlotStyles(target);
  const width = () => Math.max(240, Math.min(760, container.clientWidth || 480));
  const plot = new UPlot({ ...opts, width: width(), height }, data, target);
  if ('ResizeObserver' in globalThis) {
    const ro = new ResizeObserver(() => {
      if (!target.isConnected) {
        ro.disconnect();
        plot.destroy();
        return;
      }
      if (Math.abs(plot.width - width()) > 2) plot.setSize({ width: width(), height });
    });
    ro.observe(container);
  }
  return plot;
}

/**
 * An element (sized by CSS, class `cls`) that `draw(element)` fills with a
 * chart once uPlot is loaded: callers render synchronously; a chart that
 * cannot be drawn says why in its place.
 */
export function chartElement(label, draw, cls = 'chart-box') {
  const box = h('div', { class: cls, 'data-chart': label });
  draw(box).catch((e) => { box.textContent = `chart not drawn: ${e.message}`; });
  return box;
}

/** A tick label: short, with a real minus sign. */
function formatTick(v) {
  const t = Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(1) : String(Number(v.toPrecision(3)));
  return t.replace('-', '−');
}

/**
 * Histograms over the same bins, overlaid: `low`, `high` (the bins span
 * them evenly), `series`: [{ label, counts, color }].
 */
export async function histogramPlot(container, { low, high, series, xLabel = 'value', describe }) {
  const UPlot = await library();
  const bins = series[0].counts.length;
  const width = (high - low) / bins;
  const x = Array.from({ length: bins }, (_, i) => low + (i + 0.5) * width);
  const bars = UPlot.paths.bars({ size: [0.9, Infinity], align: 0 });
  return mountPlot(container, {
    scales: { x: { time: false, range: [low, high] }, y: { range: (u, lo, hi) => [0, Math.max(1, hi) * 1.05] } },
    axes: [{ label: xLabel, size: 40, values: (u, splits) => splits.map((v) => formatTick(v)) }, { label: 'count', size: 56 }],
    legend: { live: false },
    cursor: { points: { show: false } },
    series: [{ label: xLabel, value: (u, v) => (v == null ? '' : v.toPrecision(3)) },
      ...series.map((s) => ({ label: s.label, stroke: s.color, fill: `${s.color}55`, width: 1, paths: bars, points: { show: false } }))],
  }, [x, ...series.map((s) => s.counts)], { describe });
}

/**
 * Points in the plane, one series per group: `groups`: [{ label, color,
 * points: [{ x, y, name }] }]; `front`: points joined as a line on top
 * (the Pareto front). `onPick(point)` hears a click on a point.
 */
export async function scatterPlot(container, { groups, front = [], xLabel, yLabel, xLog = false, describe, onPick }) {
  // One row per point (uPlot aligns series on x): points that share an x are
  // nudged apart by a hair so that none hides another.
  const rows = groups.flatMap((g, gi) => g.points.map((p) => ({ ...p, gi }))).sort((a, b) => a.x - b.x);
  rows.forEach((p, i) => { if (i && p.x <= rows[i - 1].x) p.x = rows[i - 1].x + Math.max(1e-9, Math.abs(rows[i - 1].x) * 1e-9); });
  const xs = rows.map((p) => p.x);
  const inFront = new Set(front.map((f) => `${f.name}\u0000${f.y}`));
  const data = [xs, ...groups.map((g, gi) => rows.map((p) => (p.gi === gi ? p.y : null))),
    rows.map((p) => (inFront.has(`${p.name}\u0000${p.y}`) ? p.y : null))];
  const hidden = () => null;
  const plot = await mountPlot(container, {
    scales: { x: { time: false, distr: xLog ? 3 : 1 } },
    axes: [{ label: xLabel, size: 40 }, { label: yLabel, size: 60 }],
    legend: { live: false },
    cursor: { points: { size: 12 } },
    series: [{ label: xLabel },
      ...groups.map((g) => ({ label: g.label, stroke: g.color, fill: g.color, paths: hidden, points: { show: true, size: 9, fill: g.color } })),
      { label: 'Pareto front', stroke: COLORS.front, width: 1.5, dash: [4, 3], spanGaps: true, points: { show: false } }],
  }, data, { describe, height: 260 });
  if (onPick) {
    plot.over.addEventListener('click', () => {
      const i = plot.cursor.idx;
      if (i != null && rows[i]) onPick(rows[i]);
    });
  }
  return plot;
}
