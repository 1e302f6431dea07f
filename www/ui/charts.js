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

/**
 * The hand-back curve: combined agreement (and accuracy) against the share
 * the compressed model answers, on a true coverage axis; the chosen
 * threshold marked.
 */
export function coverageChart(curve, chosen, { width = 640, height = 210, label = 'hand-back curve' } = {}) {
  const pad = { l: 44, r: 12, t: 8, b: 42 };
  const lo = Math.min(...curve.map((p) => Math.min(p.agreement, p.accuracy ?? 1)));
  const floor = Math.max(0, Math.floor(lo * 20) / 20);
  const x = (v) => pad.l + v * (width - pad.l - pad.r);
  const y = (v) => pad.t + (1 - (v - floor) / (1 - floor || 1)) * (height - pad.t - pad.b);
  const line = (key, color, name) => [
    svg('polyline', { points: curve.map((p) => `${x(p.coverage)},${y(p[key])}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 1.5 }),
    curve.map((p) => svg('circle', { cx: x(p.coverage), cy: y(p[key]), r: 2, fill: color },
      title(`${name}: ${(100 * p[key]).toFixed(2)}% with the compressed model answering ${(100 * p.coverage).toFixed(1)}%${p.threshold == null ? '' : ` (confidence ≥ ${p.threshold.toFixed(4)})`}`))),
  ];
  const ticks = [floor, (floor + 1) / 2, 1].map((v) => [
    svg('line', { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), stroke: '#e3e6ec' }),
    svg('text', { x: pad.l - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#5b6475' }, `${(100 * v).toFixed(0)}%`),
  ]);
  const mark = svg('line', { x1: x(chosen.coverage), x2: x(chosen.coverage), y1: pad.t, y2: height - pad.b, stroke: '#15803d', 'stroke-dasharray': '4 3' },
    title(`chosen: the compressed model answers ${(100 * chosen.coverage).toFixed(1)}%`));
  const hasAccuracy = curve.every((p) => p.accuracy != null);
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((v) => svg('text', { x: x(v), y: height - pad.b + 12, 'text-anchor': 'middle', 'font-size': 10, fill: '#5b6475' }, `${100 * v}%`));
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': label },
    ticks, xTicks, mark, line('agreement', '#3346a8', 'agreement with the original'), hasAccuracy ? line('accuracy', '#b3261e', 'accuracy') : null,
    svg('text', { x: width / 2, y: height - 15, 'text-anchor': 'middle', 'font-size': 10, fill: '#5b6475' }, 'share answered by the compressed model →'),
    svg('text', { x: pad.l + 8, y: height - 2, 'font-size': 11, fill: '#3346a8' }, '— agreement with the original'),
    hasAccuracy ? svg('text', { x: pad.l + 230, y: height - 2, 'font-size': 11, fill: '#b3261e' }, '— accuracy') : null);
}

/** Per class, the original's and the compressed model's figure side by side. */
export function classBars(rows, key, { width = 640, label = 'per class' } = {}) {
  const bar = 7;
  const left = 70;
  const height = rows.length * (2 * bar + 6) + 6;
  const x = (v) => left + v * (width - left - 56);
  const items = rows.map((r, i) => {
    const y0 = 4 + i * (2 * bar + 6);
    const [o, c] = key === 'accuracy' ? [r.accuracy_original, r.accuracy_compressed] : [1, r.agreement];
    return [
      svg('text', { x: left - 6, y: y0 + 2 * bar - 2, 'text-anchor': 'end', 'font-size': 11, fill: r.rare ? '#b45309' : '#27324a' }, `class ${r.class}${r.rare ? ' *' : ''}`),
      svg('rect', { x: left, y: y0, width: x(o) - left, height: bar, fill: '#c5cbd8' }, title(`class ${r.class}, original: ${(100 * o).toFixed(1)}%`)),
      svg('rect', { x: left, y: y0 + bar, width: x(c) - left, height: bar, fill: '#3346a8' },
        title(`class ${r.class}, compressed: ${(100 * c).toFixed(1)}% (95% interval ${(100 * r.interval[0]).toFixed(1)}–${(100 * r.interval[1]).toFixed(1)}%, ${r.examples} examples)`)),
      svg('line', { x1: x(r.interval[0]), x2: x(r.interval[1]), y1: y0 + 1.5 * bar, y2: y0 + 1.5 * bar, stroke: '#0f172a' }),
      svg('text', { x: x(1) + 4, y: y0 + 2 * bar - 2, 'font-size': 11, fill: '#27324a' }, `${(100 * (o - c)).toFixed(1)} pt`),
    ];
  });
  return svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': label }, items);
}
