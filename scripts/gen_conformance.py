#!/usr/bin/env python3
"""Generates the official ONNX node conformance cases into a folder.

The `onnx` wheel ships the node test generators but not their data; this
runs them with the wheel's own writer (cmd_tools.generate_data) pointed at
the node cases. Output: OUT/node/<case>/model.onnx + test_data_set_*/.
A stamp file records every Python package of the environment with its
version (the hash-locked closure of scripts/requirements-test.txt), so
reruns are instant and a changed lock regenerates the cases.

    python3 scripts/gen_conformance.py OUT
"""
import argparse
import importlib.metadata
import os
import shutil
import sys

import onnx
import onnx.backend.test.case.node as node_cases
import onnx.backend.test.cmd_tools as cmd_tools


def toolset():
    """Every installed distribution at its version: what the data depend on."""
    return "\n".join(sorted(f"{d.metadata['Name'].lower()}=={d.version}" for d in importlib.metadata.distributions()))


def main():
    out = sys.argv[1]
    stamp = os.path.join(out, "toolset")
    if os.path.exists(stamp) and open(stamp).read() == toolset():
        print(f"onnx node tests: cached in {out} (onnx {onnx.__version__})")
        return 0
    shutil.rmtree(out, ignore_errors=True)
    cmd_tools.model_test.collect_testcases = lambda: node_cases.collect_testcases(None)
    cmd_tools.generate_data(argparse.Namespace(output=out))
    count = len(os.listdir(os.path.join(out, "node")))
    with open(stamp, "w") as f:
        f.write(toolset())
    print(f"onnx node tests: generated {count} cases into {out} (onnx {onnx.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
