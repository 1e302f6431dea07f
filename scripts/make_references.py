#!/usr/bin/env python3
"""Reference outputs for models that ship without them.

For every MODEL.onnx in a folder, draw seeded inputs from the declared
input types and shapes, run onnxruntime (CPU), and write the ONNX test
layout: OUT/<model>/test_data_set_0/input_J.pb and output_J.pb.
Symbolic dimensions become 1 (batch) unless --dim NAME=VALUE says otherwise.
Integer inputs whose name mentions "mask" are ones, "type" zeros, other
integers uniform in [0, 1000).

    python3 scripts/make_references.py MODELS_DIR OUT_DIR
"""
import argparse
import importlib.metadata
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


def make_input(inp, rng, dims):
    shape = [d if isinstance(d, int) and d > 0 else dims.get(d, 1) for d in inp.shape]
    name = inp.name.lower()
    if inp.type in INT_TYPES:
        dtype = INT_TYPES[inp.type]
        if "mask" in name:
            return np.ones(shape, dtype)
        if "type" in name:
            return np.zeros(shape, dtype)
        return rng.integers(0, 1000, size=shape).astype(dtype)
    if inp.type == "tensor(float)":
        return rng.standard_normal(shape).astype(np.float32)
    raise SystemExit(f"{inp.name}: input type {inp.type} not handled")


def toolset():
    """Every installed distribution at its version: what the references depend on."""
    return "\n".join(sorted(f"{d.metadata['Name'].lower()}=={d.version}" for d in importlib.metadata.distributions()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models")
    ap.add_argument("out")
    ap.add_argument("--dim", action="append", default=[], help="NAME=VALUE for symbolic dimensions")
    args = ap.parse_args()
    dims = dict((k, int(v)) for k, v in (d.split("=") for d in args.dim))
    # References made by other package versions are remade (the lock changed).
    stamp = os.path.join(args.out, "toolset")
    if not (os.path.exists(stamp) and open(stamp).read() == toolset()):
        shutil.rmtree(args.out, ignore_errors=True)
        os.makedirs(args.out)
        with open(stamp, "w") as f:
            f.write(toolset())
    for fname in sorted(os.listdir(args.models)):
        if not fname.endswith(".onnx"):
            continue
        name = fname[:-5]
        target = os.path.join(args.out, name, "test_data_set_0")
        if os.path.exists(os.path.join(target, "output_0.pb")):
            print(f"{name}: cached")
            continue
        os.makedirs(target, exist_ok=True)
        sess = ort.InferenceSession(os.path.join(args.models, fname), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        feeds = {i.name: make_input(i, rng, dims) for i in sess.get_inputs()}
        outs = sess.run(None, feeds)
        for j, inp in enumerate(sess.get_inputs()):
            t = numpy_helper.from_array(feeds[inp.name], inp.name)
            open(os.path.join(target, f"input_{j}.pb"), "wb").write(t.SerializeToString())
        for j, (o, v) in enumerate(zip(sess.get_outputs(), outs)):
            t = numpy_helper.from_array(np.asarray(v), o.name)
            open(os.path.join(target, f"output_{j}.pb"), "wb").write(t.SerializeToString())
        print(f"{name}: {len(feeds)} inputs, {len(outs)} outputs (onnxruntime {ort.__version__})")


if __name__ == "__main__":
    sys.exit(main())
