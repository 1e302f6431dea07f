// `squish run` and `squish convert`: file I/O around the wasm engine.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openModel } from './files.mjs';

/** Reads input_J.pb or input_J.npy for each graph input, in order. */
export function readInputs(engine, dir, inputs) {
  if (!existsSync(dir)) throw new Error(`inputs folder '${dir}' does not exist`);
  return inputs.map((vi, j) => {
    const pb = join(dir, `input_${j}.pb`);
    const npy = join(dir, `input_${j}.npy`);
    let t;
    try {
      if (existsSync(pb)) t = engine.readTensorProto(readFileSync(pb));
      else if (existsSync(npy)) t = engine.readNpy(readFileSync(npy));
      else {
        const names = inputs.map((v, i) => `input_${i} (${v.name})`).join(', ');
        throw new Error(`missing input_${j}.pb or input_${j}.npy in '${dir}'; the model takes ${inputs.length}: ${names}`);
      }
    } catch (e) {
      throw new Error(e.message.startsWith('missing') ? e.message : `input_${j} (${vi.name}): ${e.message}`);
    }
    return { ...t, name: vi.name };
  });
}

export function runModel(engine, bytes, inputsDir, outDir) {
  const model = openModel(engine, bytes);
  const summary = model.summary();
  const inputs = readInputs(engine, inputsDir, summary.inputs);
  const t0 = performance.now();
  const result = model.run(inputs);
  const ms = performance.now() - t0;
  mkdirSync(outDir, { recursive: true });
  const lines = [];
  result.outputs.forEach((t, j) => {
    writeFileSync(join(outDir, `output_${j}.pb`), engine.writeTensorProto(t));
    lines.push(`output_${j}.pb  ${t.name}  ${t.dtype}  [${t.dims.join(', ')}]`);
  });
  lines.push(`ran in ${ms.toFixed(1)} ms, peak activation memory ${(result.peakBytes / 1024).toFixed(1)} KiB`);
  model.free();
  return lines.join('\n');
}

export function convertModel(engine, bytes, outPath) {
  const model = openModel(engine, bytes);
  const out = model.toBytes();
  model.free();
  writeFileSync(outPath, out);
  return `wrote ${outPath} (${out.length} bytes)`;
}
