// Renders the compression record (what `compressModel` changed): warnings
// first — a layer that got less than the recipe asked for — then the layers
// kept in fp32 with their reasons, and every compressed tensor in a table.
import { formatBytes, h } from './format.js';
import { sparsityChart, weightHistogram } from './charts.js';

export function renderRecord(el, record) {
  const saved = record.model_bytes_before / Math.max(1, record.model_bytes_after);
  const parts = [
    h('h4', {}, 'What compression did'),
    h('div', { class: 'status' }, `${record.entries.length} tensor(s) compressed · ${record.kept.length} layer(s) kept as they were · `
      + `model ${formatBytes(record.model_bytes_before)} → ${formatBytes(record.model_bytes_after)} (${saved.toFixed(2)}× smaller)`),
  ];
  const sparse = record.entries.filter((c) => c.sparse_bytes != null);
  if (sparse.length) {
    const dense = sparse.reduce((a, c) => a + c.bytes_after, 0);
    const enc = sparse.reduce((a, c) => a + c.sparse_bytes, 0);
    const zeros = sparse.reduce((a, c) => a + c.sparsity * c.bytes_after, 0) / dense;
    const gz = sparse.every((c) => c.gzip_bytes != null) ? `, gzip ${formatBytes(sparse.reduce((a, c) => a + c.gzip_bytes, 0))}` : '';
    parts.push(h('div', { class: 'status', 'data-testid': 'record-sparsity' },
      `${sparse.length} pruned tensor(s): ${(100 * zeros).toFixed(1)}% zeros · stored dense ${formatBytes(dense)}${gz}, sparse-encoded ${formatBytes(enc)} `
      + '(the ONNX file stores the zeros densely, so gzip is what shrinks the download; Squish\'s sparse kernels skip the zeros of '
      + 'MatMul/Gemm weights with half or more zeros, onnxruntime multiplies them all)'));
    parts.push(prunedLayers(sparse));
  }
  const shrunk = record.entries.filter((c) => c.removed?.length);
  if (shrunk.length) parts.push(structuredLayers(shrunk));
  if (record.warnings.length) {
    parts.push(h('ul', { class: 'warnings', 'data-testid': 'record-warnings' },
      record.warnings.map((w) => h('li', {}, h('strong', {}, `${w.node} (${w.op_type}) '${w.tensor}': `), w.detail))));
  }
  if (record.kept.length) {
    parts.push(h('details', {}, h('summary', {}, `Kept as they were (${record.kept.length})`),
      h('ul', {}, record.kept.map((s) => h('li', {}, `${s.node} (${s.op_type}), ${s.method}: ${s.reason}`)))));
  }
  if (record.entries.length) {
    const rows = record.entries.map((c) => [c.tensor, `${c.node} (${c.op_type})`, c.method, c.settings, c.grouping,
      formatBytes(c.bytes_before), formatBytes(c.bytes_after), `${(100 * c.sparsity).toFixed(1)}%`, c.max_abs_error.toExponential(2)]);
    parts.push(h('details', {}, h('summary', {}, `Compressed tensors (${record.entries.length})`),
      h('table', { 'data-testid': 'record-entries' },
        h('thead', {}, h('tr', {}, ['tensor', 'node', 'method', 'settings', 'grouping', 'before', 'after', 'zeros', 'max |Δw|'].map((c) => h('th', {}, c)))),
        h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))))));
  }
  el.replaceChildren(h('div', { class: 'record', 'data-testid': 'record' }, parts));
}

/** Zeros per pruned layer, and one layer's weights before and after. */
function prunedLayers(sparse) {
  const withHist = sparse.filter((c) => c.histogram);
  const hist = h('div', { 'data-testid': 'weight-histogram' });
  const show = (i) => {
    const c = withHist[i];
    const kept = c.histogram.after.reduce((a, b) => a + b, 0);
    hist.replaceChildren(weightHistogram(c.histogram, { label: `${c.tensor}: weights before and after` }),
      h('div', { class: 'status', 'data-testid': 'histogram-caption' }, `${c.tensor}: ${kept} non-zero weights left (blue) of ${kept + c.histogram.zeros_after} (grey, before); `
        + `${c.histogram.zeros_after} set to zero, not drawn`));
  };
  const pick = h('select', { 'data-testid': 'histogram-layer', 'aria-label': 'layer', onchange: (e) => show(Number(e.target.value)) },
    withHist.map((c, i) => h('option', { value: String(i) }, `${c.node} (${c.tensor})`)));
  if (withHist.length) show(0);
  return h('details', { open: '' }, h('summary', {}, `Zeros per layer and weights before/after (${sparse.length})`),
    h('div', { 'data-testid': 'sparsity-chart' }, sparsityChart(sparse.map((c) => ({ label: c.node, value: c.sparsity })))),
    withHist.length ? h('div', {}, h('label', {}, 'weights of ', pick), hist) : null);
}

/** Structured pruning: the share of output channels (or heads) each layer lost. */
function structuredLayers(shrunk) {
  const produced = shrunk.flatMap((c) => c.removed.filter((r) => r.role === 'produces').map((r) => ({ node: c.node, r })));
  const gone = produced.reduce((a, p) => a + p.r.indices.length, 0);
  const total = produced.reduce((a, p) => a + p.r.size, 0);
  const before = shrunk.reduce((a, c) => a + c.bytes_before, 0);
  const after = shrunk.reduce((a, c) => a + c.bytes_after, 0);
  return h('details', { open: '', 'data-testid': 'record-structured' },
    h('summary', {}, `Removed: ${gone} of ${total} output channels over ${produced.length} layer(s); `
      + `their weights ${formatBytes(before)} → ${formatBytes(after)} (a smaller model in any runtime)`),
    h('div', { 'data-testid': 'structured-chart' },
      sparsityChart(produced.map((p) => ({ label: p.node, value: p.r.indices.length / p.r.size })), { label: 'output channels removed per layer', unit: 'of output channels removed' })));
}
