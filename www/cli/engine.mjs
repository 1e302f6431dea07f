// Loads the baseline SIMD128 wasm build into Node. Node 20 needs a flag for
// relaxed SIMD (and miscomputes its i8 dot product), so the CLI never uses
// the relaxed build.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const pkgDir = new URL('../pkg/simd/', import.meta.url);

export async function loadEngine() {
  const wasmPath = fileURLToPath(new URL('squish_bg.wasm', pkgDir));
  if (!existsSync(wasmPath)) {
    throw new Error(`the wasm build is missing (${wasmPath}); run "npm run build" first`);
  }
  const mod = await import(new URL('squish.js', pkgDir).href);
  mod.initSync({ module: readFileSync(wasmPath) });
  return mod;
}
