// File helpers shared by the CLI commands: reads that name what was being
// read, and writes that leave nothing half-written on failure.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function readFile(path, what = '') {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${what ? `${what} ` : ''}'${path}': ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
}

/** Written via a temporary file and a rename: a failed run leaves no partial output. */
export function writeAtomic(path, data) {
  const tmp = `${path}.partial-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** A model file's bytes, remembering where it was read (its external data files sit beside it). */
export function readModel(path, what = 'model') {
  const bytes = readFile(path, what);
  bytes.modelPath = path;
  return bytes;
}

/**
 * Decodes a model read by `readModel`. A model whose weights live in
 * external data files gets them from its own folder, by file name only
 * (a location is never followed as a path); a missing one is named.
 */
export function openModel(engine, bytes) {
  const names = [];
  const files = [];
  for (;;) {
    try {
      return names.length ? engine.ModelHandle.withExternalData(bytes, names, files) : new engine.ModelHandle(bytes);
    } catch (e) {
      const wanted = /external file '([^']+)', which was not provided/.exec(e.message)?.[1];
      const name = wanted && basename(wanted.replace(/\\/g, '/'));
      if (!name || !bytes.modelPath || names.includes(name)) throw e;
      names.push(name);
      files.push(readFile(join(dirname(bytes.modelPath), name), 'external data file'));
    }
  }
}
