#!/usr/bin/env python3
"""Writes tests/fixtures/synthetic/text_classifier/model.onnx: a small
synthetic text classifier (seeded weights, not trained) over the WordPiece
vocabulary of tests/fixtures/text/tokenizer.json (402 tokens): word
embeddings 402x16, the mean over the tokens the attention mask keeps,
MatMul 16x4, Softmax. Inputs `input_ids`, `attention_mask` (int64, [1, seq]);
output `probs` [1, 4]. For the text probes' CLI and page tests.

    .cache/venv/bin/python scripts/make_text_classifier_fixture.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "synthetic", "text_classifier")


def main():
    rng = np.random.default_rng(20261205)
    inits = [
        numpy_helper.from_array(rng.standard_normal((402, 16)).astype(np.float32), "word_embeddings"),
        numpy_helper.from_array((rng.standard_normal((16, 4)) * 2).astype(np.float32), "head_w"),
        numpy_helper.from_array(np.array([2], np.int64), "last_axis"),
        numpy_helper.from_array(np.array([1], np.int64), "seq_axis"),
    ]
    nodes = [
        helper.make_node("Gather", ["word_embeddings", "input_ids"], ["words"], name="embed"),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], name="mask_float", to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "last_axis"], ["mask3"], name="mask_unsqueeze"),
        helper.make_node("Mul", ["words", "mask3"], ["kept"], name="mask_words"),
        helper.make_node("ReduceSum", ["kept", "seq_axis"], ["summed"], name="sum_words", keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "seq_axis"], ["count"], name="count_words", keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["pooled"], name="mean"),
        helper.make_node("MatMul", ["pooled", "head_w"], ["logits"], name="head/MatMul"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "text_classifier",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "seq"]), helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "seq"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 4])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="squish make_text_classifier_fixture.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    os.makedirs(OUT, exist_ok=True)
    onnx.save(model, os.path.join(OUT, "model.onnx"))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
