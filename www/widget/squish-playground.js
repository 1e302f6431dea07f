// <squish-playground>: the whole playground as one custom element, usable
// as the page itself or embedded in documentation (README "Embedding").
// All engine work goes through worker bridges; this element only renders.
//
// Attributes: load="interaction|visible|eager" (when the engine and the
// demo are fetched; default: on first use), model="URL" (an ONNX model
// instead of the demo), inputs="URL" (an input file for the compare card),
// recipe="JSON", mode="full|compact" (compact: the model and compare cards
// only), drop="page" (files dropped anywhere on the page open here; by
// default only drops on the element itself), share="hash" (a link button;
// recipes and input settings travel in the URL's #squish= part, and a page
// opened with one restores them and runs the comparison). Events (detail objects, bubbling out of the shadow root): loaded,
// compressed, compared, error. Methods: start(), compare(), openFiles(files).
import { sharedBridge } from '../worker/bridge.js';
import { formatBytes, h } from '../ui/format.js';
import { renderSummary } from '../ui/summary-view.js';
import { drawDigit } from '../ui/digit-view.js';
import { renderProbabilities } from '../ui/prob-bars.js';
import { DrawPad } from '../ui/draw-pad.js';
import { DEMO, OTHER_DEMOS, argmax, fetchBytes } from './demo.js';
import { adoptStyles } from './styles.js';
import { ComparePanel } from './compare-panel.js';
import { TrainingPanel } from './training-panel.js';
import { ModelView } from './model-view.js';
import { SweepPanel } from './sweep-panel.js';

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
  #stopDrops = () => {};
  /** The model being compressed: { blob, name, demo: { samples, labels } | null }. */
  #model = null;
  #compare = new ComparePanel(() => this.#model, (type, detail) => this.#fromCompare(type, detail), () => this.start());
  #sweep = new SweepPanel({ getModel: () => this.#model, ready: () => this.start(),
    readInputs: (call, model, signal) => this.#compare.readInputs(call, model, signal) });
  // The demo is open in the shared worker; a model the user opened, in the compare card's side A.
  #modelView = new ModelView((method, args) => (this.#model?.demo ? this.#bridge.call(method, { key: this.#key, ...args }) : this.#compare.inspect(method, args)));
  #pad = new DrawPad((pixels) => this.#predictDrawing(pixels));
  #padRun = 0; // the latest drawing's run; older answers are dropped
  #training = new TrainingPanel(() => this.#model, () => this.#compare.compressed(), () => this.start());

  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    const ui = this.#ui;
    ui.error = h('div', { class: 'error', role: 'alert', 'data-testid': 'error', hidden: '' });
    ui.demoPicker = h('select', { 'data-testid': 'demo-picker', 'aria-label': 'built-in demo', onchange: () => this.#openDemo(ui.demoPicker.value) },
      h('option', { value: 'digits', title: 'scikit-learn digits classifier, 450 labelled test digits and a drawing pad' }, 'Demo: digits (MLP)'),
      Object.entries(OTHER_DEMOS).map(([id, d]) => h('option', { value: id, title: d.title }, `Demo: ${d.label}`)),
      h('option', { value: 'own', hidden: '' }, 'your model'));
    ui.build = h('span', { class: 'badge', 'data-testid': 'build', title: 'WebAssembly build in use' }, 'engine not loaded');
    ui.fileInput = h('input', { type: 'file', accept: '.onnx,.json,.npz,.npy,.pb,.csv', multiple: '', 'data-testid': 'open-model', 'aria-label': 'open model files',
      onchange: () => this.#openPicked() });
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
    ui.padResult = h('div', { class: 'pad-result', 'data-testid': 'pad-prediction', 'aria-live': 'polite' }, 'Draw a digit: the original model (and the compressed one, once you have compressed) will read it.');
    ui.demo = h('section', { class: 'card', 'data-testid': 'demo' },
      h('h3', {}, 'Try it: classify a handwritten digit'),
      h('div', { class: 'demo' },
        h('div', {}, ui.canvas, h('div', { class: 'nav' }, ui.prev, ui.position, ui.next, ui.random)),
        ui.prediction,
        ui.bars),
      h('h4', {}, 'Or draw one'),
      h('div', { class: 'demo pad-row' }, this.#pad.element, ui.padResult));
    ui.dropHint = h('div', { class: 'drop-hint', 'data-testid': 'drop-hint', hidden: '' }, 'Drop an .onnx model (with tokenizer.json or an input file, if you like)');
    adoptStyles(root);
    root.append(
      ui.error,
      h('section', { class: 'card' },
        h('h3', {}, ui.modelTitle,
          h('span', { class: 'toolbar' }, ui.demoPicker, ui.build,
            h('button', { 'data-testid': 'open-model-button', onclick: () => ui.fileInput.click() }, 'Open model…'), ui.fileInput)),
        ui.summary, ui.dropHint),
      ui.demo,
      this.#modelView.element,
      this.#compare.element,
      this.#sweep.element,
      this.#training.element,
    );
    if (this.getAttribute('share') === 'hash') this.#addShareControls();
    this.#applyAttributes();
    this.#waitForUse();
    this.#listenForDrops();
  }

  disconnectedCallback() {
    this.#stopWaiting();
    this.#stopDrops();
    // The shared worker stays for the other elements; this one's models go.
    if (this.#bridge.running) this.#bridge.call('release', { key: this.#key }).catch(() => {});
    this.#compare.terminate();
    this.#sweep.terminate();
    this.#training.terminate();
  }

  attributeChangedCallback() {
    if (this.shadowRoot) this.#applyAttributes();
  }

  #applyAttributes() {
    const compact = this.getAttribute('mode') === 'compact';
    this.#training.element.hidden = compact;
    this.#sweep.element.hidden = compact;
    this.#modelView.element.hidden = compact || !this.#model;
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
      this.#readSharedLink();
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
    const bytes = await fetchBytes(url, ({ done, total }) => {
      this.#ui.summary.textContent = `Downloading ${name}: ${formatBytes(done)}${total ? ` of ${formatBytes(total)}` : ''}…`;
    });
    this.#ui.summary.textContent = `Opening ${name}…`;
    const model = { blob: new Blob([bytes]), name, demo: null };
    const summary = await this.#compare.open(model);
    this.#setModel(model, summary, name);
    return summary;
  }

  async #loadDemo(chosen = false) {
    const [model, samples, labels] = await Promise.all([DEMO.modelUrl, DEMO.samplesUrl, DEMO.labelsUrl].map((url) => fetchBytes(url)));
    // A model the user opened while the demo was on its way stays (unless the demo was chosen again).
    if (this.#model && !chosen) return null;
    this.#ui.demo.hidden = this.getAttribute('mode') === 'compact';
    // The compare panel's worker opens its own copy from the Blob; the
    // bytes themselves move to the shared worker below.
    this.#setModel({ blob: new Blob([model]), name: DEMO.name, demo: { samples: samples.slice(0), labels: labels.slice(0) } });
    const summary = await this.#bridge.call('open', { key: this.#key, bytes: model }, { transfer: [model] });
    this.#loadLayers();
    this.#ui.modelTitle.textContent = `Model: ${DEMO.name} (built-in demo)`;
    renderSummary(this.#ui.summary, summary, DEMO.name);
    const x = await this.#bridge.call('readNpy', { bytes: samples }, { transfer: [samples] });
    const y = await this.#bridge.call('readNpy', { bytes: labels }, { transfer: [labels] });
    this.#samples = { data: x.data, count: x.dims[0], width: x.dims[1], labels: y.data };
    this.#demoLoaded = true;
    await this.#show(0);
    return summary;
  }

  /** The model view's table, once the model is open in the worker the view asks (not in compact mode). */
  #loadLayers() {
    if (this.getAttribute('mode') === 'compact') return;
    const name = this.#model?.name;
    this.#modelView.load().catch((e) => this.#showError(`Reading the layers of ${name} failed: ${e.message}`, 'model view'));
  }

  /** `model` becomes the one compressed; with a summary, it is shown (and the demo card goes). */
  #setModel(model, summary, name) {
    this.#model = model;
    this.#ui.demoPicker.value = model.demo ? 'digits' : model.demoId ?? 'own';
    this.#compare.modelChanged();
    this.#sweep.modelChanged();
    this.#training.modelChanged();
    if (!model.demo) this.#loadLayers();
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

  #addShareControls() {
    const ui = this.#ui;
    ui.shareLink = h('input', { type: 'text', readonly: '', class: 'share-link', 'data-testid': 'share-link', 'aria-label': 'link to this comparison', hidden: '' });
    ui.shareButton = h('button', { 'data-testid': 'share', onclick: () => this.#makeLink() }, 'Link to this comparison');
    this.#compare.addActions(ui.shareButton, ui.shareLink);
  }

  /** The recipes and input settings in the URL's hash (the model itself never leaves the device: the link names it). */
  #makeLink() {
    const demoId = this.#model?.demo ? 'digits' : this.#model?.demoId ?? null;
    const state = { v: 1, model: { name: this.#model?.name ?? null, demo: !!demoId, demoId }, ...this.#compare.settings() };
    const url = new URL(location.href);
    url.hash = `squish=${encodeState(state)}`;
    history.replaceState(null, '', url);
    this.#ui.shareLink.value = url.href;
    this.#ui.shareLink.hidden = false;
    this.#ui.shareLink.select();
    navigator.clipboard?.writeText(url.href).catch(() => {});
    const where = state.model.demo ? 'the built-in demo' : new URLSearchParams(location.search).get('model') ? 'the model URL in the link' : `${state.model.name} (whoever opens the link opens that file)`;
    this.#ui.shareLink.title = `Recipes and input settings; the model: ${where}.`;
  }

  #pendingLink = null;

  /** A page opened with #squish=…: restore the settings and run once the model the link names is loaded. */
  #readSharedLink() {
    if (this.getAttribute('share') !== 'hash') return;
    const m = location.hash.match(/squish=([A-Za-z0-9_-]+)/);
    if (!m) return;
    try {
      this.#pendingLink = decodeState(m[1]);
    } catch (e) {
      this.#showError(`The link's settings cannot be read (${e.message}); nothing was restored.`, 'link');
      return;
    }
    this.#runPendingLink();
  }

  async #runPendingLink() {
    const link = this.#pendingLink;
    if (!link || !this.#model) return;
    const named = link.model ?? {};
    const fromUrl = !!new URLSearchParams(location.search).get('model');
    if (named.demoId && !fromUrl) {
      this.#pendingLink = null;
      if (!(await this.#openDemo(named.demoId))) return;
    } else if (!named.demo && !fromUrl && named.name !== this.#model.name) {
      this.#showError(`This link compares recipes on ${named.name ?? 'a model'}: open that file (Open model… or drop it here) and the comparison runs.`, 'link');
      return;
    }
    this.#pendingLink = null;
    this.#compare.applySettings(link);
    this.#compare.run().catch(() => {});
  }

  /** The compare card hears `compressed` first (the model view joins the record), then the page. */
  #fromCompare(type, detail) {
    if (type === 'compressed' && detail?.record) this.#modelView.compressed(detail.record).catch(() => {});
    if (type === 'compared') this.#predictDrawing(this.#pad.pixels());
    this.#emit(type, detail);
  }

  /** The drawing pad's image through the original and, once compressed, the compressed model. */
  async #predictDrawing(pixels) {
    const run = ++this.#padRun;
    if (!pixels || !this.#demoLoaded) {
      if (this.#demoLoaded) this.#ui.padResult.textContent = 'Draw a digit: the original model (and the compressed one, once you have compressed) will read it.';
      return;
    }
    const input = () => [{ name: DEMO.inputName, dtype: 'float32', dims: [1, 64], data: pixels.slice() }];
    try {
      const original = await this.#bridge.call('run', { key: this.#key, inputs: input() });
      const compressed = await this.#compare.runCompressed(input);
      if (run !== this.#padRun) return;
      const verdict = (label, r) => {
        const probs = r.outputs[0].data;
        const k = argmax(probs);
        return h('div', { class: 'verdict' }, h('span', { class: 'status' }, label),
          h('span', { class: 'digit small', 'data-testid': `pad-${label.replace('side ', '')}` }, String(k)), h('span', { class: 'meta' }, `${(100 * probs[k]).toFixed(1)}%`));
      };
      const parts = [verdict('original', original), ...compressed.map((c) => verdict(`side ${c.side}`, c.result))];
      if (!compressed.length) parts.push(h('div', { class: 'status' }, 'Compress the model (below) to see the compressed one read your drawing too.'));
      this.#ui.padResult.replaceChildren(...parts);
    } catch (e) {
      this.#showError(`Running the model on the drawing failed: ${e.message}`, 'run');
    }
  }

  #openPicked() {
    const files = [...(this.#ui.fileInput.files ?? [])];
    this.#ui.fileInput.value = '';
    if (files.length) this.openFiles(files);
  }

  #listenForDrops() {
    const target = this.getAttribute('drop') === 'page' ? document : this;
    let depth = 0;
    const hint = (on) => { this.#ui.dropHint.hidden = !on; };
    const carriesFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    const over = (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    };
    const enter = (e) => { if (carriesFiles(e)) { depth += 1; hint(true); } };
    const leave = (e) => { if (carriesFiles(e) && --depth <= 0) { depth = 0; hint(false); } };
    const drop = (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      depth = 0;
      hint(false);
      this.openFiles([...e.dataTransfer.files]);
    };
    const handlers = { dragover: over, dragenter: enter, dragleave: leave, drop };
    for (const [k, fn] of Object.entries(handlers)) target.addEventListener(k, fn);
    this.#stopDrops = () => Object.entries(handlers).forEach(([k, fn]) => target.removeEventListener(k, fn));
  }

  /**
   * Files dropped or picked together: an .onnx model opens (the previous one
   * stays if it fails) with any other files as its external data, a
   * tokenizer.json goes to the compare card's text inputs, an input file
   * (.npz, .npy, .pb, .csv, .json) to its file inputs.
   * Resolves when the model is open; an error names the file at fault.
   */
  async openFiles(files) {
    await this.start().catch(() => {});
    const models = files.filter((f) => /\.onnx$/i.test(f.name));
    const tokenizers = files.filter((f) => /(^|[^a-z])tokenizer\.json$/i.test(f.name));
    const inputs = files.filter((f) => /\.(npz|npy|pb|csv|json)$/i.test(f.name) && !tokenizers.includes(f));
    const other = files.filter((f) => !models.includes(f) && !tokenizers.includes(f) && !inputs.includes(f));
    if (models.length > 1) return this.#showError(`Drop one model at a time (got ${models.map((f) => f.name).join(', ')}).`, 'open');
    // Other files dropped with a model are its external data files; alone, they mean nothing here.
    if (other.length && !models.length) {
      return this.#showError(`${other.map((f) => f.name).join(', ')}: not a file Squish opens by itself (an .onnx model, tokenizer.json, or inputs: .npz, .npy, .pb, .csv, .json); `
        + 'a model\'s external data file opens together with its .onnx file.', 'open');
    }
    if (models.length && !(await this.#openModelFile(models[0], null, other))) return undefined;
    if (tokenizers.length) this.#compare.setTokenizer(tokenizers[0]);
    if (inputs.length) this.#compare.setInputFile(inputs[0].name, await inputs[0].arrayBuffer());
    return undefined;
  }

  /** A built-in demo chosen in the model card: its model, and the inputs that suit it. */
  async #openDemo(id) {
    if (id === 'digits') {
      if (this.#model?.demo) return true;
      await this.#loadDemo(true).catch((e) => this.#showError(`The digits demo did not load: ${e.message}`, 'open'));
      return !!this.#model?.demo;
    }
    const demo = OTHER_DEMOS[id];
    if (!demo) return false;
    try {
      const [model, tokenizer] = await Promise.all([fetchBytes(demo.modelUrl), demo.tokenizerUrl ? fetchBytes(demo.tokenizerUrl) : null]);
      if (!(await this.#openModelFile(new File([model], demo.name), id))) return false;
      if (tokenizer) this.#compare.setTokenizer(new File([tokenizer], 'tokenizer.json'));
      this.#compare.applyInputs(demo.inputs);
      return true;
    } catch (e) {
      this.#showError(`The ${id} demo did not load: ${e.message}`, 'open');
      return false;
    }
  }

  // Opening another model shows its summary; on failure the current model
  // and everything on screen stay as they were.
  async #openModelFile(file, demoId = null, external = []) {
    const shown = [...this.#ui.summary.childNodes];
    try {
      // Decoded once, in the compare panel's worker, which keeps it; the
      // File itself is only a reference to the data (nothing is copied here).
      const bytes = file.size + external.reduce((a, f) => a + f.size, 0);
      this.#ui.summary.textContent = `Opening ${file.name}${external.length ? ` with ${external.map((f) => f.name).join(', ')}` : ''} (${formatBytes(bytes)})…`;
      const model = { blob: file, name: file.name, demo: null, demoId, external: external.map((f) => ({ name: f.name, blob: f })) };
      const summary = await this.#compare.open(model);
      this.#setModel(model, summary, demoId ? `${file.name} (built-in demo)` : file.name);
      this.#clearError();
      this.#emit('loaded', { name: file.name, demo: !!demoId, summary });
      if (!demoId) this.#runPendingLink();
      return true;
    } catch (e) {
      this.#ui.summary.replaceChildren(...shown);
      this.#showError(`${file.name}: ${e.message}`, 'open');
      return false;
    }
  }
}

/** JSON as URL-safe base64 (UTF-8), and back. */
function encodeState(state) {
  const bytes = new TextEncoder().encode(JSON.stringify(state));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeState(text) {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const state = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  if (state?.v !== 1) throw new Error('unknown link version');
  return state;
}

function basename(path) {
  return decodeURIComponent(path.split('/').filter(Boolean).at(-1) ?? 'model.onnx');
}

if (!customElements.get('squish-playground')) customElements.define('squish-playground', SquishPlayground);
