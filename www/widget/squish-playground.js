// <squish-playground>: the whole playground as one custom element, usable
// as the page itself or embedded in documentation. All engine work goes
// through the worker bridge; this element only renders.
import { EngineBridge } from '../worker/bridge.js';
import { h } from '../ui/format.js';
import { renderSummary } from '../ui/summary-view.js';
import { drawDigit } from '../ui/digit-view.js';
import { renderProbabilities } from '../ui/prob-bars.js';
import { DEMO, argmax, fetchBytes } from './demo.js';
import { styles } from './styles.js';
import { ComparePanel } from './compare-panel.js';
import { TrainingPanel } from './training-panel.js';

class SquishPlayground extends HTMLElement {
  #bridge = new EngineBridge();
  #ui = {};
  #samples = null; // { data: Float32Array, count, labels: BigInt64Array }
  #index = 0;
  #demoLoaded = false;
  /** The model being compressed: { blob, name, demo: { samples, labels } | null }. */
  #model = null;
  #compare = new ComparePanel(() => this.#model);
  #training = new TrainingPanel(() => this.#model, () => this.#compare.compressed());

  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    const ui = this.#ui;
    ui.error = h('div', { class: 'error', role: 'alert', 'data-testid': 'error', hidden: '' });
    ui.build = h('span', { class: 'badge', 'data-testid': 'build', title: 'WebAssembly build in use' }, 'loading engine…');
    ui.fileInput = h('input', { type: 'file', accept: '.onnx', 'data-testid': 'open-model', onchange: () => this.#openFile() });
    ui.summary = h('div', { class: 'status' }, 'Loading the demo model…');
    ui.modelTitle = h('span', {}, 'Model');
    ui.canvas = h('canvas', { width: 160, height: 160, 'data-testid': 'digit', 'aria-label': 'sample digit' });
    ui.position = h('span', { 'data-testid': 'sample-index' }, '–');
    ui.prev = h('button', { onclick: () => this.#show(this.#index - 1), 'aria-label': 'previous sample' }, '◀');
    ui.next = h('button', { onclick: () => this.#show(this.#index + 1), 'aria-label': 'next sample' }, '▶');
    ui.random = h('button', { onclick: () => this.#show(Math.floor(Math.random() * (this.#samples?.count ?? 1))) }, 'Random');
    ui.prediction = h('div', { class: 'prediction', 'data-testid': 'prediction', 'aria-live': 'polite' });
    ui.bars = h('div', { class: 'bars', 'data-testid': 'probabilities' });
    ui.demo = h('section', { class: 'card', 'data-testid': 'demo' },
      h('h3', {}, 'Try it: classify a handwritten digit'),
      h('div', { class: 'demo' },
        h('div', {}, ui.canvas, h('div', { class: 'nav' }, ui.prev, ui.position, ui.next, ui.random)),
        ui.prediction,
        ui.bars));
    root.append(
      h('style', {}, styles),
      ui.error,
      h('section', { class: 'card' },
        h('h3', {}, ui.modelTitle,
          h('span', { class: 'toolbar' }, ui.build,
            h('label', { class: 'button' }, 'Open model…', ui.fileInput))),
        ui.summary),
      ui.demo,
      this.#compare.element,
      this.#training.element,
    );
    this.#start();
  }

  disconnectedCallback() {
    this.#bridge.terminate();
    this.#training.terminate();
  }

  #showError(message) {
    this.#ui.error.textContent = message;
    this.#ui.error.hidden = false;
  }

  #clearError() {
    this.#ui.error.hidden = true;
  }

  async #start() {
    try {
      const [model, samples, labels] = await Promise.all(
        [DEMO.modelUrl, DEMO.samplesUrl, DEMO.labelsUrl].map(fetchBytes));
      // The compare panel's worker opens its own copy from the Blob; the
      // bytes themselves move to this element's worker below.
      this.#model = { blob: new Blob([model]), name: DEMO.name, demo: { samples: samples.slice(0), labels: labels.slice(0) } };
      this.#compare.modelChanged();
      this.#training.modelChanged();
      const info = await this.#bridge.call('info');
      this.#ui.build.textContent = `wasm ${info.kernels}`;
      const summary = await this.#bridge.call('open', { key: 'demo', bytes: model }, { transfer: [model] });
      this.#ui.modelTitle.textContent = `Model: ${DEMO.name} (built-in demo)`;
      renderSummary(this.#ui.summary, summary, DEMO.name);
      const x = await this.#bridge.call('readNpy', { bytes: samples }, { transfer: [samples] });
      const y = await this.#bridge.call('readNpy', { bytes: labels }, { transfer: [labels] });
      this.#samples = { data: x.data, count: x.dims[0], width: x.dims[1], labels: y.data };
      this.#demoLoaded = true;
      await this.#show(0);
    } catch (e) {
      this.#showError(`Could not start the demo: ${e.message}`);
    }
  }

  async #show(index) {
    const s = this.#samples;
    if (!s || !this.#demoLoaded) return;
    this.#index = (index + s.count) % s.count;
    const pixels = s.data.subarray(this.#index * s.width, (this.#index + 1) * s.width);
    drawDigit(this.#ui.canvas, pixels, DEMO.side);
    this.#ui.position.textContent = `${this.#index + 1} / ${s.count}`;
    try {
      const input = { name: DEMO.inputName, dtype: 'float32', dims: [1, s.width], data: pixels.slice() };
      const result = await this.#bridge.call('run', { key: 'demo', inputs: [input] }, { transfer: [input.data.buffer] });
      const probs = result.outputs[0].data;
      const predicted = argmax(probs);
      const label = Number(s.labels[this.#index]);
      const right = predicted === label;
      this.#ui.prediction.replaceChildren(
        h('div', { class: 'status' }, 'Prediction'),
        h('div', { class: 'digit', 'data-testid': 'predicted-class' }, String(predicted)),
        h('div', { class: 'meta' }, `confidence ${(100 * probs[predicted]).toFixed(1)}%`),
        h('div', { class: `meta ${right ? 'ok' : 'bad'}`, 'data-testid': 'true-label' },
          `true label ${label} ${right ? '✓' : '✗'}`),
        h('div', { class: 'meta', 'data-testid': 'latency' }, `ran in ${result.ms.toFixed(2)} ms on this device`));
      renderProbabilities(this.#ui.bars, probs, predicted);
      this.#clearError();
    } catch (e) {
      this.#showError(`Running the model failed: ${e.message}`);
    }
  }

  // Opening another model shows its summary; on failure the current model
  // and everything on screen stay as they were.
  async #openFile() {
    const file = this.#ui.fileInput.files?.[0];
    this.#ui.fileInput.value = '';
    if (!file) return;
    const shown = [...this.#ui.summary.childNodes];
    try {
      // Decoded once, in the compare panel's worker, which keeps it; the
      // File itself is only a reference to the data (nothing is copied here).
      this.#ui.summary.textContent = `Opening ${file.name}…`;
      const model = { blob: file, name: file.name, demo: null };
      const summary = await this.#compare.open(model);
      this.#model = model;
      this.#compare.modelChanged();
      this.#training.modelChanged();
      this.#ui.modelTitle.textContent = `Model: ${file.name}`;
      renderSummary(this.#ui.summary, summary, file.name);
      this.#ui.demo.hidden = true;
      this.#clearError();
    } catch (e) {
      this.#ui.summary.replaceChildren(...shown);
      this.#showError(`${file.name}: ${e.message}`);
    }
  }
}

if (!customElements.get('squish-playground')) customElements.define('squish-playground', SquishPlayground);
