#!/usr/bin/env python3
"""Writes tests/fixtures/synthetic/text_embedding/: a small synthetic text
encoder (seeded weights, not trained) whose float weights are mostly
embedding tables, for the format cross-checks of quantised tables
(GatherBlockQuantized, blocked DequantizeLinear + Gather, per-row int8):
word table 300x64, position table 32x64, token-type table 2x64 (too small
to quantise), LayerNormalization, MatMul 64x64 + Relu, MatMul 64x16, mean
over the sequence. test_data_set_0 holds two inputs and onnxruntime's output.

    .cache/venv/bin/python scripts/make_text_embedding_fixture.py
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "synthetic", "text_embedding")


def main():
    rng = np.random.default_rng(20261203)
    f = lambda *s: (rng.standard_normal(s) * 0.1).astype(np.float32)
    word = f(300, 64)
    word[7, 3] = 1.5  # an outlier, as real tables have
    inits = [
        numpy_helper.from_array(word, "word_embeddings"),
        numpy_helper.from_array(f(32, 64), "position_embeddings"),
        numpy_helper.from_array(f(2, 64), "token_type_embeddings"),
        numpy_helper.from_array(np.zeros((1, 1), np.int64), "token_type_ids"),
        numpy_helper.from_array(1 + f(64), "ln_scale"),
        numpy_helper.from_array(f(64), "ln_bias"),
        numpy_helper.from_array(f(64, 64), "dense_w"),
        numpy_helper.from_array(f(64), "dense_b"),
        numpy_helper.from_array(f(64, 16), "out_w"),
        numpy_helper.from_array(np.array([1], np.int64), "seq_axis"),
    ]
    nodes = [
        helper.make_node("Gather", ["word_embeddings", "input_ids"], ["words"], name="word_embeddings/Gather"),
        helper.make_node("Gather", ["position_embeddings", "position_ids"], ["positions"], name="position_embeddings/Gather"),
        helper.make_node("Gather", ["token_type_embeddings", "token_type_ids"], ["types"], name="token_type_embeddings/Gather"),
        helper.make_node("Add", ["words", "positions"], ["wp"], name="add_positions"),
        helper.make_node("Add", ["wp", "types"], ["embedded"], name="add_types"),
        helper.make_node("LayerNormalization", ["embedded", "ln_scale", "ln_bias"], ["normed"], name="ln", axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["normed", "dense_w"], ["dense"], name="dense/MatMul"),
        helper.make_node("Add", ["dense", "dense_b"], ["dense_biased"], name="dense/Add"),
        helper.make_node("Relu", ["dense_biased"], ["hidden"], name="relu"),
        helper.make_node("MatMul", ["hidden", "out_w"], ["tokens"], name="out/MatMul"),
        helper.make_node("ReduceMean", ["tokens", "seq_axis"], ["pooled"], name="pool", keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "text_embedding",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]), helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", 16])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="squish make_text_embedding_fixture.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(os.path.join(OUT, "test_data_set_0"), exist_ok=True)
    onnx.save(model, os.path.join(OUT, "model.onnx"))
    ids = rng.integers(0, 300, (2, 12)).astype(np.int64)
    ids[0, 0] = 7
    pos = np.tile(np.arange(12, dtype=np.int64), (2, 1))
    (out,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids, "position_ids": pos})
    for name, arr in [("input_0", ids), ("input_1", pos), ("output_0", out)]:
        with open(os.path.join(OUT, "test_data_set_0", f"{name}.pb"), "wb") as fh:
            fh.write(numpy_helper.from_array(arr).SerializeToString())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
