// Small SVG charts (no library): per-layer SQNR lines and reliability bars.
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c != null) el.append(c);
  return el;
}

function title(text) {
  return svg('title', {}, text);
}

/**
 * Lines over a shared x axis. `series`: [{ name, color, points: [{ y, label }] }];
 * y values are clamped to [lo, hi]. Each point carries a tooltip.
 */
export function lineChart(series, { lo, hi, width = 640, height = 180, yLabel = '', format = (v) => String(Math.round(v)) }) {
  const pad = { l: 40, r: 8, t: 8, b: 18 };
  const n = Math.max(1, ...series.map((s) => s.points.length));
  const x = (i) => pad.l + (n === 1 ? 0 : (i / (n - 1)) * (width - pad.l - pad.r));
  const y = (v) => pad.t + (1 - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (height - pad.t - pad.b);
  const ticks = [lo, (lo + hi) / 2, hi].map((v) => [
    svg('line', { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), stroke: '#e3e6ec' }),
    svg('text', { x: pad.l - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#5b6475' }, format(v)),
  ]);
  const lines = series.map((s) => [
    svg('polyline', { points: s.points.map((p, i) => `${x(i)},${y(p.y)}`).join(' '), fill: 'none', stroke: s.color, 'stroke-width': 1.5 }),
    s.points.map((p, i) => svg('circle', { cx: x(i), cy: y(p.y), r: 2.5, fill: s.color }, title(`${s.name}: ${p.label}`))),
  ]);
  const legend = series.map((s, i) => svg('text', { x: pad.l + 8 + i * 150, y: height - 4, 'font-size': 11, fill: s.color }, `— ${s.name}`));
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': yLabel }, ticks, lines, legend);
}

/** Reliability diagram: accuracy per confidence bin against the diagonal. */
export function reliabilityChart(bins, { width = 220, height = 160, label = 'reliability' } = {}) {
  const pad = 20;
  const w = (width - 2 * pad) / bins.length;
  const y = (v) => height - pad - v * (height - 2 * pad);
  const bars = bins.map((b, i) => b.count === 0 ? null : svg('rect', {
    x: pad + i * w + 1, y: y(b.accuracy), width: w - 2, height: Math.max(0, height - pad - y(b.accuracy)), fill: '#3346a8',
  }, title(`confidence ${b.lo.toFixed(1)}–${b.hi.toFixed(1)}: ${b.count} examples, accuracy ${(100 * b.accuracy).toFixed(1)}%, mean confidence ${(100 * b.mean_confidence).toFixed(1)}%`)));
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart small', role: 'img', 'aria-label': label },
    svg('line', { x1: pad, y1: y(0), x2: width - pad, y2: y(1), stroke: '#b3261e', 'stroke-dasharray': '3 3' }),
    svg('line', { x1: pad, y1: y(0), x2: width - pad, y2: y(0), stroke: '#9aa6bd' }),
    bars,
    svg('text', { x: width / 2, y: height - 4, 'text-anchor': 'middle', 'font-size': 10, fill: '#5b6475' }, 'confidence →'),
    svg('text', { x: 4, y: 12, 'font-size': 10, fill: '#5b6475' }, 'accuracy'));
}

/** One horizontal bar per layer: its share of zeros (0–1), labelled. */
export function sparsityChart(rows, { width = 640, label = 'zeros per layer', unit = 'zeros' } = {}) {
  const bar = 16;
  const left = 260;
  const height = rows.length * (bar + 4) + 8;
  const x = (v) => left + v * (width - left - 48);
  const items = rows.map((r, i) => {
    const y = 4 + i * (bar + 4);
    return [
      svg('text', { x: left - 6, y: y + bar - 4, 'text-anchor': 'end', 'font-size': 11, fill: '#27324a' }, r.label.length > 40 ? `…${r.label.slice(-39)}` : r.label),
      svg('rect', { x: left, y, width: x(1) - left, height: bar, fill: '#e3e6ec' }),
      svg('rect', { x: left, y, width: x(r.value) - left, height: bar, fill: '#3346a8' }, title(`${r.label}: ${(100 * r.value).toFixed(1)}% ${unit}`)),
      svg('text', { x: x(1) + 4, y: y + bar - 4, 'font-size': 11, fill: '#27324a' }, `${(100 * r.value).toFixed(1)}%`),
    ];
  });
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': label }, items);
}

/**
 * A tensor's weights before (grey) and after (blue, non-zeros only) over the
 * same bins; the zeros pruning made are counted in the caption, not drawn,
 * so the rest stays readable.
 */
export function weightHistogram(hist, { width = 640, height = 160, label = 'weights before and after' } = {}) {
  const pad = { l: 8, r: 8, t: 8, b: 20 };
  const top = Math.max(1, ...hist.before, ...hist.after);
  const w = (width - pad.l - pad.r) / hist.before.length;
  const y = (c) => pad.t + (1 - c / top) * (height - pad.t - pad.b);
  const binLabel = (i) => {
    const step = (hist.high - hist.low) / hist.before.length;
    return `${(hist.low + i * step).toPrecision(3)} to ${(hist.low + (i + 1) * step).toPrecision(3)}`;
  };
  const bars = (counts, color, inset, name) => counts.map((c, i) => (c === 0 ? null : svg('rect', {
    x: pad.l + i * w + inset, y: y(c), width: Math.max(1, w - 2 * inset), height: height - pad.b - y(c), fill: color,
  }, title(`${binLabel(i)}: ${c} ${name}`))));
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': label },
    bars(hist.before, '#c5cbd8', 0.5, 'weights before'),
    bars(hist.after, '#3346a8', w / 4, 'non-zero weights after'),
    svg('line', { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b, stroke: '#9aa6bd' }),
    svg('text', { x: pad.l, y: height - 4, 'font-size': 10, fill: '#5b6475' }, hist.low.toPrecision(3)),
    svg('text', { x: width / 2, y: height - 4, 'text-anchor': 'middle', 'font-size': 10, fill: '#5b6475' }, '0'),
    svg('text', { x: width - pad.r, y: height - 4, 'text-anchor': 'end', 'font-size': 10, fill: '#5b6475' }, hist.high.toPrecision(3)));
}
