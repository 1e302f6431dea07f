// Small formatting helpers shared by the UI panels.

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatShape(shape) {
  return shape ? `[${shape.join(', ')}]` : 'shape not declared';
}

/** Creates an element with attributes and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c != null) el.append(c);
  return el;
}

/** A labelled control, as the cards lay out their settings. */
export function field(label, control) {
  return h('label', { class: 'field' }, h('span', {}, label), control);
}

/**
 * A preset list and the JSON it writes into an editable text area (the
 * cards' recipe and section editors). Returns `{ select, text }`.
 */
export function presetEditor(presets, { selectId, textId, label }) {
  const text = h('textarea', { rows: 4, spellcheck: 'false', 'data-testid': textId, 'aria-label': label }, JSON.stringify(Object.values(presets)[0], null, 1));
  const select = h('select', { 'data-testid': selectId, onchange: () => { text.value = JSON.stringify(presets[select.value], null, 1); } },
    Object.keys(presets).map((k) => h('option', { value: k }, k)));
  return { select, text };
}

/** A box that scrolls what is too wide or too tall for it, reachable by keyboard (a labelled region). */
export function scrollBox(label, ...children) {
  return h('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': label }, ...children);
}

/** Saves `data` (bytes or text) as a file the browser downloads. */
export function downloadFile(data, type, name) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  h('a', { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * A bar track with one fill per `[share, class]` (share 0–1), sized through
 * the CSSOM: a strict CSP refuses style attributes.
 */
export function barTrack(fills) {
  return h('span', { class: 'track' }, fills.map(([share, cls]) => {
    const fill = h('span', { class: cls });
    fill.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;
    return fill;
  }));
}
