#!/usr/bin/env python3
"""Extra benchmark models, made from PyPI packages into OUT (cached):
ResNet50 from the onnx wheel's light models (placeholder weights), and int8
variants made by onnxruntime's quantize_dynamic from the given models.

    python3 scripts/bench/prepare_models.py OUT [MODEL.onnx ...]
"""
import os
import shutil
import sys

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    light = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_resnet50.onnx")
    target = os.path.join(out, "resnet50.onnx")
    if not os.path.exists(target):
        shutil.copy(light, target)
        print(f"resnet50: copied from {light}")
    for src in sys.argv[2:]:
        name = os.path.splitext(os.path.basename(src))[0] + "_int8dyn.onnx"
        dst = os.path.join(out, name)
        if os.path.exists(dst):
            continue
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        print(f"{name}: onnxruntime quantize_dynamic (QInt8 weights)")


if __name__ == "__main__":
    main()
