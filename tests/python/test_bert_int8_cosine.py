"""bert_minilm (random weights, from ../shared/bench-models), int8 dynamic:
the smallest cosine similarity between the int8 model's and the fp32
model's outputs over 8 random inputs, Squish's int8 (`squish compress`,
run by `squish run`) against onnxruntime's `quantize_dynamic` model (run by
onnxruntime) on the same inputs. Squish's must be at least as high.
Needs the timing models: `npm test` runs it (layer bench-python) only when
../shared/bench-models (or $SQUISH_BENCH_MODELS) exists; without them it fails.
"""
import os
import subprocess
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "www", "cli", "squish.mjs")
BENCH = os.environ.get("SQUISH_BENCH_MODELS") or os.path.join(ROOT, "..", "shared", "bench-models")
BERT = os.path.join(BENCH, "bert_minilm.onnx")


def squish(*args):
    r = subprocess.run(["node", CLI, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"squish {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


class BertInt8Cosine(unittest.TestCase):
    def test_squish_int8_dynamic_is_at_least_as_close_to_fp32_as_onnxruntime(self):
        self.assertTrue(os.path.exists(BERT), f"{BERT} not found: set SQUISH_BENCH_MODELS to the timing models")
        rng = np.random.default_rng(2026)
        with tempfile.TemporaryDirectory() as tmp:
            recipe = os.path.join(tmp, "r.json")
            with open(recipe, "w") as f:
                f.write('{"scheme": "int8_dynamic"}')
            ours = os.path.join(tmp, "squish_int8.onnx")
            squish("compress", BERT, "--recipe", recipe, "--out", ours)
            theirs = os.path.join(tmp, "ort_int8.onnx")
            quantize_dynamic(BERT, theirs, weight_type=QuantType.QInt8)
            fp32 = ort.InferenceSession(BERT, providers=["CPUExecutionProvider"])
            # Exact integer products: compares the quantisations, not this CPU's
            # saturating u8 x s8 kernel (AVX2 without VNNI).
            options = ort.SessionOptions()
            options.add_session_config_entry("session.x64quantprecision", "1")
            ort_int8 = ort.InferenceSession(theirs, options, providers=["CPUExecutionProvider"])
            names = [i.name for i in fp32.get_inputs()]
            cos_squish, cos_ort = [], []
            for s in range(8):
                length = int(rng.integers(16, 129))
                ids = np.zeros((1, 128), np.int64)
                ids[0, :length] = rng.integers(1000, 30000, length)
                mask = np.zeros((1, 128), np.int64)
                mask[0, :length] = 1
                feeds = dict(zip(names, [ids, mask, np.zeros((1, 128), np.int64)]))
                ref = fp32.run(None, feeds)[0]
                cos_ort.append(cosine(ort_int8.run(None, feeds)[0], ref))
                d = os.path.join(tmp, f"in{s}")
                os.makedirs(d)
                for j, n in enumerate(names):
                    with open(os.path.join(d, f"input_{j}.pb"), "wb") as f:
                        f.write(numpy_helper.from_array(feeds[n], n).SerializeToString())
                out = os.path.join(tmp, f"out{s}")
                squish("run", ours, "--inputs", d, "--out", out)
                t = onnx.TensorProto()
                with open(os.path.join(out, "output_0.pb"), "rb") as f:
                    t.ParseFromString(f.read())
                cos_squish.append(cosine(numpy_helper.to_array(t), ref))
            print(f"min cosine vs fp32 over 8 inputs: squish int8 {min(cos_squish):.6f}, onnxruntime quantize_dynamic {min(cos_ort):.6f}", flush=True)
            self.assertGreaterEqual(min(cos_squish), min(cos_ort))


if __name__ == "__main__":
    unittest.main()
