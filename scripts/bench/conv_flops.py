#!/usr/bin/env python3
"""FLOP of every model's Conv nodes (FLOP = 2 × multiply-adds), for the
benchmark's Conv GFLOP/s lines: prints {"path": {"flop": F, "convs": N,
"nodes": {NAME: {"flop": F, "kernel": "KHxKW", "group": G}}}} (FLOP of a
Winograd layer: its direct convolution's, as for every other).
Shapes come from onnx shape inference; a Conv whose filter or output shape
is not known statically makes the model's entry null.

    python3 scripts/bench/conv_flops.py MODEL.onnx ...
"""
import json
import math
import sys

import onnx
from onnx import shape_inference


def conv_flop(path):
    model = shape_inference.infer_shapes(onnx.load(path))
    g = model.graph
    dims = {t.name: list(t.dims) for t in g.initializer}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        d = [x.dim_value if x.HasField("dim_value") else None for x in vi.type.tensor_type.shape.dim]
        dims.setdefault(vi.name, d)
    flop, convs, nodes = 0, 0, {}
    for n in g.node:
        if n.op_type != "Conv":
            continue
        w, y = dims.get(n.input[1]), dims.get(n.output[0])
        if not w or not y or None in w or None in y:
            return None
        # Each output value: one multiply-add per filter tap of its group.
        node_flop = 2 * math.prod(y) * math.prod(w[1:])
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        nodes[n.name] = {"flop": node_flop, "kernel": "x".join(map(str, w[2:])), "group": group}
        flop += node_flop
        convs += 1
    return {"flop": flop, "convs": convs, "nodes": nodes} if convs else None


if __name__ == "__main__":
    print(json.dumps({p: conv_flop(p) for p in sys.argv[1:]}))
