"""Cross-checks against onnxruntime (Python), driving the `squish` CLI as a
user would:

* `squish convert`: the model Squish writes loads in onnxruntime and gives
  bit-identical outputs to the original file;
* `squish run`: Squish's outputs agree with onnxruntime's on the same
  inputs within max |d| <= 1e-4 * (1 + |ref|).

Run by scripts/test.mjs with the pinned venv (.cache/venv).
"""
import glob
import os
import subprocess
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "www", "cli", "squish.mjs")
MODELS = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "*", "model.onnx")))


def squish(*args):
    r = subprocess.run(["node", CLI, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"squish {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def load_inputs(model_dir, session):
    data = os.path.join(model_dir, "test_data_set_0")
    feeds = {}
    for j, inp in enumerate(session.get_inputs()):
        t = onnx.TensorProto()
        with open(os.path.join(data, f"input_{j}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        feeds[inp.name] = numpy_helper.to_array(t)
    return feeds


class CrossCheck(unittest.TestCase):
    def test_converted_models_give_identical_outputs_in_onnxruntime(self):
        for path in MODELS:
            name = os.path.basename(os.path.dirname(path))
            with self.subTest(model=name), tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "converted.onnx")
                squish("convert", path, out)
                onnx.checker.check_model(out)
                a = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                b = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
                feeds = load_inputs(os.path.dirname(path), a)
                for x, y in zip(a.run(None, feeds), b.run(None, feeds)):
                    np.testing.assert_array_equal(x, y)

    def test_squish_run_agrees_with_onnxruntime(self):
        for path in MODELS:
            name = os.path.basename(os.path.dirname(path))
            model_dir = os.path.dirname(path)
            with self.subTest(model=name), tempfile.TemporaryDirectory() as tmp:
                squish("run", path, "--inputs", os.path.join(model_dir, "test_data_set_0"), "--out", tmp)
                sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                want = sess.run(None, load_inputs(model_dir, sess))
                for j, ref in enumerate(want):
                    t = onnx.TensorProto()
                    with open(os.path.join(tmp, f"output_{j}.pb"), "rb") as f:
                        t.ParseFromString(f.read())
                    got = numpy_helper.to_array(t)
                    self.assertEqual(got.shape, np.asarray(ref).shape)
                    excess = np.max(np.abs(got - ref) - 1e-4 * (1 + np.abs(ref)), initial=-1.0)
                    self.assertLessEqual(excess, 0.0, f"{name} output {j}")

    def test_run_reports_missing_inputs_clearly(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run(["node", CLI, "run", MODELS[0], "--inputs", tmp, "--out", tmp], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("missing input_0.pb or input_0.npy", r.stderr)


if __name__ == "__main__":
    unittest.main()
