// The inputs behind flipped predictions and overconfident errors, drawn as
// what they are: pictures (image tensors, square feature vectors such as
// the 8×8 digits), text lines, waveforms, or the first values otherwise.
import { h } from './format.js';

const MAX_FLIPS = 24;
const MAX_OVERCONFIDENT = 12;
const THUMB = 56;

/** Tensor `t`'s row `row` (its first axis), as { data, dims } without the batch axis. */
function rowOf(t, row) {
  const per = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return { data: t.data.subarray(row * per, (row + 1) * per), dims: t.dims.slice(1) };
}

/** Example `index` (counted over all input sets) as its first input's row, or null. */
function exampleInput(feeds, index) {
  let at = index;
  for (const set of feeds) {
    const t = set[0];
    const batch = t?.dims.length ? t.dims[0] : 1;
    if (at < batch) return t.dims.length ? rowOf(t, at) : { data: t.data, dims: [] };
    at -= batch;
  }
  return null;
}

/**
 * A grey or RGB picture of `planes` (1 or 3 planes of w×h), scaled to its
 * own range; `ink`: high values dark (feature maps such as the digits).
 */
function picture(planes, w, hgt, label, ink = false) {
  const canvas = h('canvas', { width: w, height: hgt, class: 'thumb', role: 'img', 'aria-label': label });
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, hgt);
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of planes) for (const v of p) { if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < w * hgt; i++) {
    for (let c = 0; c < 3; c++) {
      const v = planes[planes.length === 3 ? c : 0][i];
      const level = Math.round((255 * (v - lo)) / span);
      img.data[4 * i + c] = ink ? 255 - level : level;
    }
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

function waveform(data, label) {
  const canvas = h('canvas', { width: 2 * THUMB, height: THUMB, class: 'thumb wave', role: 'img', 'aria-label': label });
  const ctx = canvas.getContext('2d');
  const peak = data.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-9);
  ctx.strokeStyle = '#3346a8';
  ctx.beginPath();
  for (let x = 0; x < canvas.width; x++) {
    const v = data[Math.floor((x / canvas.width) * data.length)] / peak;
    ctx.lineTo(x, THUMB / 2 - (v * THUMB) / 2);
  }
  ctx.stroke();
  return canvas;
}

const vocabularies = new WeakMap();

/** id → token of a tokenizer.json's vocabulary (WordPiece or BPE `model.vocab`), or null. */
function vocabulary(text) {
  if (!vocabularies.has(text)) {
    let names = null;
    try {
      const vocab = JSON.parse(text.tokenizer)?.model?.vocab;
      if (vocab && typeof vocab === 'object' && !Array.isArray(vocab)) {
        names = new Map(Object.entries(vocab).map(([token, id]) => [id, token]));
      } else if (Array.isArray(vocab)) {
        names = new Map(vocab.map((entry, id) => [id, Array.isArray(entry) ? entry[0] : entry]));
      }
    } catch { /* no tokens shown */ }
    vocabularies.set(text, names);
  }
  return vocabularies.get(text);
}

/** The tokens the model read for text example `index` (its `input_ids` row, padding left out). */
function tokensOf(text, feeds, index) {
  const names = vocabulary(text);
  if (!names) return null;
  let at = index;
  for (const set of feeds) {
    const ids = set.find((t) => t.name === 'input_ids') ?? set.find((t) => t.data instanceof BigInt64Array);
    const mask = set.find((t) => t.name === 'attention_mask');
    const batch = ids?.dims[0] ?? 1;
    if (at < batch) {
      if (!ids) return null;
      const row = rowOf(ids, at).data;
      const keep = mask ? rowOf(mask, at).data : null;
      return Array.from(row, (id, i) => (keep && Number(keep[i]) === 0 ? null : names.get(Number(id)) ?? `#${id}`)).filter((t) => t != null);
    }
    at -= batch;
  }
  return null;
}

/** The best drawing of one input row. */
function thumbnail(input, text, index, feeds) {
  const label = `input ${index}`;
  if (text) {
    const tokens = tokensOf(text, feeds, index);
    return h('div', { class: 'thumb-text' }, text.texts[index] ?? '',
      tokens ? h('div', { class: 'tokens', 'data-testid': 'example-tokens' }, tokens.map((t) => h('code', {}, t))) : null);
  }
  if (!input) return h('div', { class: 'status' }, '(not found)');
  const { data, dims } = input;
  const numeric = !(data instanceof BigInt64Array);
  if (numeric && dims.length === 3 && [1, 3].includes(dims[0])) {
    const [c, hh, w] = dims;
    return picture(Array.from({ length: c }, (_, k) => data.subarray(k * hh * w, (k + 1) * hh * w)), w, hh, label);
  }
  if (numeric && dims.length === 3 && [1, 3].includes(dims[2])) {
    const [hh, w, c] = dims;
    return picture(Array.from({ length: c }, (_, k) => Float32Array.from({ length: hh * w }, (_, i) => data[i * c + k])), w, hh, label);
  }
  if (numeric && dims.length === 2 && dims[0] * dims[1] <= 256 * 256) return picture([data], dims[1], dims[0], label, true);
  const side = Math.sqrt(data.length);
  if (numeric && dims.length === 1 && Number.isInteger(side) && side >= 4 && side <= 64) return picture([data], side, side, label, true);
  if (numeric && dims.length === 1 && data.length >= 256) return waveform(data, label);
  return h('code', { class: 'thumb-values' }, `[${Array.from(data.slice(0, 6), (v) => (typeof v === 'bigint' ? String(v) : Number(v).toPrecision(3))).join(', ')}${data.length > 6 ? ', …' : ''}]`);
}

function card(index, input, text, feeds, lines, testid) {
  return h('figure', { class: `example${text ? ' wide' : ''}`, 'data-testid': testid, 'data-index': String(index) },
    thumbnail(input, text, index, feeds), h('figcaption', {}, h('strong', {}, `#${index}`), ...lines.map((l) => h('div', {}, l))));
}

/**
 * Thumbnails of the first flipped examples (with both models' answers and
 * confidences) and of the compressed model's overconfident errors, from
 * `inputs` ({ feeds, text }) as the comparison read them.
 */
export function renderExamples(container, report, inputs) {
  const c = report.outputs.find((o) => o.classification)?.classification;
  if (!c || (!c.flipped.length && !c.overconfident_compressed.length)) {
    container.replaceChildren();
    return;
  }
  const { feeds, text } = inputs;
  const flips = c.flipped.slice(0, MAX_FLIPS).map((f) => card(f.index, exampleInput(feeds, f.index), text, feeds, [
    `original ${f.original_class} (${(100 * f.original_confidence).toFixed(1)}%)`,
    `compressed ${f.compressed_class} (${(100 * f.compressed_confidence).toFixed(1)}%)`,
    f.label != null ? `label ${f.label}` : null].filter(Boolean), 'flip-example'));
  const over = c.overconfident_compressed.slice(0, MAX_OVERCONFIDENT).map((i) => card(i, exampleInput(feeds, i), text, feeds,
    ['compressed: wrong with ≥ 90% confidence'], 'overconfident-example'));
  container.replaceChildren(...[
    flips.length ? h('details', { open: '' }, h('summary', {}, `Flipped predictions: ${c.flipped_count}${c.flipped_count > flips.length ? ` (first ${flips.length} shown)` : ''}`),
      h('div', { class: 'examples' }, flips)) : null,
    over.length ? h('details', {}, h('summary', {}, `Overconfident errors of the compressed model: ${c.overconfident_compressed.length}`),
      h('div', { class: 'examples' }, over)) : null].filter(Boolean));
}
