// A drawing pad for the digits demo: the user draws with a mouse, a pen or
// a finger; the ink becomes an 8×8 image made the way scikit-learn's digits
// were (the UCI optdigits recipe: the digit scaled to fill a 32×32 box,
// then the ink counted in 4×4 blocks, 0–16, here divided by 16).
import { h } from './format.js';

const SIDE = 160;
const BOX = 32;

export class DrawPad {
  #canvas;
  #ctx;
  #drawing = false;
  #last = null;
  #inked = false;
  #onChange;
  #pending = false;

  /** `onChange(pixels: Float32Array(64))` hears the image while drawing (once per frame) and when a stroke ends. */
  constructor(onChange) {
    this.#canvas = h('canvas', { width: SIDE, height: SIDE, class: 'pad', 'data-testid': 'draw-pad', role: 'img',
      'aria-label': 'drawing pad: draw a digit with the mouse, a pen or a finger' });
    this.#ctx = this.#canvas.getContext('2d', { willReadFrequently: true });
    this.clear();
    // Set after the first clear: the owner may still be under construction.
    this.#onChange = onChange;
    const c = this.#canvas;
    c.addEventListener('pointerdown', (e) => {
      c.setPointerCapture(e.pointerId);
      this.#drawing = true;
      this.#last = this.#point(e);
      this.#stroke(this.#last);
      e.preventDefault();
    });
    c.addEventListener('pointermove', (e) => {
      if (!this.#drawing) return;
      this.#stroke(this.#point(e));
    });
    const end = () => {
      if (!this.#drawing) return;
      this.#drawing = false;
      this.#emit();
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    this.clearButton = h('button', { 'data-testid': 'clear-pad', onclick: () => this.clear() }, 'Clear');
    this.element = h('div', { class: 'pad-box' }, c, h('div', { class: 'nav' }, this.clearButton, h('span', { class: 'status' }, 'draw a digit 0–9')));
  }

  get inked() {
    return this.#inked;
  }

  clear() {
    this.#ctx.fillStyle = '#fff';
    this.#ctx.fillRect(0, 0, SIDE, SIDE);
    this.#inked = false;
    this.#onChange?.(null);
  }

  #point(e) {
    const r = this.#canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * SIDE, y: ((e.clientY - r.top) / r.height) * SIDE };
  }

  #stroke(p) {
    const ctx = this.#ctx;
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 14;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(this.#last.x, this.#last.y);
    ctx.lineTo(p.x + 0.01, p.y);
    ctx.stroke();
    this.#last = p;
    this.#inked = true;
    if (!this.#pending) {
      this.#pending = true;
      requestAnimationFrame(() => {
        this.#pending = false;
        this.#emit();
      });
    }
  }

  #emit() {
    if (this.#inked) this.#onChange?.(this.pixels());
  }

  /** The drawing as the classifier's 64 inputs (0 = paper, 1 = ink), or null before any ink. */
  pixels() {
    if (!this.#inked) return null;
    const { data } = this.#ctx.getImageData(0, 0, SIDE, SIDE);
    return digitPixels((i) => 1 - data[4 * i] / 255, SIDE);
  }
}

/**
 * 64 block values from a `side`×`side` ink image (`ink(i)` in 0–1): the ink's
 * bounding box scaled (aspect kept) to fill a 32×32 box and centred, then
 * the share of ink in each 4×4 block, quantised to sixteenths like the UCI data.
 */
export function digitPixels(ink, side) {
  let [x0, y0, x1, y1] = [side, side, -1, -1];
  for (let i = 0; i < side * side; i++) {
    if (ink(i) < 0.1) continue;
    const x = i % side;
    const y = Math.floor(i / side);
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  const out = new Float32Array(64);
  if (x1 < 0) return out;
  const scale = (BOX - 1) / Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const ox = (BOX - (x1 - x0 + 1) * scale) / 2;
  const oy = (BOX - (y1 - y0 + 1) * scale) / 2;
  const box = new Float32Array(BOX * BOX);
  // Each box cell takes the ink under its centre (nearest source pixel).
  for (let by = 0; by < BOX; by++) {
    for (let bx = 0; bx < BOX; bx++) {
      const sx = Math.floor(x0 + (bx + 0.5 - ox) / scale);
      const sy = Math.floor(y0 + (by + 0.5 - oy) / scale);
      if (sx < x0 || sx > x1 || sy < y0 || sy > y1) continue;
      box[by * BOX + bx] = ink(sy * side + sx) >= 0.5 ? 1 : 0;
    }
  }
  for (let i = 0; i < 64; i++) {
    const [cx, cy] = [(i % 8) * 4, Math.floor(i / 8) * 4];
    let on = 0;
    for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) on += box[(cy + dy) * BOX + cx + dx];
    out[i] = on / 16;
  }
  return out;
}
