#!/usr/bin/env node
// squish: the command line over the same wasm build the page uses.
import { openModel, readModel } from './files.mjs';
import { basename } from 'node:path';
import { loadEngine } from './engine.mjs';
import { formatSummary } from './format.mjs';
import { convertModel, runModel } from './run.mjs';
import { compressModel } from './compress.mjs';
import { compareModels } from './compare.mjs';
import { distillModel } from './distill.mjs';

const USAGE = `usage: squish <command> [options]

commands:
  inspect MODEL.onnx [--json]   inputs, outputs, opsets, parameter count, size
  run MODEL.onnx --inputs DIR --out DIR
                                runs the model on DIR/input_J.pb (or .npy), in
                                graph-input order; writes OUT/output_J.pb
  convert MODEL.onnx OUT.onnx   re-encodes the model as Squish writes it
  compress MODEL.onnx --recipe R.json --out OUT.onnx [--calibration DIR]
          [--inputs DIR|FILE | --text LINES.txt --tokenizer tokenizer.json
          [--max-length L]] [--labels y.npy] [--report target.json]
                                compresses as the recipe says (README: "Recipes");
                                prints each tensor's scheme, size and error.
                                DIR: input_J files, or sub-folders of them.
                                A recipe with a "target" searches per-layer
                                settings on --inputs (a part held back) and
                                writes the smallest model meeting it
  distill TEACHER.onnx --out OUT.onnx (--student mlp:32[,16] | cnn:8,16 | --finetune COMPRESSED.onnx)
          (--inputs DIR|FILE | --text LINES.txt --tokenizer tokenizer.json) [--labels y.npy]
          [--epochs N] [--learning-rate R] [--batch-size B] [--seed S] [--section S.json]
                                trains a student to imitate the teacher on the
                                inputs (some held back to keep the best epoch),
                                or fine-tunes a compressed model back towards it
                                (pruned zeros stay zero, quantised weights
                                written back as codes); prints the curve.
                                --section: a "distill" recipe section (README "Recipes")
  compare ORIG.onnx COMPRESSED.onnx [--inputs DIR|FILE | --random N [--seed S]
          [--dims name=V,...] [--ranges name=LO:HI,...] | --text LINES.txt --tokenizer tokenizer.json
          [--max-length L]] [--labels y.npy] [--report report.json]
          [--markdown report.md] [--runs N] [--options O.json]
          [--per-class] [--handback [--handback-target 0.995]]
          [--probes image|text|audio|tensor|PROBE,... [--severities 1,2,3]
          [--probe-seed S] [--save-probes DIR]]
          [--slices auto|length|brightness|contrast|loudness|norm|NAMES.txt [--slice-bins 4]]
          [--on-the-job-output NAME]
          [--recipe R.json [--calibration DIR] [--suggest-recipe OUT.json]
          [--sensitivity exclusions|sparsity]]
                                output metrics, per-layer diagnosis, latency
                                and sizes (README: "Comparing"). FILE: .npz,
                                .npy, .pb, .json, .csv. --recipe adds the
                                per-layer sensitivity and an exclusion list;
                                --sensitivity sparsity (a prune recipe) scans
                                each layer (each dependency group, for
                                channels/heads) at 6 sparsities and suggests
                                per-layer sparsities for the recipe's target.
                                --per-class: figures per class, rare classes
                                flagged, where flips go; --handback: the
                                compressed model answers when confident, the
                                original the rest (curve, and the threshold
                                keeping agreement >= the target); --probes:
                                both models on perturbed inputs per severity
                                (the robustness gap): image = noise,
                                brightness, occlusion, blur; text (needs
                                --text) = typo, drop, repeat, whitespace,
                                truncate, case; audio = noise, gain,
                                clipping; tensor = noise. --save-probes
                                writes them (DIR/PROBE_SEVERITY/input_J.pb,
                                or DIR/PROBE_SEVERITY.txt); --slices:
                                figures per quantile bin of an input feature,
                                or per name in NAMES (one line per example);
                                --on-the-job-output: the output slices and
                                probes judge (default: the first
                                classification output, else the first)
  version                       version and the kernel set of the wasm build
  help                          this text`;

class UsageError extends Error {}


async function inspect(args) {
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  const unknown = files.find((a) => a.startsWith('--'));
  if (unknown) throw new UsageError(`inspect: unknown option ${unknown}`);
  if (files.length !== 1) throw new UsageError('inspect takes exactly one model file');
  const bytes = readModel(files[0]);
  const engine = await loadEngine();
  let summary;
  try {
    summary = inspectModel(engine, bytes);
  } catch (e) {
    throw new Error(`${files[0]}: ${e.message}`);
  }
  console.log(json ? JSON.stringify(summary, null, 2) : formatSummary(basename(files[0]), summary));
}

/** `engine.inspect` (which needs no supported ops); a model with external data gets its files from its folder. */
function inspectModel(engine, bytes) {
  try {
    return engine.inspect(bytes);
  } catch (e) {
    if (!/external file '/.test(e.message)) throw e;
    const handle = openModel(engine, bytes);
    try {
      return handle.summary();
    } finally {
      handle.free();
    }
  }
}

/** Parses `--name value` options; everything else is positional. */
/** `names`: options taking a value; `flags`: options that are on when present. */
function parseOptions(args, names, flags = []) {
  const opts = {};
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('--')) {
      const name = a.slice(2);
      if (flags.includes(name)) {
        opts[name] = true;
        continue;
      }
      if (!names.includes(name)) throw new UsageError(`unknown option ${a}`);
      if (i + 1 >= args.length) throw new UsageError(`${a} needs a value`);
      opts[name] = args[++i];
    } else rest.push(a);
  }
  return { opts, rest };
}

async function run(args) {
  const { opts, rest } = parseOptions(args, ['inputs', 'out']);
  if (rest.length !== 1 || !opts.inputs || !opts.out) throw new UsageError('run takes MODEL.onnx --inputs DIR --out DIR');
  const bytes = readModel(rest[0]);
  const engine = await loadEngine();
  try {
    console.log(runModel(engine, bytes, opts.inputs, opts.out));
  } catch (e) {
    throw new Error(`${rest[0]}: ${e.message}`);
  }
}

async function convert(args) {
  if (args.length !== 2) throw new UsageError('convert takes MODEL.onnx OUT.onnx');
  const bytes = readModel(args[0]);
  const engine = await loadEngine();
  try {
    console.log(convertModel(engine, bytes, args[1]));
  } catch (e) {
    throw new Error(`${args[0]}: ${e.message}`);
  }
}

async function compress(args) {
  const { opts, rest } = parseOptions(args, ['recipe', 'out', 'calibration', 'inputs', 'text', 'tokenizer', 'max-length', 'labels', 'report']);
  if (rest.length !== 1 || !opts.recipe || !opts.out) throw new UsageError('compress takes MODEL.onnx --recipe R.json --out OUT.onnx [--calibration DIR] [--inputs DIR|FILE]');
  if (opts.inputs && opts.text) throw new UsageError('give one of --inputs and --text');
  const bytes = readModel(rest[0]);
  const engine = await loadEngine();
  try {
    console.log(compressModel(engine, bytes, opts.recipe, opts.calibration, opts.out, opts));
  } catch (e) {
    throw new Error(`${rest[0]}: ${e.message}`);
  }
}

async function distill(args) {
  const names = ['out', 'student', 'finetune', 'inputs', 'text', 'tokenizer', 'max-length', 'labels', 'epochs', 'learning-rate', 'batch-size', 'seed', 'section'];
  const { opts, rest } = parseOptions(args, names);
  if (rest.length !== 1 || !opts.out) throw new UsageError('distill takes TEACHER.onnx --out OUT.onnx and --student or --finetune');
  if (opts.student && opts.finetune) throw new UsageError('give one of --student and --finetune');
  if (!opts.inputs && !opts.text) throw new UsageError('distill needs inputs to learn from (--inputs DIR|FILE, or --text LINES.txt --tokenizer tokenizer.json)');
  const bytes = readModel(rest[0]);
  const engine = await loadEngine();
  try {
    console.log(distillModel(engine, bytes, opts));
  } catch (e) {
    throw new Error(`${rest[0]}: ${e.message}`);
  }
}

async function compare(args) {
  const names = ['inputs', 'text', 'tokenizer', 'max-length', 'random', 'seed', 'dims', 'ranges', 'labels', 'report', 'markdown', 'runs', 'options', 'recipe', 'calibration', 'suggest-recipe', 'sensitivity', 'handback-target', 'probes', 'severities', 'probe-seed', 'save-probes', 'slices', 'slice-bins', 'on-the-job-output'];
  const { opts, rest } = parseOptions(args, names, ['per-class', 'handback']);
  if (opts['handback-target'] !== undefined && !opts.handback) throw new UsageError('--handback-target needs --handback');
  for (const k of ['severities', 'probe-seed', 'save-probes']) if (opts[k] !== undefined && !opts.probes) throw new UsageError(`--${k} needs --probes`);
  if (opts['slice-bins'] !== undefined && !opts.slices) throw new UsageError('--slice-bins needs --slices');
  if (rest.length !== 2) throw new UsageError('compare takes ORIGINAL.onnx COMPRESSED.onnx and options');
  if ([opts.inputs, opts.random, opts.text].filter(Boolean).length > 1) throw new UsageError('give one of --inputs, --random and --text');
  if (opts['suggest-recipe'] && !opts.recipe) throw new UsageError('--suggest-recipe needs --recipe');
  if (opts.sensitivity && !['exclusions', 'sparsity'].includes(opts.sensitivity)) throw new UsageError(`--sensitivity takes exclusions or sparsity, got '${opts.sensitivity}'`);
  if (opts.sensitivity && !opts.recipe) throw new UsageError('--sensitivity needs --recipe');
  const engine = await loadEngine();
  console.log(compareModels(engine, rest, opts));
}

async function main(argv) {
  const [command, ...rest] = argv;
  switch (command) {
    case 'inspect':
      return inspect(rest);
    case 'run':
      return run(rest);
    case 'convert':
      return convert(rest);
    case 'compress':
      return compress(rest);
    case 'distill':
      return distill(rest);
    case 'compare':
      return compare(rest);
    case 'version': {
      const info = (await loadEngine()).buildInfo();
      console.log(`squish ${info.version} (kernels: ${info.kernels})`);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`squish: error: ${e.message}`);
  if (e instanceof UsageError) console.error(`\n${USAGE}`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
