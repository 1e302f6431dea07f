#!/usr/bin/env python3
"""Lists the op types used by the real models Squish is held to (the test
fixtures, the shared timing models, and the onnx wheel's light models),
subgraphs included. Output: tests/conformance/real_model_ops.txt, which
decides which ONNX node tests count as "in scope" for the conformance score.

    python3 scripts/real_model_ops.py [BENCH_MODELS_DIR]
"""
import glob
import os
import sys

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ops(graph, acc):
    for n in graph.node:
        acc.add(n.op_type)
        for a in n.attribute:
            if a.HasField("g"):
                ops(a.g, acc)
            for g in a.graphs:
                ops(g, acc)


def main():
    bench = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "bench-models")
    light = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    files = glob.glob(os.path.join(ROOT, "tests", "fixtures", "*", "model.onnx"))
    files += glob.glob(os.path.join(bench, "*.onnx")) + glob.glob(os.path.join(light, "*.onnx"))
    # Ops the engine issue names explicitly besides those the models use.
    acc = {"ConvTranspose", "Resize", "Gelu", "Range", "HardSwish"}
    for f in files:
        ops(onnx.load(f, load_external_data=False).graph, acc)
    out = os.path.join(ROOT, "tests", "conformance", "real_model_ops.txt")
    with open(out, "w") as fh:
        fh.write(f"# Op types of {len(files)} real models, plus those the engine issue names (scripts/real_model_ops.py)\n")
        fh.write("\n".join(sorted(acc)) + "\n")
    print(f"{len(acc)} op types from {len(files)} models -> {out}")


if __name__ == "__main__":
    main()
