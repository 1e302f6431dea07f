"""The `squish` CLI from the Python cross-checks: a command, and a model's
first output on one input as Squish computes it."""
import os
import subprocess

import numpy as np
import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "www", "cli", "squish.mjs")
DIGITS = os.path.join(ROOT, "tests", "fixtures", "digits_mlp")


def squish(*args):
    r = subprocess.run(["node", CLI, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"squish {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def squish_output(model, x, tmp):
    """`squish run MODEL` on the one input `x`: its first output."""
    inputs, outputs = os.path.join(tmp, "in"), os.path.join(tmp, os.path.basename(model) + ".out")
    os.makedirs(inputs, exist_ok=True)
    np.save(os.path.join(inputs, "input_0.npy"), x)
    squish("run", model, "--inputs", inputs, "--out", outputs)
    t = onnx.TensorProto()
    with open(os.path.join(outputs, "output_0.pb"), "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t)
