// Human-readable rendering of a model summary (shared by the CLI commands).
import { formatBytes, formatShape } from '../ui/format.js';

export function formatSummary(file, s) {
  const lines = [];
  lines.push(`${file}`);
  lines.push(`  size        ${formatBytes(s.file_bytes)}`);
  if (s.producer) lines.push(`  producer    ${s.producer}`);
  lines.push(`  IR version  ${s.ir_version}`);
  lines.push(`  opsets      ${s.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`);
  lines.push('  inputs');
  for (const v of s.inputs) lines.push(`    ${v.name}  ${v.dtype}  ${formatShape(v.shape)}`);
  lines.push('  outputs');
  for (const v of s.outputs) lines.push(`    ${v.name}  ${v.dtype}  ${formatShape(v.shape)}`);
  lines.push(`  parameters  ${s.parameter_count.toLocaleString('en-US')} (${formatBytes(s.weight_bytes)} in memory)`);
  lines.push(`  nodes       ${s.node_count} (${s.op_counts.map(([op, n]) => `${op} ${n}`).join(', ')})`);
  for (const [k, v] of s.metadata) lines.push(`  meta        ${k} = ${v}`);
  return lines.join('\n');
}
