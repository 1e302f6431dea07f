// Horizontal bars of class probabilities, the winner highlighted.
import { h } from './format.js';

export function renderProbabilities(container, probs, predicted) {
  container.replaceChildren(...Array.from(probs, (p, cls) =>
    h('div', { class: `bar${cls === predicted ? ' win' : ''}` },
      h('span', { class: 'label' }, String(cls)),
      h('span', { class: 'track' }, h('span', { class: 'fill', style: `width:${(100 * p).toFixed(1)}%` })),
      h('span', { class: 'value' }, `${(100 * p).toFixed(1)}%`))));
}
