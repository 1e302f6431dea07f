// The sweep: many recipes on the same inputs, one after the other in a
// worker of its own, plotted as size or latency against agreement, accuracy
// or output cosine with the Pareto front marked; every point opens its
// report. Cancel terminates the worker and keeps the points measured so far;
// a recipe that fails is listed with its error and the sweep goes on.
import { EngineBridge } from '../worker/bridge.js';
import { downloadFile, field, formatBytes, h, scrollBox } from '../ui/format.js';
import { renderReport } from '../ui/compare-view.js';
import { recipeProblems } from '../ui/recipe-check.js';
import { COLORS, scatterPlot } from '../ui/plot.js';
import { PRESETS } from './side.js';

const DEFAULT_SWEEP = [
  'float16 weights',
  'int8 dynamic (onnxruntime format)',
  'int8 static, calibrated on the inputs (QDQ)',
  'int4 blocks of 32 (MatMulNBits)',
  'prune 50%, Wanda (calibrated on the inputs)',
  'prune 2:4, reconstruction (SparseGPT-style)',
  'prune 50% (Wanda) + int8 weights',
];

const X_AXES = {
  gzip: { label: 'size, gzipped (KiB)', of: (p) => p.gzip / 1024 },
  raw: { label: 'size (KiB)', of: (p) => p.raw / 1024 },
  latency: { label: 'latency, median (ms)', of: (p) => p.latency },
};
const Y_AXES = {
  agreement: { label: 'agreement (top-1)', of: (p) => p.agreement },
  accuracy: { label: 'accuracy', of: (p) => p.accuracy },
  cosine: { label: 'lowest output cosine', of: (p) => p.cosine },
};

/** Points not beaten by another on both axes (smaller x, larger y), in x order. */
export function paretoFront(points) {
  const sorted = [...points].sort((a, b) => a.x - b.x || b.y - a.y);
  const front = [];
  for (const p of sorted) if (!front.length || p.y > front.at(-1).y) front.push(p);
  return front;
}

export class SweepPanel {
  #bridge = new EngineBridge();
  #host;
  #ui = {};
  #abort = null;
  #points = []; // { label, recipe, raw, gzip, latency, agreement, accuracy, cosine, report } or { label, error }
  #original = null; // { raw, gzip, latency, accuracy }

  /** `host`: { getModel(), ready(), readInputs(call, model, signal) } (the compare card's inputs). */
  constructor(host) {
    this.#host = host;
    const ui = this.#ui;
    ui.choices = h('fieldset', { class: 'choices' }, h('legend', {}, 'Recipes (presets)'),
      Object.keys(PRESETS).filter((k) => !PRESETS[k].target).map((k) => h('label', { class: 'choice' },
        h('input', { type: 'checkbox', value: k, ...(DEFAULT_SWEEP.includes(k) ? { checked: '' } : {}) }), ` ${k}`)));
    ui.extra = h('textarea', { rows: 2, spellcheck: 'false', 'data-testid': 'sweep-extra', 'aria-label': 'more recipes, one JSON per line',
      placeholder: 'more recipes: one JSON per line, e.g. {"scheme": "int8_weight", "per_channel": false}' });
    ui.runs = h('input', { type: 'number', min: 0, value: 10, 'aria-label': 'latency runs per recipe' });
    ui.go = h('button', { class: 'primary', 'data-testid': 'sweep', onclick: () => this.run() }, 'Run the sweep');
    ui.cancel = h('button', { 'data-testid': 'sweep-cancel', hidden: '', onclick: () => this.#abort?.abort() }, 'Cancel');
    ui.progress = h('progress', { hidden: '', max: 1, value: 0, 'aria-label': 'sweep progress' });
    ui.status = h('span', { class: 'status', 'data-testid': 'sweep-status', 'aria-live': 'polite' });
    ui.error = h('div', { class: 'error', role: 'alert', 'data-testid': 'sweep-error', hidden: '' });
    ui.x = h('select', { 'aria-label': 'x axis', 'data-testid': 'sweep-x', onchange: () => this.#render() }, Object.entries(X_AXES).map(([k, a]) => h('option', { value: k }, a.label)));
    ui.y = h('select', { 'aria-label': 'y axis', 'data-testid': 'sweep-y', onchange: () => this.#render() }, Object.entries(Y_AXES).map(([k, a]) => h('option', { value: k }, a.label)));
    ui.chart = h('div', { 'data-testid': 'sweep-chart' });
    ui.table = h('div', { 'data-testid': 'sweep-table' });
    ui.report = h('div', { 'data-testid': 'sweep-report' });
    ui.downloads = h('div', { class: 'row', hidden: '' },
      h('button', { onclick: () => this.#download('json') }, 'Sweep (JSON)'), h('button', { onclick: () => this.#download('csv') }, 'Sweep (CSV)'));
    this.element = h('section', { class: 'card', 'data-testid': 'sweep-card' },
      h('h3', {}, 'Sweep: many recipes, one chart'),
      h('p', { class: 'status' }, 'Each recipe is compressed and compared on the inputs chosen in the card above, one at a time in a worker of its own. '
        + 'Points on the Pareto front are not beaten on both axes by any other.'),
      ui.choices, ui.extra,
      h('div', { class: 'row' }, field('latency runs per recipe', ui.runs), ui.go, ui.cancel, ui.progress, ui.status),
      ui.error,
      h('div', { class: 'row' }, field('x', ui.x), field('y', ui.y)),
      ui.chart, ui.table, ui.downloads, ui.report);
  }

  terminate() {
    this.#bridge.terminate();
  }

  /** A new model: its sweep starts from nothing. */
  modelChanged() {
    this.#points = [];
    this.#original = null;
    this.#render();
  }

  /** The recipes chosen: [{ label, recipe }]; an error names the line at fault. */
  #recipes() {
    const chosen = [...this.#ui.choices.querySelectorAll('input:checked')].map((c) => ({ label: c.value, recipe: PRESETS[c.value] }));
    this.#ui.extra.value.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      let recipe;
      try {
        recipe = JSON.parse(line);
      } catch (e) {
        throw new Error(`sweep recipe line ${i + 1}: invalid JSON: ${e.message}`);
      }
      const problems = recipeProblems(recipe);
      if (problems.length) throw new Error(`sweep recipe line ${i + 1}: ${problems.join('; ')}`);
      chosen.push({ label: line.trim(), recipe });
    });
    if (!chosen.length) throw new Error('choose at least one recipe');
    return chosen;
  }

  #call(method, args, signal) {
    return this.#bridge.call(method, args, { signal });
  }

  /** Runs every recipe chosen; resolves with the points (cancelled or not). */
  async run() {
    const ui = this.#ui;
    ui.error.hidden = true;
    let recipes;
    try {
      await this.#host.ready();
      recipes = this.#recipes();
    } catch (e) {
      ui.error.textContent = e.message;
      ui.error.hidden = false;
      return this.#points;
    }
    const model = this.#host.getModel();
    this.#abort = new AbortController();
    const signal = this.#abort.signal;
    ui.go.disabled = true;
    ui.cancel.hidden = false;
    ui.progress.hidden = false;
    const before = this.#points;
    const points = [];
    const t0 = performance.now();
    try {
      ui.status.textContent = 'Opening the model and reading the inputs…';
      await this.#call('open', { key: 'model', blob: model.blob, external: model.external ?? [] }, signal);
      const { feeds, labels } = await this.#host.readInputs((m, a, s) => this.#call(m, a, s), model, signal);
      const options = { latency_runs: Number(ui.runs.value), warmup_runs: Math.max(5, Number(ui.runs.value)) };
      for (const [i, { label, recipe }] of recipes.entries()) {
        ui.progress.max = recipes.length;
        ui.progress.value = i;
        ui.status.textContent = `${i + 1}/${recipes.length}: ${label}…`;
        points.push(await this.#measure(label, recipe, feeds, labels, options, signal));
        this.#points = points;
        this.#render();
      }
      ui.status.textContent = `Swept ${recipes.length} recipe(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s.`;
    } catch (e) {
      // What was measured before stays for the recipes this run did not reach.
      const merged = [...points, ...before.filter((b) => !points.some((p) => p.label === b.label))];
      if (e.name === 'AbortError') {
        this.#points = merged;
        ui.status.textContent = `Cancelled after ${points.length} of ${recipes.length} recipe(s): ${points.length} new point(s), ${merged.length - points.length} kept from before.`;
      } else {
        ui.error.textContent = e.message;
        ui.error.hidden = false;
        ui.status.textContent = '';
        this.#points = merged;
      }
    } finally {
      ui.go.disabled = false;
      ui.cancel.hidden = true;
      ui.progress.hidden = true;
      this.#abort = null;
      this.#render();
    }
    return this.#points;
  }

  /** One recipe: compress and compare; a recipe that fails becomes a row with its error. */
  async #measure(label, recipe, feeds, labels, options, signal) {
    try {
      await this.#call('compress', { key: 'model', recipe: JSON.stringify(recipe), calibration: feeds.slice(0, 16), into: 'compressed' }, signal);
      const { report, markdown } = await this.#call('compare', { original: 'model', compressed: 'compressed', feeds, labels, options }, signal);
      const c = report.outputs.find((o) => o.classification)?.classification;
      this.#original = { raw: report.sizes.original.raw, gzip: report.sizes.original.gzip, latency: report.latency?.original_median_ms ?? null,
        accuracy: c?.accuracy_original ?? null };
      return { label, recipe, raw: report.sizes.compressed.raw, gzip: report.sizes.compressed.gzip, latency: report.latency?.compressed_median_ms ?? null,
        agreement: c?.top1_agreement ?? null, accuracy: c?.accuracy_compressed ?? null,
        cosine: Math.min(...report.outputs.map((o) => o.regression.cosine_min)), report, markdown };
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      return { label, recipe, error: e.message };
    }
  }

  #render() {
    const ui = this.#ui;
    const measured = this.#points.filter((p) => !p.error);
    ui.downloads.hidden = !this.#points.length;
    if (!this.#points.length) {
      ui.chart.replaceChildren();
      ui.table.replaceChildren();
      return;
    }
    const xa = X_AXES[ui.x.value];
    const ya = Y_AXES[ui.y.value];
    const usable = measured.filter((p) => xa.of(p) != null && ya.of(p) != null);
    const pts = usable.map((p) => ({ x: xa.of(p), y: ya.of(p), name: p.label, point: p }));
    const front = paretoFront(pts);
    const onFront = new Set(front.map((p) => p.point));
    const groups = [{ label: 'recipes', color: COLORS.a, points: pts.filter((p) => !onFront.has(p.point)) },
      { label: 'on the Pareto front', color: COLORS.front, points: front }];
    const o = this.#original;
    const origin = o && xa.of(o) != null ? { x: xa.of(o), y: ya.label.startsWith('accuracy') ? o.accuracy : 1, name: 'original' } : null;
    if (origin?.y != null) groups.push({ label: 'original', color: COLORS.original, points: [origin] });
    if (pts.length) {
      scatterPlot(ui.chart, { groups, front, xLabel: xa.label, yLabel: ya.label,
        describe: `${ya.label} against ${xa.label} for ${pts.length} recipe(s); Pareto front: ${front.map((p) => p.name).join(', ')}`,
        onPick: (p) => p.point && this.#open(p.point) }).catch((e) => { ui.chart.textContent = `chart: ${e.message}`; });
    } else ui.chart.replaceChildren(h('p', { class: 'status' }, `No recipe has a ${ya.label} figure on these outputs.`));
    this.#renderTable(onFront);
  }

  #renderTable(onFront) {
    const pct = (v) => (v == null ? '–' : `${(100 * v).toFixed(2)}%`);
    const rows = this.#points.map((p, i) => h('tr', { 'data-testid': 'sweep-row', class: onFront.has(p) ? 'front' : '' },
      h('td', {}, p.label),
      ...(p.error ? [h('td', { colspan: '7', class: 'bad' }, p.error)] : [
        h('td', { class: 'num' }, formatBytes(p.raw)), h('td', { class: 'num' }, formatBytes(p.gzip)),
        h('td', { class: 'num' }, p.latency == null ? '–' : `${p.latency.toFixed(2)} ms`),
        h('td', { class: 'num' }, pct(p.agreement)), h('td', { class: 'num' }, pct(p.accuracy)), h('td', { class: 'num' }, p.cosine.toFixed(5)),
        h('td', {}, onFront.has(p) ? '★ front' : '')]),
      h('td', {}, p.error ? '' : h('button', { 'data-testid': 'sweep-open', 'data-index': String(i), onclick: () => this.#open(p) }, 'Report'))));
    this.#ui.table.replaceChildren(scrollBox('sweep results', h('table', {},
      h('thead', {}, h('tr', {}, ['recipe', 'size', 'gzip', 'latency', 'agreement', 'accuracy', 'min cosine', 'Pareto', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows))));
  }

  #open(point) {
    this.#ui.report.replaceChildren(h('h4', { 'data-testid': 'sweep-report-title' }, `Report: ${point.label}`), h('div', {}));
    renderReport(this.#ui.report.lastChild, point.report);
    this.#ui.report.scrollIntoView?.({ block: 'nearest' });
  }

  #download(kind) {
    const rows = this.#points.map(({ report, markdown, ...p }) => p);
    const csv = () => {
      const cols = ['label', 'raw', 'gzip', 'latency', 'agreement', 'accuracy', 'cosine', 'error'];
      const cell = (v) => (v == null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
      return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n');
    };
    const [data, type, name] = kind === 'csv' ? [csv(), 'text/csv', 'sweep.csv'] : [JSON.stringify({ original: this.#original, points: rows }, null, 2), 'application/json', 'sweep.json'];
    downloadFile(data, type, name);
  }
}
