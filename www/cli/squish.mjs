#!/usr/bin/env node
// squish: the command line over the same wasm build the page uses.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { loadEngine } from './engine.mjs';
import { formatSummary } from './format.mjs';

const USAGE = `usage: squish <command> [options]

commands:
  inspect MODEL.onnx [--json]   inputs, outputs, opsets, parameter count, size
  version                       version and the kernel set of the wasm build
  help                          this text`;

class UsageError extends Error {}

function readModel(path) {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read '${path}': ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
}

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
    summary = engine.inspect(bytes);
  } catch (e) {
    throw new Error(`${files[0]}: ${e.message}`);
  }
  console.log(json ? JSON.stringify(summary, null, 2) : formatSummary(basename(files[0]), summary));
}

async function main(argv) {
  const [command, ...rest] = argv;
  switch (command) {
    case 'inspect':
      return inspect(rest);
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
