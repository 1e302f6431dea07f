// Input sets for the CLI: folders of input_J files, one data file, text
// lines through a tokenizer, or seeded random values.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readInputs } from './run.mjs';
import { readFile } from './files.mjs';
import { parseDims, parseRanges } from '../ui/random-spec.js';

/** Calibration samples: DIR holds input_J files (one sample) or sub-folders of them. */
export function readCalibration(engine, dir, inputs) {
  if (!existsSync(dir)) throw new Error(`calibration folder '${dir}' does not exist`);
  const subdirs = readdirSync(dir).filter((d) => statSync(join(dir, d)).isDirectory()).sort();
  const folders = subdirs.length ? subdirs.map((d) => join(dir, d)) : [dir];
  return folders.map((f) => {
    try {
      return readInputs(engine, f, inputs);
    } catch (e) {
      throw new Error(`calibration sample '${f}': ${e.message}`);
    }
  });
}

/** Input sets from a folder (input_J files, or sub-folders of them) or one file. */
function readInputSets(engine, model, path, inputs) {
  if (!existsSync(path)) throw new Error(`inputs '${path}' do not exist`);
  if (statSync(path).isDirectory()) return readCalibration(engine, path, inputs);
  try {
    return model.readInputFile(path, readFileSync(path));
  } catch (e) {
    throw new Error(`inputs '${path}': ${e.message}`);
  }
}

/** --text LINES.txt (non-empty lines) with --tokenizer: `{ tokenizer, texts }`, or null without --text. */
export function readTexts(opts) {
  if (!opts.text) return null;
  if (!opts.tokenizer) throw new Error('--text needs --tokenizer tokenizer.json');
  const texts = readFile(opts.text, 'text').toString('utf8').split(/\r?\n/).filter((l) => l.trim());
  return { tokenizer: readFile(opts.tokenizer, 'tokenizer').toString('utf8'), texts };
}

/** Input sets from --text, --inputs or --random (the same options as compare). */
export function inputSets(engine, original, opts) {
  const text = readTexts(opts);
  if (text) return original.textInputs(text.tokenizer, text.texts, opts['max-length'] ? Number(opts['max-length']) : undefined);
  if (opts.inputs) return readInputSets(engine, original, opts.inputs, original.summary().inputs);
  const spec = { count: Number(opts.random ?? 8), seed: Number(opts.seed ?? 0), dims: parseDims(opts.dims ?? '', '--dims'), ranges: parseRanges(opts.ranges ?? '', '--ranges') };
  if (!Number.isInteger(spec.count) || spec.count < 1) throw new Error(`--random takes a positive count, got '${opts.random}'`);
  return original.randomInputs(JSON.stringify(spec));
}
