// File helpers shared by the CLI commands: reads that name what was being
// read, and writes that leave nothing half-written on failure.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

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
