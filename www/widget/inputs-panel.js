// The inputs both sides of the compare card run on: files, images, audio,
// text, the demo's digits or seeded random values, plus labels, timing and
// probe settings. Read once, in a worker that holds the model; the tensors
// then go to every side as they are.
import { field, h } from '../ui/format.js';
import { parseDims, parseRanges } from '../ui/random-spec.js';

const SOURCES = { demo: 'Demo test set (450 digits, with labels)', random: 'Random values (seeded)', file: 'A file: .npz, .npy, .pb, .json, .csv',
  images: 'Images (PNG/JPEG)', audio: 'Audio (WAV)', text: 'Text + tokenizer.json' };

// Probes re-run both models three times per kind: off by default for your own models.
const PROBES = {
  none: 'none',
  image: 'images: noise, brightness, occlusion, blur (×3 severities)',
  text: 'texts (text source): typos, dropped/repeated words, whitespace, truncation, case (×3)',
  audio: 'audio: noise, gain, clipping (×3 severities)',
  tensor: 'any float input: noise (×3 severities)',
};

const read = (file) => file.arrayBuffer();

export class InputsPanel {
  #ui = {};
  #inputFile = null; // { name, bytes }: set by the element (attribute, dropped file) when no file is chosen

  constructor() {
    const ui = this.#ui;
    ui.source = h('select', { 'data-testid': 'input-source', 'aria-label': 'inputs', onchange: () => this.#showSource() }, Object.entries(SOURCES).map(([k, v]) => h('option', { value: k }, v)));
    ui.count = h('input', { type: 'number', min: 1, value: 16, 'aria-label': 'input sets', 'data-testid': 'random-count' });
    ui.seed = h('input', { type: 'number', value: 0, 'aria-label': 'seed', 'data-testid': 'random-seed' });
    ui.dims = h('input', { type: 'text', placeholder: 'batch=1,sequence=128', 'aria-label': 'dimensions' });
    ui.ranges = h('input', { type: 'text', placeholder: 'input_ids=0:30522', 'aria-label': 'value ranges' });
    ui.file = h('input', { type: 'file', accept: '.npz,.npy,.pb,.json,.csv', 'data-testid': 'input-file', 'aria-label': 'input file',
      onchange: () => { ui.fileName.textContent = ui.file.files?.[0]?.name ?? ''; } });
    ui.fileName = h('span', { class: 'status', 'data-testid': 'input-file-name' });
    ui.images = h('input', { type: 'file', accept: 'image/png,image/jpeg', multiple: '', 'data-testid': 'image-files', 'aria-label': 'images' });
    ui.folder = h('input', { type: 'file', webkitdirectory: '', 'data-testid': 'image-folder', 'aria-label': 'folder of images' });
    ui.imagePreset = h('select', { 'aria-label': 'image preset' }, ['imagenet', 'unit', 'symmetric', 'raw'].map((p) => h('option', { value: p }, p)));
    ui.width = h('input', { type: 'number', value: 224, min: 1, 'aria-label': 'width' });
    ui.height = h('input', { type: 'number', value: 224, min: 1, 'aria-label': 'height' });
    ui.layout = h('select', { 'aria-label': 'layout' }, h('option', { value: 'nchw' }, 'NCHW'), h('option', { value: 'nhwc' }, 'NHWC'));
    ui.channels = h('select', { 'aria-label': 'channels' }, ['rgb', 'bgr', 'gray'].map((c) => h('option', { value: c }, c.toUpperCase())));
    ui.audio = h('input', { type: 'file', accept: '.wav,audio/wav', multiple: '', 'aria-label': 'WAV files' });
    ui.rate = h('input', { type: 'number', value: 16000, min: 1, 'aria-label': 'sample rate' });
    ui.text = h('textarea', { rows: 3, placeholder: 'one input per line', 'data-testid': 'texts', 'aria-label': 'texts, one per line' });
    ui.tokenizer = h('input', { type: 'file', accept: '.json', 'data-testid': 'tokenizer-file', 'aria-label': 'tokenizer.json' });
    ui.labels = h('input', { type: 'file', accept: '.npy,.csv,.json', 'data-testid': 'labels-file', 'aria-label': 'labels file' });
    ui.runs = h('input', { type: 'number', value: 20, min: 0, 'aria-label': 'timed runs' });
    ui.warmup = h('input', { type: 'number', value: 30, min: 0, 'aria-label': 'warm-up runs' });
    ui.probes = h('select', { 'data-testid': 'probes', 'aria-label': 'edge-case probes' }, Object.entries(PROBES).map(([k, v]) => h('option', { value: k }, v)));
    const picker = (label, input) => h('label', { class: 'button' }, label, input);
    ui.forms = {
      demo: h('div', {}),
      random: h('div', { class: 'row' }, field('input sets', ui.count), field('seed', ui.seed), field('symbolic dims', ui.dims), field('value ranges', ui.ranges)),
      file: h('div', { class: 'row' }, picker('Choose file…', ui.file), ui.fileName),
      images: h('div', { class: 'row' }, picker('Images…', ui.images), picker('Folder of class sub-folders…', ui.folder),
        field('preset', ui.imagePreset), field('width', ui.width), field('height', ui.height), field('layout', ui.layout), field('channels', ui.channels)),
      audio: h('div', { class: 'row' }, picker('WAV files…', ui.audio), field('model sample rate', ui.rate)),
      text: h('div', { class: 'row' }, ui.text, picker('tokenizer.json…', ui.tokenizer)),
    };
    this.element = h('div', { class: 'inputs' }, field('inputs', ui.source), Object.values(ui.forms),
      h('div', { class: 'row' }, picker('Labels (optional)…', ui.labels), field('timed runs', ui.runs), field('warm-up', ui.warmup)),
      field('edge-case probes', ui.probes));
    this.#showSource();
  }

  /** The demo source only exists while the demo model is the one loaded. */
  modelChanged(demo) {
    this.#ui.probes.value = demo ? 'image' : 'none';
    this.#ui.source.querySelector('option[value=demo]').hidden = !demo;
    if (!demo && this.#ui.source.value === 'demo') this.#ui.source.value = 'random';
    this.#showSource();
  }

  #showSource() {
    for (const [k, el] of Object.entries(this.#ui.forms)) el.hidden = k !== this.#ui.source.value;
  }

  /** An inputs file given by the element (attribute or drop): read when no file is chosen. */
  setInputFile(name, bytes) {
    this.#inputFile = { name, bytes };
    this.#ui.source.value = 'file';
    this.#ui.fileName.textContent = name;
    this.#showSource();
  }

  /** A tokenizer.json dropped with the model: the text source uses it. */
  setTokenizer(file) {
    const files = new DataTransfer();
    files.items.add(file);
    this.#ui.tokenizer.files = files.files;
    this.#ui.source.value = 'text';
    this.#showSource();
  }

  /** The comparison options these settings ask for. */
  options() {
    const options = { latency_runs: Number(this.#ui.runs.value), warmup_runs: Number(this.#ui.warmup.value), per_class: true, handback: true,
      slices: { by: 'auto', bins: 4 } };
    if (this.#ui.probes.value !== 'none') options.probes = { kinds: [this.#ui.probes.value], severities: [1, 2, 3], seed: 0 };
    return options;
  }

  /** What a shared link carries: the settings that need no file. */
  settings() {
    const ui = this.#ui;
    return { source: ui.source.value, count: Number(ui.count.value), seed: Number(ui.seed.value), dims: ui.dims.value, ranges: ui.ranges.value,
      runs: Number(ui.runs.value), warmup: Number(ui.warmup.value), probes: ui.probes.value, texts: ui.source.value === 'text' ? ui.text.value : undefined };
  }

  /** Restores `settings()` (from a shared link); unknown values are ignored. */
  applySettings(s) {
    const ui = this.#ui;
    const set = (el, v) => { if (v != null) el.value = String(v); };
    if (s.source && SOURCES[s.source] && !ui.source.querySelector(`option[value=${s.source}]`).hidden) ui.source.value = s.source;
    set(ui.count, s.count);
    set(ui.seed, s.seed);
    set(ui.dims, s.dims);
    set(ui.ranges, s.ranges);
    set(ui.runs, s.runs);
    set(ui.warmup, s.warmup);
    if (s.probes && PROBES[s.probes]) ui.probes.value = s.probes;
    set(ui.text, s.texts);
    this.#showSource();
  }

  /**
   * The input sets, labels and texts, read by `call(method, args, signal)` in
   * a worker holding the model under 'model'; `model.demo` has the demo's files.
   */
  async read(call, model, signal) {
    const ui = this.#ui;
    const m = 'model';
    let feeds;
    let labels = null;
    let text = null;
    switch (ui.source.value) {
      case 'demo':
        feeds = await call('readInputFile', { key: m, name: 'X_test.npy', bytes: model.demo.samples.slice(0) }, signal);
        labels = await call('readLabels', { name: 'y_test.npy', bytes: model.demo.labels.slice(0) }, signal);
        break;
      case 'random': {
        const spec = { count: Number(ui.count.value), seed: Number(ui.seed.value), dims: parseDims(ui.dims.value, 'symbolic dims'), ranges: parseRanges(ui.ranges.value, 'value ranges') };
        feeds = await call('randomInputs', { key: m, spec }, signal);
        break;
      }
      case 'file': {
        const chosen = ui.file.files?.[0];
        const f = chosen ? { name: chosen.name, bytes: await read(chosen) } : this.#inputFile && { name: this.#inputFile.name, bytes: this.#inputFile.bytes.slice(0) };
        if (!f) throw new Error('choose an input file first');
        feeds = await call('readInputFile', { key: m, ...f }, signal);
        break;
      }
      case 'images': {
        const files = [...(ui.folder.files?.length ? ui.folder.files : ui.images.files ?? [])].filter((f) => /\.(png|jpe?g)$/i.test(f.name));
        if (!files.length) throw new Error('choose PNG or JPEG images (or a folder of them) first');
        const spec = { preset: ui.imagePreset.value, width: Number(ui.width.value), height: Number(ui.height.value), layout: ui.layout.value, channels: ui.channels.value };
        const payload = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await read(f) })));
        feeds = await call('imageInputs', { key: m, files: payload, spec }, signal);
        labels = folderLabels(files);
        break;
      }
      case 'audio': {
        const files = [...(ui.audio.files ?? [])];
        if (!files.length) throw new Error('choose WAV files first');
        const payload = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await read(f) })));
        feeds = await call('audioInputs', { key: m, files: payload, rate: Number(ui.rate.value) }, signal);
        break;
      }
      case 'text': {
        const texts = ui.text.value.split('\n').filter((l) => l.trim());
        if (!texts.length) throw new Error('write at least one line of text');
        const tokenizer = ui.tokenizer.files?.[0];
        if (!tokenizer) throw new Error('choose a tokenizer.json first');
        const tok = await tokenizer.text();
        feeds = await call('textInputs', { key: m, tokenizer: tok, texts }, signal);
        // Text probes change the texts themselves, then tokenise them again.
        text = { tokenizer: tok, texts };
        break;
      }
      default:
        throw new Error(`unknown input source '${ui.source.value}'`);
    }
    const lf = ui.labels.files?.[0];
    if (lf) labels = await call('readLabels', { name: lf.name, bytes: await read(lf) }, signal);
    return { feeds, labels, text, source: ui.source.value };
  }
}

/** Labels from image sub-folder names (classes in sorted folder order), or null. */
function folderLabels(files) {
  const folders = files.map((f) => (f.webkitRelativePath || '').split('/').slice(-2, -1)[0]);
  if (folders.some((d) => !d) || new Set(folders).size < 2) return null;
  const classes = [...new Set(folders)].sort();
  const data = new BigInt64Array(folders.map((d) => BigInt(classes.indexOf(d))));
  return { dtype: 'int64', dims: [data.length], data };
}
