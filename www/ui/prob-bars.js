// Horizontal bars of class probabilities, the winner highlighted.
import { h } from './format.js';

export function renderProbabilities(container, probs, predicted) {
  container.replaceChildren(...Array.from(probs, (p, cls) => {
    const fill = h('span', { class: 'fill' });
    // Through the CSSOM, not a style attribute: a strict CSP allows this one.
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    return h('div', { class: `bar${cls === predicted ? ' win' : ''}` },
      h('span', { class: 'label' }, String(cls)),
      h('span', { class: 'track' }, fill),
      h('span', { class: 'value' }, `${(100 * p).toFixed(1)}%`));
  }));
}
