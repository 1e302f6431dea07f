#!/usr/bin/env python3
"""Extra benchmark models, made from PyPI packages into OUT (cached):
ResNet50 from the onnx wheel's light models (IR 3, placeholder weights made
by ConstantOfShape at run time), the same network with seeded random
real-valued weights stored as initializers (IR 8: resnet50_random), and int8
variants made by onnxruntime's quantize_dynamic from the given models.

    python3 scripts/bench/prepare_models.py OUT [MODEL.onnx ...]
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    light = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_resnet50.onnx")
    target = os.path.join(out, "resnet50.onnx")
    if not os.path.exists(target):
        shutil.copy(light, target)
        print(f"resnet50: copied from {light}")
    random_target = os.path.join(out, "resnet50_random.onnx")
    if not os.path.exists(random_target):
        onnx.save(with_random_weights(onnx.load(light)), random_target)
        print("resnet50_random: light ResNet50 with seeded random weights as initializers (IR 8)")
    for src in sys.argv[2:]:
        name = os.path.splitext(os.path.basename(src))[0] + "_int8dyn.onnx"
        dst = os.path.join(out, name)
        if os.path.exists(dst):
            continue
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        print(f"{name}: onnxruntime quantize_dynamic (QInt8 weights)")


def with_random_weights(model):
    """The light model's ConstantOfShape weights replaced by initializers:
    He-scaled normal filters, batch-norm statistics near identity with
    positive variances, small biases (seed 0)."""
    rng = np.random.default_rng(0)
    g = model.graph
    shapes = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    role = {}
    for n in g.node:
        if n.op_type == "BatchNormalization":
            for i, name in enumerate(n.input[1:5], start=1):
                role[name] = ("bn_scale", "bn_bias", "bn_mean", "bn_var")[i - 1]
    weights, kept = [], []
    for n in g.node:
        if n.op_type != "ConstantOfShape" or n.input[0] not in shapes:
            kept.append(n)
            continue
        shape = tuple(int(d) for d in shapes[n.input[0]])
        kind = role.get(n.output[0])
        if kind == "bn_var":
            a = rng.uniform(0.5, 1.5, shape)
        elif kind == "bn_scale":
            a = 1 + 0.1 * rng.standard_normal(shape)
        elif len(shape) >= 2:
            a = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))
        else:
            a = 0.05 * rng.standard_normal(shape)
        weights.append(numpy_helper.from_array(a.astype(np.float32), n.output[0]))
    del g.node[:]
    g.node.extend(kept)
    read = {i for n in kept for i in n.input}
    inits = [t for t in g.initializer if t.name in read] + weights
    del g.initializer[:]
    g.initializer.extend(inits)
    stored = set(shapes) | {t.name for t in weights}
    real = [vi for vi in g.input if vi.name not in stored]
    del g.input[:]
    g.input.extend(real)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    main()
