// The built-in demo: scikit-learn's digits classifier (64 → 64 → 32 → 10)
// with its training and held-out splits, straight from the test fixtures.
import modelUrl from '../../tests/fixtures/digits_mlp/model.onnx?url';
import samplesUrl from '../../tests/fixtures/digits_mlp/X_test.npy?url';
import labelsUrl from '../../tests/fixtures/digits_mlp/y_test.npy?url';
import trainSamplesUrl from '../../tests/fixtures/digits_mlp/X_train.npy?url';
import trainLabelsUrl from '../../tests/fixtures/digits_mlp/y_train.npy?url';

import onetUrl from '../../tests/fixtures/mtcnn_onet/model.onnx?url';
import textModelUrl from '../../tests/fixtures/synthetic/text_classifier/model.onnx?url';
import tokenizerUrl from '../../tests/fixtures/text/tokenizer.json?url';

export const DEMO = {
  name: 'digits_mlp.onnx',
  modelUrl,
  samplesUrl,
  labelsUrl,
  // The training split, fetched only when the training card trains on it.
  trainSamplesUrl,
  trainLabelsUrl,
  inputName: 'X',
  side: 8,
};

/**
 * The bytes at `url`; `onProgress({ done, total })` hears the download
 * advance (total is null when the server does not say).
 */
export async function fetchBytes(url, onProgress) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load ${url}: HTTP ${res.status}`);
  if (!onProgress || !res.body) return res.arrayBuffer();
  const total = Number(res.headers.get('content-length')) || null;
  const chunks = [];
  let done = 0;
  for (const reader = res.body.getReader(); ;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    chunks.push(value);
    done += value.byteLength;
    onProgress({ done, total });
  }
  const out = new Uint8Array(done);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out.buffer;
}

export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * The other built-in demos, each a fixture model with the inputs that suit
 * it (offline: the files ship with the page). `inputs`: the compare card's
 * settings; `tokenizerUrl`: a tokenizer.json for text inputs.
 */
export const OTHER_DEMOS = {
  onet: {
    label: 'image CNN (MTCNN ONet)',
    title: 'MTCNN ONet face classifier: 48×48 RGB, compared on 16 seeded random images',
    name: 'mtcnn_onet.onnx',
    modelUrl: onetUrl,
    inputs: { source: 'random', count: 16, seed: 0, dims: 'batch=1', probes: 'tensor' },
  },
  text: {
    label: 'text classifier (synthetic)',
    title: 'A small synthetic text classifier (seeded, untrained weights) with its tokenizer and four sentences',
    name: 'text_classifier.onnx',
    modelUrl: textModelUrl,
    tokenizerUrl,
    inputs: { source: 'text', probes: 'text',
      texts: 'The quick brown fox jumps over the lazy dog.\nHello, world! This is a test of the tokenizer.\nWe run the model on the job it is meant to do.\nA small model can still tell these apart.' },
  },
};
