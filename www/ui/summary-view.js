// The model panel: what the file is, what it takes and gives, how big it is.
import { formatBytes, formatShape, h } from './format.js';

function ioRows(values) {
  return values.map((v) => h('li', {}, h('code', {}, v.name), ` ${v.dtype} ${formatShape(v.shape)}`));
}

export function renderSummary(container, summary, fileName) {
  const ops = summary.op_counts.map(([op, n]) => `${op} ×${n}`).join(', ');
  const rows = [
    ['File', `${fileName} · ${formatBytes(summary.file_bytes)}`],
    ['Parameters', `${summary.parameter_count.toLocaleString('en-US')} (${formatBytes(summary.weight_bytes)} as stored in memory)`],
    ['Opsets', summary.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')],
    ['Producer', summary.producer || '—'],
    ['Nodes', `${summary.node_count}: ${ops}`],
  ];
  container.replaceChildren(
    h('dl', { class: 'facts', 'data-testid': 'model-summary' },
      rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('div', { class: 'io' },
      h('div', {}, h('h4', {}, 'Inputs'), h('ul', { 'data-testid': 'model-inputs' }, ioRows(summary.inputs))),
      h('div', {}, h('h4', {}, 'Outputs'), h('ul', { 'data-testid': 'model-outputs' }, ioRows(summary.outputs)))),
  );
}
