// Loads the baseline SIMD128 wasm build into Node. Node 20 needs a flag for
// relaxed SIMD (and miscomputes its i8 dot product), so the CLI never uses
// the relaxed build.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const pkgDir = new URL('../pkg/simd/', import.meta.url);

/**
 * `fresh`: a separate module instance with its own memory (benchmarks);
 * `dir`: another build's folder (the benchmark's build with its bench-only exports).
 */
export async function loadEngine({ fresh = false, dir = pkgDir } = {}) {
  const wasmPath = fileURLToPath(new URL('squish_bg.wasm', dir));
  if (!existsSync(wasmPath)) {
    throw new Error(`the wasm build is missing (${wasmPath}); run "npm run build" (or "npm run bench") first`);
  }
  const url = new URL('squish.js', dir);
  if (fresh) url.search = `fresh=${Date.now()}`;
  const mod = await import(url.href);
  mod.initSync({ module: readFileSync(wasmPath) });
  return mod;
}
