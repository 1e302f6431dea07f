// <squish-playground>: the whole playground as one custom element, usable
// as the page itself or embedded in documentation (README "Embedding").
// All engine work goes through worker bridges; this element only renders.
//
// Attributes: load="interaction|visible|eager" (when the engine and the
// demo are fetched; default: on first use), model="URL" (an ONNX model
// instead of the demo), inputs="URL" (an input file for the compare card),
// recipe="JSON", mode="full|compact" (compact: the model and compare cards
// only). Events (detail objects, bubbling out of the shadow root): loaded,
// compressed, compared, error. Methods: start(), compare().
import { sharedBridge } from '../worker/bridge.js';
import { h } from '../ui/format.js';
import { renderSummary } from '../ui/summary-view.js';
import { drawDigit } from '../ui/digit-view.js';
import { renderProbabilities } from '../ui/prob-bars.js';
import { DEMO, argmax, fetchBytes } from './demo.js';
import { adoptStyles } from './styles.js';
import { ComparePanel } from './compare-panel.js';
import { TrainingPanel } from './training-panel.js';

let elements = 0;

class SquishPlayground extends HTMLElement {
  static observedAttributes = ['mode', 'recipe'];

  #bridge = sharedBridge();
  /** This element's model key in the shared worker. */
  #key = `playground-${++elements}:demo`;
  #ui = {};
  #samples = null; // { data: Float32Array, count, labels: BigInt64Array }
  #index = 0;
  #demoLoaded = false;
  #started = null; // the start() promise, once started
  #stopWaiting = () => {};
  /** The model being compressed: { blob, name, demo: { samples, labels } | null }. */
  #model = null;
  #compare = new ComparePanel(() => this.#model, (type, detail) => this.#emit(type, detail), () => this.start());
  #training = new TrainingPanel(() => this.#model, () => this.#compare.compressed(), () => this.start());

  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    const ui = this.#ui;
    ui.error = h('div', { class: 'error', role: 'alert', 'data-testid': 'error', hidden: '' });
    ui.build = h('span', { class: 'badge', 'data-testid': 'build', title: 'WebAssembly build in use' }, 'engine not loaded');
    ui.fileInput = h('input', { type: 'file', accept: '.onnx', 'data-testid': 'open-model', onchange: () => this.#openFile() });
    ui.startButton = h('button', { class: 'primary', 'data-testid': 'start', onclick: () => this.start() }, 'Start');
    ui.summary = h('div', { class: 'status', 'data-testid': 'not-started' },
      'Squish runs in this tab and starts when you use it: it then fetches its engine (WebAssembly) and the model. ', ui.startButton);
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
    adoptStyles(root);
    root.append(
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
    this.#applyAttributes();
    this.#waitForUse();
  }

  disconnectedCallback() {
    this.#stopWaiting();
    // The shared worker stays for the other elements; this one's models go.
    if (this.#bridge.running) this.#bridge.call('release', { key: this.#key }).catch(() => {});
    this.#compare.terminate();
    this.#training.terminate();
  }

  attributeChangedCallback() {
    if (this.shadowRoot) this.#applyAttributes();
  }

  #applyAttributes() {
    const compact = this.getAttribute('mode') === 'compact';
    this.#training.element.hidden = compact;
    this.#ui.demo.hidden = compact || (this.#started !== null && !this.#model?.demo);
    const recipe = this.getAttribute('recipe');
    if (recipe) this.#compare.setRecipe(recipe);
  }

  /** Starts on first use (or when visible, or at once, as `load` says): nothing heavy is fetched before. */
  #waitForUse() {
    const load = this.getAttribute('load') ?? 'interaction';
    if (load === 'eager') {
      this.start();
      return;
    }
    const go = () => this.start();
    const events = ['pointerdown', 'focusin', 'keydown'];
    events.forEach((e) => this.addEventListener(e, go, { once: true, capture: true }));
    let observer = null;
    if (load === 'visible' && 'IntersectionObserver' in globalThis) {
      observer = new IntersectionObserver((entries) => entries.some((x) => x.isIntersecting) && go());
      observer.observe(this);
    }
    this.#stopWaiting = () => {
      events.forEach((e) => this.removeEventListener(e, go, { capture: true }));
      observer?.disconnect();
    };
  }

  /** Fetches the engine and the model (the demo, or the `model` attribute's); resolves when loaded. */
  start() {
    this.#stopWaiting();
    this.#started ??= this.#load();
    return this.#started;
  }

  /** Compresses with the recipe shown and compares; resolves with the `compared` event's detail. */
  async compare() {
    await this.start();
    return this.#compare.run();
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #showError(message, stage) {
    this.#ui.error.textContent = message;
    this.#ui.error.hidden = false;
    this.#emit('error', { message, stage });
  }

  #clearError() {
    this.#ui.error.hidden = true;
  }

  async #load() {
    this.#ui.summary.replaceChildren(this.getAttribute('model') ? 'Loading the model…' : 'Loading the demo model…');
    try {
      const inputs = this.getAttribute('inputs');
      if (inputs) {
        const url = new URL(inputs, document.baseURI);
        this.#compare.setInputFile(basename(url.pathname), await fetchBytes(url));
      }
      const info = await this.#bridge.call('info');
      this.#ui.build.textContent = `wasm ${info.kernels}`;
      const summary = this.getAttribute('model') ? await this.#loadModelAttribute() : await this.#loadDemo();
      this.#emit('loaded', { name: this.#model.name, demo: !!this.#model.demo, summary, kernels: info.kernels });
    } catch (e) {
      this.#started = null; // a later use tries again
      this.#ui.summary.replaceChildren('Not loaded. ', this.#ui.startButton);
      this.#showError(`Could not start: ${e.message}`, 'start');
      throw e;
    }
  }

  async #loadModelAttribute() {
    const url = new URL(this.getAttribute('model'), document.baseURI);
    const name = basename(url.pathname);
    const model = { blob: new Blob([await fetchBytes(url)]), name, demo: null };
    const summary = await this.#compare.open(model);
    this.#setModel(model, summary, name);
    return summary;
  }

  async #loadDemo() {
    const [model, samples, labels] = await Promise.all([DEMO.modelUrl, DEMO.samplesUrl, DEMO.labelsUrl].map(fetchBytes));
    // A model the user opened while the demo was on its way stays.
    if (this.#model) return null;
    // The compare panel's worker opens its own copy from the Blob; the
    // bytes themselves move to the shared worker below.
    this.#setModel({ blob: new Blob([model]), name: DEMO.name, demo: { samples: samples.slice(0), labels: labels.slice(0) } });
    const summary = await this.#bridge.call('open', { key: this.#key, bytes: model }, { transfer: [model] });
    this.#ui.modelTitle.textContent = `Model: ${DEMO.name} (built-in demo)`;
    renderSummary(this.#ui.summary, summary, DEMO.name);
    const x = await this.#bridge.call('readNpy', { bytes: samples }, { transfer: [samples] });
    const y = await this.#bridge.call('readNpy', { bytes: labels }, { transfer: [labels] });
    this.#samples = { data: x.data, count: x.dims[0], width: x.dims[1], labels: y.data };
    this.#demoLoaded = true;
    await this.#show(0);
    return summary;
  }

  /** `model` becomes the one compressed; with a summary, it is shown (and the demo card goes). */
  #setModel(model, summary, name) {
    this.#model = model;
    this.#compare.modelChanged();
    this.#training.modelChanged();
    if (!summary) return;
    this.#ui.modelTitle.textContent = `Model: ${name}`;
    renderSummary(this.#ui.summary, summary, name);
    this.#ui.demo.hidden = true;
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
      const result = await this.#bridge.call('run', { key: this.#key, inputs: [input] }, { transfer: [input.data.buffer] });
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
      this.#showError(`Running the model failed: ${e.message}`, 'run');
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
      this.#setModel(model, summary, file.name);
      this.#clearError();
      this.#emit('loaded', { name: file.name, demo: false, summary });
    } catch (e) {
      this.#ui.summary.replaceChildren(...shown);
      this.#showError(`${file.name}: ${e.message}`, 'open');
    }
  }
}

function basename(path) {
  return decodeURIComponent(path.split('/').filter(Boolean).at(-1) ?? 'model.onnx');
}

if (!customElements.get('squish-playground')) customElements.define('squish-playground', SquishPlayground);
