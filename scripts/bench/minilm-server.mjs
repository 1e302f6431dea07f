// Shared by the MiniLM benchmarks in headless Chromium: the command-line
// option reader, the model files (checked), and a local server for a test
// page, the shipped wasm builds (www/pkg) and the model files.
import { createReadStream, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { repoRoot } from '../../tests/e2e/helpers.mjs';

const args = process.argv.slice(2);
export const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);

/** paraphrase-MiniLM-L3's files; exits with a hint when they are missing. */
export function minilmFiles() {
  const model = process.env.SQUISH_MINILM ?? join(repoRoot, '.cache/models/paraphrase_minilm_l3/model.onnx');
  const dir = process.env.SQUISH_MINILM_DIR ?? join(repoRoot, '../shared/models/paraphrase_minilm_l3');
  const files = { '/model.onnx': model, '/tokenizer.json': join(dir, 'tokenizer.json'), '/sentences.json': join(dir, 'sentences.json') };
  for (const f of Object.values(files)) {
    if (!existsSync(f)) {
      console.error(`${f} not found: run ../shared/models/paraphrase_minilm_l3/fetch.sh first`);
      process.exit(2);
    }
  }
  return files;
}

/** Serves `page` at / and the builds and files; resolves to the server (listening). */
export async function serve(page, files) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x').pathname;
    if (url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    const m = url.match(/^\/pkg\/(simd|relaxed)\/(squish\.js|squish_bg\.wasm)$/);
    const path = m ? join(repoRoot, 'www/pkg', m[1], m[2]) : files[url];
    if (!path || !existsSync(path)) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': path.endsWith('.js') ? 'text/javascript' : path.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream' });
    createReadStream(path).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

export const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
