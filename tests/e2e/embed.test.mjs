// The widget on a documentation page: the page on origin A, the widget's
// files on origin B (CORS), the documented Content-Security-Policy sent as
// a header. Both widgets start, nothing heavy is fetched before first use,
// the compact one runs the recipe from its attribute and its `compared`
// event carries the metrics; no request goes anywhere but A and B. Then
// the same from the `npm pack` tarball installed into a scratch folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { launchBrowser, repoRoot } from './helpers.mjs';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm' };

/** The policy README "Embedding" documents, for a page on `page` loading the widget from `widget`. */
export function embedPolicy(widget) {
  return [`default-src 'none'`, `script-src 'self' ${widget} 'wasm-unsafe-eval'`, `worker-src blob: ${widget}`, `connect-src ${widget}`,
    `style-src 'self'`, `img-src 'self' data:`, `base-uri 'none'`, `form-action 'none'`].join('; ');
}

/** A static file server on a free loopback port; `log` lists [path, bytes] served. */
function serve(root, { headers = {}, rewrite = (path, body) => body } = {}) {
  const log = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = normalize(join(root, path === '/' ? 'embed-example.html' : path));
    let body;
    try {
      if (!file.startsWith(normalize(root)) || !statSync(file).isFile()) throw new Error('not found');
      body = rewrite(path, readFileSync(file));
    } catch {
      res.writeHead(404, headers).end();
      log.push([path, 0]);
      return;
    }
    log.push([path, body.length]);
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', ...headers }).end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ origin: `http://127.0.0.1:${server.address().port}`, log, close: () => new Promise((r) => server.close(r)) });
  }));
}

/** Origin B serves the widget files with CORS; origin A the example page under the policy, its script tag pointing at B. */
async function origins(widgetDir, pageDir) {
  const b = await serve(widgetDir, { headers: { 'Access-Control-Allow-Origin': '*' } });
  const a = await serve(pageDir, {
    headers: { 'Content-Security-Policy': embedPolicy(b.origin) },
    rewrite: (path, body) => (path === '/' ? Buffer.from(body.toString('utf8').replace('./squish-playground.js', `${b.origin}/squish-playground.js`)) : body),
  });
  return { a, b };
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

const heavy = (log) => log.filter(([p]) => /\.(wasm|onnx|npy)$|worker-/.test(p));
const bytes = (log) => log.reduce((s, [, n]) => s + n, 0);

/** The example page from A with the widget from B; returns the figures the note quotes. */
async function runExample(a, b, shots) {
  const page = await browser.newPage();
  const outside = [];
  await page.context().route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(a.origin) || url.startsWith(b.origin)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${a.origin}/`);
  await page.waitForFunction(() => customElements.get('squish-playground'));
  for (const id of ['full', 'compact']) await page.locator(`#${id}`).getByTestId('not-started').waitFor();
  await page.waitForTimeout(1000);
  assert.deepEqual(heavy(b.log), [], 'nothing heavy before first use');
  const before = { page: bytes(a.log), widget: bytes(b.log) };

  // The compact widget: one click starts it and runs the recipe from its attribute.
  const compared = page.evaluate(() => new Promise((resolve) => {
    document.getElementById('compact').addEventListener('compared', (e) => resolve({ ...e.detail, report: undefined, markdown: undefined }), { once: true });
  }));
  assert.equal(await page.locator('#compact').getByTestId('recipe').inputValue(), '{"scheme": "int8_dynamic"}');
  assert.ok(await page.locator('#compact').getByTestId('demo').isHidden(), 'compact: no demo card');
  await page.locator('#compact').getByTestId('compare').click();
  const detail = await Promise.race([compared, page.waitForTimeout(60_000).then(() => {
    throw new Error(`no compared event: ${problems.join('; ')}`);
  })]);
  assert.equal(detail.examples, 450);
  assert.ok(detail.agreement >= 0.99, `agreement ${detail.agreement}`);
  assert.ok(detail.sizes.compressed.raw < detail.sizes.original.raw, JSON.stringify(detail.sizes));
  assert.equal(detail.recipe.scheme, 'int8_dynamic');
  // The other widget starts on its own Start, independent of the first.
  await page.locator('#full').getByTestId('start').click();
  await page.locator('#full').getByTestId('predicted-class').waitFor({ timeout: 60_000 });
  assert.ok(await page.locator('#full').getByTestId('report').textContent() === '', 'the full widget has compared nothing');
  assert.match(await page.getByTestId('events').textContent(), /compact: compared \(agreement /);
  if (shots) {
    mkdirSync(join(repoRoot, 'target/e2e'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, 'target/e2e/embed.png'), fullPage: true });
  }
  assert.deepEqual(outside, [], 'no request leaves A and B');
  assert.deepEqual(problems, [], 'no console errors (a CSP violation would be one)');
  const after = { page: bytes(a.log), widget: bytes(b.log), wasmFetches: b.log.filter(([p]) => p.endsWith('.wasm')).length };
  await page.close();
  return { before, after };
}

test('the widget from another origin, under the documented CSP: lazy, two independent widgets, events', async () => {
  const dist = join(repoRoot, 'dist');
  const { a, b } = await origins(dist, dist);
  try {
    const figures = await runExample(a, b, true);
    console.log(`# embed bytes: before first use page ${figures.before.page} + widget ${figures.before.widget}; `
      + `after page ${figures.after.page} + widget ${figures.after.widget} (${figures.after.wasmFetches} wasm fetches)`);
  } finally {
    await a.close();
    await b.close();
  }
});

test('the npm pack tarball, installed into a scratch folder, serves the same example', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'squish-pack-'));
  const pack = spawnSync('npm', ['pack', '--pack-destination', scratch, '--silent'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const tarball = join(scratch, pack.stdout.trim().split('\n').at(-1));
  const app = join(scratch, 'docs-site');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'docs-site', private: true }));
  const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app, encoding: 'utf8' });
  assert.equal(install.status, 0, install.stderr);
  const installed = join(app, 'node_modules/squish');
  // The CLI comes with it and runs (its own wasm build for Node).
  const version = spawnSync(process.execPath, [join(installed, 'www/cli/squish.mjs'), 'version'], { encoding: 'utf8' });
  assert.equal(version.status, 0, version.stderr);
  const { a, b } = await origins(join(installed, 'dist'), join(installed, 'dist'));
  try {
    await runExample(a, b, false);
  } finally {
    await a.close();
    await b.close();
  }
});
