import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative asset URLs, so the built page and widget work under any path.
  base: './',
  // The demo model and samples are the test fixtures themselves (one copy in the repo).
  assetsInclude: ['**/*.onnx', '**/*.npy'],
  server: { fs: { allow: [repoRoot] } },
  worker: { format: 'es' },
  build: {
    outDir: fileURLToPath(new URL('../dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // wasm and model files must stay files, never inlined as base64.
    assetsInlineLimit: 0,
    // Two entries: the page, and the widget as one ES module at a stable
    // name (dist/squish-playground.js) that documentation sites load; its
    // worker, wasm and demo files sit in assets/, found from its own URL.
    rollupOptions: {
      input: {
        index: fileURLToPath(new URL('index.html', import.meta.url)),
        widget: fileURLToPath(new URL('widget/squish-playground.js', import.meta.url)),
      },
      output: { entryFileNames: (chunk) => (chunk.name === 'widget' ? 'squish-playground.js' : 'assets/[name]-[hash].js') },
    },
  },
});
