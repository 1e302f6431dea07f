// The model view: every layer (op, shapes, weights, bytes, dtype, zeros) in
// a sortable, searchable table, the op histogram, and any weight tensor's
// histogram — after compression, the original and compressed weights drawn
// over each other (from the compression record, for every method).
import { barTrack, formatBytes, h, scrollBox } from '../ui/format.js';
import { COLORS, histogramPlot } from '../ui/plot.js';

const SHOWN_ROWS = 300;

const COLUMNS = [
  { key: 'index', label: '#', value: (r) => r.index, numeric: true },
  { key: 'node', label: 'node', value: (r) => r.node },
  { key: 'op', label: 'op', value: (r) => r.op_type },
  { key: 'in', label: 'input shape', value: (r) => r.inputs.join(', ') },
  { key: 'out', label: 'output shape', value: (r) => r.outputs.join(', ') },
  { key: 'params', label: 'parameters', value: (r) => r.parameters, numeric: true, text: (r) => (r.parameters ? r.parameters.toLocaleString('en-US') : '') },
  { key: 'bytes', label: 'bytes', value: (r) => r.bytes, numeric: true, text: (r) => (r.bytes ? formatBytes(r.bytes) : '') },
  { key: 'dtype', label: 'dtype', value: (r) => [...new Set(r.weights.map((w) => w.dtype))].join(', ') },
  { key: 'zeros', label: 'zeros', value: (r) => (r.parameters ? r.zeros / r.parameters : -1), numeric: true,
    text: (r) => (r.parameters ? `${((100 * r.zeros) / r.parameters).toFixed(1)}%` : '') },
  { key: 'after', label: 'after compression', value: (r) => r.after?.bytes ?? -1, numeric: true, text: (r) => afterText(r.after) },
];

function afterText(after) {
  if (!after) return '';
  return `${after.settings} · ${formatBytes(after.bytes)} · ${(100 * after.sparsity).toFixed(1)}% zeros`;
}

export class ModelView {
  #query;
  #rows = [];
  #record = null;
  #sort = { key: 'index', dir: 1 };
  #ui = {};

  /** `query(method, args)` asks the worker holding the model (layers, weightHistogram). */
  constructor(query) {
    this.#query = query;
    const ui = this.#ui;
    ui.search = h('input', { type: 'search', placeholder: 'filter: node, op or tensor', 'aria-label': 'filter layers', 'data-testid': 'layer-search',
      oninput: () => this.#renderTable() });
    ui.count = h('span', { class: 'status', 'data-testid': 'layer-count', 'aria-live': 'polite' });
    ui.ops = h('div', { 'data-testid': 'op-histogram' });
    ui.table = scrollBox('layers of the model');
    ui.tensor = h('select', { 'data-testid': 'weight-tensor', 'aria-label': 'weight tensor', onchange: () => this.#showHistogram() });
    ui.histogram = h('div', { 'data-testid': 'weight-histogram-view' });
    ui.caption = h('div', { class: 'status', 'data-testid': 'weight-histogram-caption', 'aria-live': 'polite' });
    this.element = h('section', { class: 'card', 'data-testid': 'model-view', hidden: '' },
      h('h3', {}, 'Layers and weights'),
      h('details', { open: '' }, h('summary', {}, 'Operators'), ui.ops),
      h('div', { class: 'row' }, ui.search, ui.count),
      ui.table,
      h('div', { class: 'row' }, h('label', { class: 'field' }, h('span', {}, 'weights of'), ui.tensor)),
      ui.histogram, ui.caption);
  }

  /** Loads the layer table of the model the worker holds now (a new model clears the record). */
  async load() {
    this.#record = null;
    const rows = await this.#query('layers', {});
    this.#rows = rows.map((r, index) => ({ ...r, index: index + 1 }));
    this.element.hidden = false;
    this.#renderOps();
    this.#renderTable();
    const weights = this.#rows.flatMap((r) => r.weights.map((w) => ({ ...w, node: r.node })))
      .filter((w, i, all) => all.findIndex((x) => x.name === w.name) === i)
      .sort((a, b) => b.parameters - a.parameters);
    this.#ui.tensor.replaceChildren(...weights.map((w) => h('option', { value: w.name }, `${w.name} (${w.node}, ${w.shape.join('×')}, ${w.dtype})`)));
    this.#ui.tensor.disabled = !weights.length;
    await this.#showHistogram();
  }

  /** A compression's record: its per-tensor results join the table and the histograms. */
  async compressed(record) {
    this.#record = record;
    const byNode = new Map();
    for (const e of record.entries) {
      const a = byNode.get(e.node) ?? { settings: e.settings, bytes: 0, zeros: 0, values: 0 };
      a.bytes += e.bytes_after;
      a.zeros += e.sparsity * (e.bytes_before / 4);
      a.values += e.bytes_before / 4;
      byNode.set(e.node, a);
    }
    for (const r of this.#rows) {
      const a = byNode.get(r.node);
      r.after = a ? { settings: a.settings, bytes: a.bytes, sparsity: a.values ? a.zeros / a.values : 0 } : null;
    }
    this.#renderTable();
    const first = record.entries.find((e) => e.histogram);
    if (first && [...this.#ui.tensor.options].some((o) => o.value === first.tensor) && !this.#entry(this.#ui.tensor.value)) this.#ui.tensor.value = first.tensor;
    await this.#showHistogram();
  }

  /** The last step that changed `tensor` and recorded its weights (a later step starts from an earlier one's result). */
  #entry(tensor) {
    return this.#record?.entries.findLast((e) => e.tensor === tensor && e.histogram) ?? null;
  }

  #renderOps() {
    const ops = new Map();
    for (const r of this.#rows) {
      const o = ops.get(r.op_type) ?? { count: 0, params: 0 };
      o.count += 1;
      o.params += r.parameters;
      ops.set(r.op_type, o);
    }
    const sorted = [...ops].sort((a, b) => b[1].count - a[1].count);
    const most = sorted[0]?.[1].count ?? 1;
    this.#ui.ops.replaceChildren(h('table', { class: 'ops' },
      h('thead', {}, h('tr', {}, h('th', {}, 'op'), h('th', {}, 'nodes'), h('th', {}, 'parameters'), h('th', { 'aria-hidden': 'true' }, ''))),
      h('tbody', {}, sorted.map(([op, o]) => h('tr', {},
        h('td', {}, op), h('td', { class: 'num' }, String(o.count)), h('td', { class: 'num' }, o.params.toLocaleString('en-US')),
        h('td', { class: 'histo', 'aria-hidden': 'true' }, barTrack([[o.count / most, 'fill']])))))));
  }

  #renderTable() {
    const needle = this.#ui.search.value.trim().toLowerCase();
    const match = (r) => !needle || r.node.toLowerCase().includes(needle) || r.op_type.toLowerCase().includes(needle)
      || r.weights.some((w) => w.name.toLowerCase().includes(needle));
    const col = COLUMNS.find((c) => c.key === this.#sort.key);
    const cmp = (a, b) => {
      const [x, y] = [col.value(a), col.value(b)];
      return this.#sort.dir * (col.numeric ? x - y : String(x).localeCompare(String(y)));
    };
    const rows = this.#rows.filter(match).sort(cmp);
    const shown = rows.slice(0, SHOWN_ROWS);
    const hasAfter = this.#rows.some((r) => r.after !== undefined);
    const cols = COLUMNS.filter((c) => c.key !== 'after' || hasAfter);
    this.#ui.count.textContent = `${rows.length} of ${this.#rows.length} layer(s)${rows.length > shown.length ? ` — the first ${shown.length} shown; filter to see others` : ''}`;
    const header = cols.map((c) => {
      const sorted = this.#sort.key === c.key;
      return h('th', { 'aria-sort': sorted ? (this.#sort.dir > 0 ? 'ascending' : 'descending') : 'none' },
        h('button', { class: 'sort', 'data-sort': c.key, onclick: () => this.#sortBy(c.key) }, c.label, sorted ? (this.#sort.dir > 0 ? ' ▲' : ' ▼') : ''));
    });
    this.#ui.table.replaceChildren(h('table', { 'data-testid': 'layer-table' },
      h('thead', {}, h('tr', {}, header)),
      h('tbody', {}, shown.map((r) => h('tr', {}, cols.map((c) => h('td', { class: c.numeric ? 'num' : '' }, c.text ? c.text(r) : String(c.value(r)))))))));
  }

  #sortBy(key) {
    this.#sort = { key, dir: this.#sort.key === key ? -this.#sort.dir : 1 };
    this.#renderTable();
    this.#ui.table.querySelector(`button[data-sort="${key}"]`)?.focus();
  }

  async #showHistogram() {
    const tensor = this.#ui.tensor.value;
    const ui = this.#ui;
    if (!tensor) {
      ui.histogram.replaceChildren();
      ui.caption.textContent = 'This model holds no weight tensors.';
      return;
    }
    const entry = this.#entry(tensor);
    try {
      if (entry) {
        const hg = entry.histogram;
        const kept = hg.after.reduce((a, b) => a + b, 0);
        await histogramPlot(ui.histogram, { low: hg.low, high: hg.high, xLabel: 'weight value',
          series: [{ label: 'before', counts: hg.before, color: COLORS.original }, { label: `compressed (${entry.settings})`, counts: hg.after, color: COLORS.a }],
          describe: `Histogram of ${tensor} before and after compression` });
        const steps = this.#record.entries.filter((e) => e.tensor === tensor).length;
        const before = steps > 1 ? `as step ${entry.step + 1} received it (grey)` : 'original (grey)';
        ui.caption.textContent = `${tensor}: ${before} and after ${entry.method} ${entry.settings} (blue), ${entry.grouping}; `
          + `${hg.zeros_after} value(s) exactly zero afterwards (not drawn), ${kept} drawn; largest change ${entry.max_abs_error.toExponential(2)}.`;
        return;
      }
      const hg = await this.#query('weightHistogram', { tensor, bins: 60 });
      await histogramPlot(ui.histogram, { low: hg.low, high: hg.high, xLabel: 'weight value',
        series: [{ label: `${tensor} (${hg.dtype})`, counts: hg.counts, color: COLORS.original }], describe: `Histogram of ${tensor}` });
      ui.caption.textContent = `${tensor} (${hg.dtype}): min ${fmt(hg.min)}, max ${fmt(hg.max)}, mean ${fmt(hg.mean)}, std ${fmt(hg.std)}; `
        + `${hg.zeros} zero(s)${hg.non_finite ? `, ${hg.non_finite} NaN/Inf (not drawn)` : ''}.`
        + (this.#record ? ' The last compression left this tensor as it was.' : '');
    } catch (e) {
      ui.caption.textContent = `Could not read ${tensor}: ${e.message}`;
    }
  }
}

function fmt(v) {
  return Number.isFinite(v) ? v.toPrecision(4) : String(v);
}
