// Loads the baseline SIMD128 wasm build into Node. Node 20 needs a flag for
// relaxed SIMD (and miscomputes its i8 dot product), so the CLI never uses
// the relaxed build.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const pkgDir = new URL('../pkg/simd/', import.meta.url);

/** `fresh`: a separate module instance with its own memory (benchmarks). */
export async function loadEngine({ fresh = false } = {}) {
  const wasmPath = fileURLToPath(new URL('squish_bg.wasm', pkgDir));
  if (!existsSync(wasmPath)) {
    throw new Error(`the wasm build is missing (${wasmPath}); run "npm run build" first`);
  }
  const url = new URL('squish.js', pkgDir);
  if (fresh) url.search = `fresh=${Date.now()}`;
  const mod = await import(url.href);
  mod.initSync({ module: readFileSync(wasmPath) });
  return mod;
}
