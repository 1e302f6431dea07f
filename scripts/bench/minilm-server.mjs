// Shared by the benchmarks in headless Chromium: the command-line option
// reader, the MiniLM model files (checked), a local server for a test page,
// the shipped wasm builds (www/pkg) and data files, and the page opened.
import { createReadStream, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { launchBrowser, repoRoot } from '../../tests/e2e/helpers.mjs';

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

/**
 * Serves `page` and `files`, opens the page in headless Chromium and waits
 * for its `window.ready`. `close()` ends the browser and the server.
 */
export async function openPage(page, files) {
  const server = await serve(page, files);
  const browser = await launchBrowser();
  const tab = await browser.newPage();
  tab.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  await tab.waitForFunction(() => window.ready);
  return { page: tab, browser, close: async () => { await browser.close(); server.close(); } };
}

export const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
