// The "Distil" card: a student (a small MLP or CNN, the model itself pruned
// gradually, or the Compare card's compressed model fine-tuned back) learns
// from the loaded model on the user's inputs, in a worker
// of its own. The curve grows live; Pause stops asking the worker for more
// steps, Cancel terminates it; then the student is compared with the model
// like any compressed model. On any error the previous results stay.
import { EngineBridge } from '../worker/bridge.js';
import { downloadFile, field, h, presetEditor } from '../ui/format.js';
import { lineChart } from '../ui/charts.js';
import { renderReport } from '../ui/compare-view.js';
import { recipeProblems } from '../ui/recipe-check.js';
import { DEMO, fetchBytes } from './demo.js';

export const STUDENTS = {
  'small MLP student (64-20-10 for the digits: a quarter of the parameters)': { student: 'mlp:20', epochs: 100, learning_rate: 0.01, mixup: 0.4 },
  'the model itself, pruned to 90% while it learns (gradual)': { student: 'finetune', epochs: 100, learning_rate: 0.01, gradual: { sparsity: 0.9, end: 0.5 } },
  'small CNN student (8×8 image: conv 6, conv 12; 1,210 parameters)': { student: 'cnn:6,12', epochs: 60, learning_rate: 0.01, mixup: 0.4 },
  'two-layer MLP student (64, 32)': { student: 'mlp:64,32', epochs: 60, learning_rate: 0.005 },
  'fine-tune the model itself (or the Compare card\'s compressed one)': { student: 'finetune', epochs: 30, learning_rate: 0.002 },
};

const STARTS = {
  model: 'the loaded model (a new student, or the model itself)',
  compressed: 'the Compare card\'s compressed model (fine-tuned back)',
};

const SOURCES = { demo: 'Demo: 1,347 training digits (compared on the 450 test ones)', file: 'A file: .npz, .npy, .pb, .json, .csv' };

export class TrainingPanel {
  #bridge = new EngineBridge();
  #getModel;
  #getCompressed;
  #ready;
  #ui = {};
  #abort = null;
  #paused = null; // { promise, resume } while paused
  #history = [];
  #opened = { model: null, generation: -1 };
  #last = null; // { model: Uint8Array, name }

  /**
   * `getModel()` → { blob, name, demo } (see ComparePanel); `getCompressed()` → { bytes, recipe } or null;
   * `ready()` resolves when the element has loaded its model.
   */
  constructor(getModel, getCompressed = () => null, ready = async () => {}) {
    this.#getModel = getModel;
    this.#getCompressed = getCompressed;
    this.#ready = ready;
    const ui = this.#ui;
    ({ select: ui.preset, text: ui.section } = presetEditor(STUDENTS, { selectId: 'student-preset', textId: 'distill-section', label: 'distill section JSON' }));
    ui.start = h('select', { 'data-testid': 'train-start' }, Object.entries(STARTS).map(([k, v]) => h('option', { value: k }, v)));
    ui.source = h('select', { 'data-testid': 'train-source' }, Object.entries(SOURCES).map(([k, v]) => h('option', { value: k }, v)));
    ui.file = h('input', { type: 'file', accept: '.npz,.npy,.pb,.json,.csv', 'data-testid': 'train-file' });
    ui.labels = h('input', { type: 'file', accept: '.npy,.csv,.json', 'data-testid': 'train-labels' });
    ui.go = h('button', { class: 'primary', 'data-testid': 'train', onclick: () => this.#train() }, 'Train');
    ui.pause = h('button', { 'data-testid': 'pause', hidden: '', onclick: () => this.#togglePause() }, 'Pause');
    ui.cancel = h('button', { 'data-testid': 'train-cancel', hidden: '', onclick: () => this.#stop() }, 'Cancel');
    ui.progress = h('progress', { hidden: '', max: 1, value: 0 });
    ui.status = h('span', { class: 'status', 'data-testid': 'train-status', 'aria-live': 'polite' });
    ui.error = h('div', { class: 'error', role: 'alert', 'data-testid': 'train-error', hidden: '' });
    ui.curve = h('div', { 'data-testid': 'train-curve' });
    ui.summary = h('div', { 'data-testid': 'train-summary' });
    ui.results = h('div', { 'data-testid': 'train-report' });
    ui.download = h('button', { hidden: '', 'data-testid': 'download-student', onclick: () => this.#download() }, 'Download student model');
    this.element = h('section', { class: 'card', 'data-testid': 'train-card' },
      h('h3', {}, 'Distil: train a student in this tab'),
      h('div', { class: 'two' },
        h('div', {}, field('start from', ui.start), field('student', ui.preset), ui.section),
        h('div', {}, field('inputs', ui.source),
          h('div', { class: 'row' }, h('label', { class: 'button' }, 'Inputs file…', ui.file), h('label', { class: 'button' }, 'Labels (optional)…', ui.labels)),
          h('p', { class: 'status' }, 'The teacher (the loaded model) labels every input; labels, when given, join the loss. '
            + 'A tenth of the inputs is held back to keep the best epoch.'))),
      h('div', { class: 'row' }, ui.go, ui.pause, ui.cancel, ui.progress, ui.status),
      ui.error, ui.curve, ui.summary, ui.results, ui.download);
  }

  terminate() {
    this.#bridge.terminate();
  }

  /** The demo split is offered only while the demo model is loaded. */
  modelChanged() {
    const demo = !!this.#getModel()?.demo;
    this.#ui.source.querySelector('option[value=demo]').hidden = !demo;
    if (!demo) this.#ui.source.value = 'file';
  }

  #togglePause() {
    if (this.#paused) {
      this.#paused.resume();
      this.#paused = null;
      this.#ui.pause.textContent = 'Pause';
    } else {
      let resume;
      const promise = new Promise((r) => { resume = r; });
      this.#paused = { promise, resume };
      this.#ui.pause.textContent = 'Resume';
      this.#ui.status.textContent = 'Pausing after the current minibatches…';
    }
  }

  #stop() {
    this.#paused?.resume();
    this.#paused = null;
    this.#abort?.abort();
  }

  async #ensureOpen(model, signal) {
    const live = this.#bridge.running && this.#opened.generation === this.#bridge.generation;
    if (live && this.#opened.model === model) return;
    await this.#bridge.call('open', { key: 'model', blob: model.blob, external: model.external ?? [] }, { signal });
    this.#opened = { model, generation: this.#bridge.generation };
  }

  /** Training inputs and labels, and the inputs the student is compared on. */
  async #inputs(model, signal) {
    const call = (m, a) => this.#bridge.call(m, a, { signal });
    if (this.#ui.source.value === 'demo' && model.demo) {
      const [x, y] = await Promise.all([DEMO.trainSamplesUrl, DEMO.trainLabelsUrl].map((url) => fetchBytes(url)));
      const feeds = await call('readInputFile', { key: 'model', name: 'X_train.npy', bytes: x });
      const labels = await call('readLabels', { name: 'y_train.npy', bytes: y });
      const test = await call('readInputFile', { key: 'model', name: 'X_test.npy', bytes: model.demo.samples.slice(0) });
      const testLabels = await call('readLabels', { name: 'y_test.npy', bytes: model.demo.labels.slice(0) });
      return { feeds, labels, test: { feeds: test, labels: testLabels } };
    }
    const f = this.#ui.file.files?.[0];
    if (!f) throw new Error('choose an inputs file first');
    const feeds = await call('readInputFile', { key: 'model', name: f.name, bytes: await f.arrayBuffer() });
    const lf = this.#ui.labels.files?.[0];
    const labels = lf ? await call('readLabels', { name: lf.name, bytes: await lf.arrayBuffer() }) : null;
    // Without a separate test set the comparison runs on the training inputs (said in the status).
    return { feeds, labels, test: { feeds, labels, same: true } };
  }

  /** The handle fine-tuning starts from: the model, or the Compare card's compressed model opened here. */
  async #openStart(section, signal) {
    if (this.#ui.start.value !== 'compressed') return 'model';
    const compressed = this.#getCompressed();
    if (!compressed) throw new Error('compress the loaded model in the Compare card first: that is the model fine-tuned here');
    if ((section.student ?? 'finetune') !== 'finetune') throw new Error(`start from the compressed model fine-tunes it: set "student": "finetune" (not "${section.student}")`);
    await this.#bridge.call('open', { key: 'start', bytes: compressed.bytes.slice(0) }, { signal });
    return 'start';
  }

  #section() {
    let section;
    try {
      section = JSON.parse(this.#ui.section.value);
    } catch (e) {
      throw new Error(`distill section: invalid JSON: ${e.message}`);
    }
    const problems = recipeProblems({ distill: section });
    if (problems.length) throw new Error(`distill section: ${problems.join('; ').replaceAll("'distill.", "'")}`);
    return section;
  }

  #setBusy(busy) {
    const ui = this.#ui;
    ui.go.disabled = busy;
    ui.pause.hidden = !busy;
    ui.cancel.hidden = !busy;
    ui.progress.hidden = !busy;
    ui.pause.textContent = 'Pause';
  }

  async #train() {
    // A first click on an element that has not started yet starts it (a failure shows in the element).
    if (!(await this.#ready().then(() => true, () => false))) return;
    const model = this.#getModel();
    if (!model) return;
    const ui = this.#ui;
    ui.error.hidden = true;
    let section;
    try {
      section = this.#section();
    } catch (e) {
      ui.error.textContent = e.message;
      ui.error.hidden = false;
      return;
    }
    this.#abort = new AbortController();
    const signal = this.#abort.signal;
    this.#setBusy(true);
    ui.status.textContent = 'Preparing…';
    const t0 = performance.now();
    try {
      await this.#ensureOpen(model, signal);
      const from = await this.#openStart(section, signal);
      const inputs = await this.#inputs(model, signal);
      const start = await this.#bridge.call('distillStart', { key: 'model', section: JSON.stringify(section), feeds: inputs.feeds, labels: inputs.labels,
        finetune: (section.student ?? 'finetune') === 'finetune', from }, { signal });
      this.#history = [];
      const failure = await this.#loop(start, signal);
      const done = await this.#bridge.call('distillFinish', { into: 'student' }, { signal });
      this.#last = { model: done.model, name: model.name };
      this.#renderSummary(done, (performance.now() - t0) / 1000);
      ui.status.textContent = 'Comparing the student with the model…';
      const { report } = await this.#bridge.call('compare', { original: 'model', compressed: 'student', feeds: inputs.test.feeds, labels: inputs.test.labels,
        options: { latency_runs: 20, warmup_runs: 30, per_class: true, handback: true } }, { signal });
      renderReport(ui.results, report);
      ui.download.hidden = false;
      const where = inputs.test.same ? 'the training inputs (no separate test set)' : 'the held-out test split';
      ui.status.textContent = `Trained ${this.#history.length} epoch(s) in ${((performance.now() - t0) / 1000).toFixed(1)} s; compared on ${where}.`;
      if (failure) {
        ui.error.textContent = `${failure.message} The student below has the best weights from before it stopped.`;
        ui.error.hidden = false;
      }
    } catch (e) {
      if (e.name === 'AbortError') ui.status.textContent = 'Cancelled. The previous results are kept.';
      else {
        ui.error.textContent = e.message;
        ui.error.hidden = false;
        ui.status.textContent = '';
      }
    } finally {
      this.#setBusy(false);
      this.#abort = null;
      this.#paused = null;
    }
  }

  /** Runs the training in slices, drawing each finished epoch; returns the error that stopped it early, if any. */
  async #loop(start, signal) {
    const ui = this.#ui;
    ui.progress.max = Math.max(1, start.total_steps);
    ui.progress.value = 0;
    this.#figureName = start.loss === 'kl' ? 'held-back agreement' : 'held-back mean cosine';
    for (;;) {
      if (this.#paused) await this.#paused.promise;
      if (signal.aborted) throw new DOMException('cancelled', 'AbortError');
      let r;
      try {
        r = await this.#bridge.call('distillRun', { ms: 150 }, { signal });
      } catch (e) {
        if (e.name === 'AbortError') throw e;
        return e; // a loss that is no longer finite: the best weights so far are kept
      }
      this.#history.push(...r.epochs);
      if (r.step != null) ui.progress.value = r.step;
      this.#drawCurve();
      const last = this.#history.at(-1);
      if (last) ui.status.textContent = `Epoch ${last.epoch}: loss ${last.loss.toPrecision(3)}${last.validation == null ? '' : `, ${this.#figureName} ${last.validation.toFixed(4)}`}`;
      if (r.done) return null;
      // The worker stopped between minibatches: nothing runs until Resume.
      if (this.#paused) ui.status.textContent = `Paused at epoch ${this.#history.length}.`;
    }
  }

  #figureName = 'held-back agreement';

  #drawCurve() {
    const hist = this.#history;
    if (!hist.length) return;
    const maxLoss = Math.max(...hist.map((e) => e.loss), 1e-6);
    const loss = lineChart([{ name: 'training loss', color: '#b3261e', points: hist.map((e) => ({ y: e.loss, label: `epoch ${e.epoch}: ${e.loss.toPrecision(3)}` })) }],
      { lo: 0, hi: maxLoss, height: 140, yLabel: 'training loss per epoch', format: (v) => v.toPrecision(2) });
    const held = hist.filter((e) => e.validation != null);
    const lo = Math.min(0.5, ...held.map((e) => e.validation));
    const figure = held.length ? lineChart([{ name: this.#figureName, color: '#3346a8', points: held.map((e) => ({ y: e.validation, label: `epoch ${e.epoch}: ${e.validation.toFixed(4)}` })) }],
      { lo, hi: 1, height: 140, yLabel: this.#figureName, format: (v) => v.toFixed(2) }) : null;
    this.#ui.curve.replaceChildren(h('div', { class: 'two' }, h('figure', {}, loss, h('figcaption', {}, 'training loss per epoch')),
      figure ? h('figure', {}, figure, h('figcaption', {}, `${this.#figureName} per epoch`)) : ''));
  }

  #renderSummary({ record, summary }, seconds) {
    const t = record.training[0];
    const sparsity = t.weight_sparsity > 0 ? `, ${(100 * t.weight_sparsity).toFixed(1)}% of its weights zero` : '';
    const kept = summary.best_epoch == null ? 'the last epoch' : `epoch ${summary.best_epoch}`;
    this.#ui.summary.replaceChildren(h('p', { 'data-testid': 'student-facts' },
      `Student ${t.student}: ${t.parameters_after.toLocaleString('en')} parameters (the model has ${t.parameters_before.toLocaleString('en')})${sparsity}; `
      + `${summary.train} inputs trained on, ${summary.held_back} held back; kept ${kept}; ${seconds.toFixed(1)} s.`));
  }

  #download() {
    if (!this.#last) return;
    downloadFile(this.#last.model, 'application/octet-stream', `${this.#last.name.replace(/\.onnx$/i, '')}.student.onnx`);
  }
}
