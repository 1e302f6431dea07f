#!/usr/bin/env python3
"""Writes tests/fixtures/external/: the digits demo model saved with its
weights in an external data file (onnx.save_model(save_as_external_data=True)),
for the loader's external-data path (tests/external_data_native.rs, the page's
several-files drop).

    .cache/venv/bin/python scripts/make_external_data_fixture.py
"""
import os

import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "external")


def main():
    model = onnx.load(os.path.join(ROOT, "tests", "fixtures", "digits_mlp", "model.onnx"))
    # skl2onnx writes float_data; external data is written from raw_data.
    for i, t in enumerate(model.graph.initializer):
        model.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t), t.name))
    os.makedirs(OUT, exist_ok=True)
    onnx.save_model(model, os.path.join(OUT, "digits_external.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="digits_external.onnx.data", size_threshold=256)
    check = onnx.load(os.path.join(OUT, "digits_external.onnx"), load_external_data=False)
    external = sum(1 for t in check.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)
    print(f"{external} of {len(check.graph.initializer)} initializers external")


if __name__ == "__main__":
    main()
