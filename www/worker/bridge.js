// Main-thread side of the engine worker. Each call is a message; a call
// aborted through its AbortSignal terminates the worker (the only way to
// stop wasm mid-run) and every later call starts a fresh one. Consumers
// watch `generation` to know when engine state (loaded models) was lost.
import workerUrl from './worker.js?worker&url';

let blobUrl = null;

/**
 * Where to start the worker from. Browsers start workers only from the
 * page's own origin: when the widget's files are served from another one
 * (a CDN), a module worker is made from a blob whose one line imports the
 * real worker script (fetched with CORS), so its own imports, the wasm and
 * the demo files still resolve against the widget's origin.
 */
function workerSource() {
  const url = new URL(workerUrl, import.meta.url);
  if (url.origin === globalThis.location?.origin) return url;
  blobUrl ??= URL.createObjectURL(new Blob([`import ${JSON.stringify(url.href)};\n`], { type: 'text/javascript' }));
  return blobUrl;
}

export class EngineBridge {
  #worker = null;
  #pending = new Map();
  #nextId = 1;
  generation = 0;

  #spawn() {
    const w = new Worker(workerSource(), { type: 'module' });
    w.onmessage = ({ data }) => {
      const p = this.#pending.get(data.id);
      if (!p) return;
      if (data.progress) {
        p.onProgress?.(data.progress);
        return;
      }
      this.#pending.delete(data.id);
      if (data.ok) p.resolve(data.result);
      else p.reject(new Error(data.error));
    };
    w.onerror = (ev) => {
      ev.preventDefault();
      this.#fail(new Error(`engine worker failed: ${ev.message || 'could not start (is WebAssembly allowed here?)'}`));
    };
    this.#worker = w;
    this.generation += 1;
  }

  #fail(error) {
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    this.#worker?.terminate();
    this.#worker = null;
  }

  /**
   * Calls `method` in the worker. `transfer` lists buffers to move, not copy;
   * `onProgress({ stage, done, total })` hears long calls advance.
   */
  call(method, args = {}, { signal, transfer = [], onProgress } = {}) {
    if (signal?.aborted) return Promise.reject(new DOMException('cancelled', 'AbortError'));
    if (!this.#worker) this.#spawn();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      signal?.addEventListener('abort', () => {
        if (this.#pending.has(id)) this.#fail(new DOMException('cancelled', 'AbortError'));
      }, { once: true });
      this.#worker.postMessage({ id, method, args }, transfer);
    });
  }

  /** Whether a worker is running (a cancelled call ends it; the next call starts a fresh one). */
  get running() {
    return this.#worker !== null;
  }

  terminate() {
    this.#fail(new DOMException('terminated', 'AbortError'));
  }
}

let shared = null;

/**
 * The engine worker every <squish-playground> on a page shares for light
 * work (the demo, opening models); each element keeps its models under its
 * own keys. Work that can be cancelled (which ends a worker) gets a
 * worker of its own.
 */
export function sharedBridge() {
  shared ??= new EngineBridge();
  return shared;
}
