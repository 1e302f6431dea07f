"""Writes tests/fixtures/ops/<case>/: one-node models of onnxruntime's
transformer fusions (com.microsoft FastGelu, BiasGelu, QuickGelu,
SkipLayerNormalization, EmbedLayerNormalization, Attention,
MultiHeadAttention, RotaryEmbedding) and of standard ops whose official
node tests leave attribute cases out (GRU linear_before_reset=1 and
sequence_lens, RNN, Einsum, NonMaxSuppression), with seeded random inputs
and onnxruntime's CPU outputs, in the ONNX backend-test layout
(`model.onnx`, `test_data_set_0/input_J.pb`, `output_J.pb`).
`tests/ops_native.rs` runs every case in Squish.

    .cache/venv/bin/python scripts/make_op_fixtures.py

Every case has a fixed seed, so rerunning it with the pinned onnxruntime
rewrites the same files.
"""
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "ops")
MS = "com.microsoft"
DTYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int32): TensorProto.INT32, np.dtype(np.int64): TensorProto.INT64}


def write_case(name, op, inputs, outputs, attrs=None, domain="", opset=17):
    """`inputs`: list of (name, array or None) in the op's input order (None: omitted)."""
    feeds = {n: a for n, a in inputs if a is not None}
    node = helper.make_node(op, [n if a is not None else "" for n, a in inputs], [o or "" for o in outputs], domain=domain, **(attrs or {}))
    while node.input and node.input[-1] == "":
        node.input.pop()
    graph_inputs = [helper.make_tensor_value_info(n, DTYPES[a.dtype], a.shape) for n, a in inputs if a is not None]
    out_type = {"mask_index": TensorProto.INT32, "selected": TensorProto.INT64}
    graph_outputs = [helper.make_tensor_value_info(o, out_type.get(o, TensorProto.FLOAT), None) for o in outputs if o]
    graph = helper.make_graph([node], name, graph_inputs, graph_outputs)
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(MS, 1)] if domain == MS else [])
    model = helper.make_model(graph, opset_imports=imports, ir_version=8)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = sess.run(None, feeds)
    d = os.path.join(OUT, name)
    data = os.path.join(d, "test_data_set_0")
    os.makedirs(data)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for j, (n, a) in enumerate((n, a) for n, a in inputs if a is not None):
        with open(os.path.join(data, f"input_{j}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, n).SerializeToString())
    for j, (o, r) in enumerate(zip([o for o in outputs if o], results)):
        with open(os.path.join(data, f"output_{j}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.asarray(r), o).SerializeToString())
    print(f"{name}: {[np.asarray(r).shape for r in results]}")


def rng(seed):
    return np.random.default_rng(seed)


def f32(r, *shape, scale=1.0):
    return (r.standard_normal(shape) * scale).astype(np.float32)


def gelus():
    r = rng(1)
    write_case("fastgelu_plain", "FastGelu", [("X", f32(r, 2, 3, 8, scale=2))], ["Y"], domain=MS)
    write_case("fastgelu_bias", "FastGelu", [("X", f32(r, 2, 3, 8, scale=2)), ("bias", f32(r, 8))], ["Y"], domain=MS)
    write_case("biasgelu_3d", "BiasGelu", [("A", f32(r, 2, 4, 16, scale=2)), ("B", f32(r, 16))], ["C"], domain=MS)
    write_case("biasgelu_2d", "BiasGelu", [("A", f32(r, 5, 7, scale=3)), ("B", f32(r, 7))], ["C"], domain=MS)
    write_case("quickgelu_default", "QuickGelu", [("X", f32(r, 3, 10, scale=3))], ["Y"], domain=MS)
    write_case("quickgelu_alpha", "QuickGelu", [("X", f32(r, 2, 2, 6, scale=3))], ["Y"], {"alpha": 1.0}, domain=MS)


def layer_norms():
    r = rng(2)
    h = 16
    write_case("skiplayernorm_full", "SkipLayerNormalization",
               [("input", f32(r, 2, 3, h)), ("skip", f32(r, 2, 3, h)), ("gamma", f32(r, h)), ("beta", f32(r, h)), ("bias", f32(r, h))],
               ["output", "mean", "inv_std_var", "input_skip_bias_sum"], {"epsilon": 1e-5}, domain=MS)
    write_case("skiplayernorm_gamma_only", "SkipLayerNormalization",
               [("input", f32(r, 1, 5, h, scale=4)), ("skip", f32(r, 1, 5, h)), ("gamma", f32(r, h))], ["output"], domain=MS)
    write_case("skiplayernorm_2d_skip", "SkipLayerNormalization",
               [("input", f32(r, 2, 4, h)), ("skip", f32(r, 4, h)), ("gamma", f32(r, h)), ("beta", f32(r, h))], ["output"], {"epsilon": 1e-6}, domain=MS)
    b, s, vocab = 2, 5, 30
    ids = r.integers(0, vocab, (b, s)).astype(np.int32)
    seg = r.integers(0, 2, (b, s)).astype(np.int32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=np.int32)
    write_case("embedlayernorm_segments_mask", "EmbedLayerNormalization",
               [("input_ids", ids), ("segment_ids", seg), ("word_embedding", f32(r, vocab, h)), ("position_embedding", f32(r, 8, h)),
                ("segment_embedding", f32(r, 2, h)), ("gamma", f32(r, h)), ("beta", f32(r, h)), ("mask", mask)],
               ["output", "mask_index"], {"epsilon": 1e-5}, domain=MS)
    write_case("embedlayernorm_sum_out", "EmbedLayerNormalization",
               [("input_ids", ids), ("segment_ids", seg), ("word_embedding", f32(r, vocab, h)), ("position_embedding", f32(r, 6, h)),
                ("segment_embedding", f32(r, 2, h)), ("gamma", f32(r, h)), ("beta", f32(r, h))],
               ["output", "mask_index", "embedding_sum"], domain=MS)


def attention():
    r = rng(3)
    b, s, hin, n = 2, 4, 8, 2

    def proj(cols):
        return [("input", f32(r, b, s, hin)), ("weights", f32(r, hin, cols, scale=0.5)), ("bias", f32(r, cols, scale=0.1))]

    lens = np.array([3, 4], dtype=np.int32)
    write_case("attention_lengths", "Attention", proj(24) + [("mask_index", lens)], ["output"], {"num_heads": n}, domain=MS)
    raw = np.array([[1, 1, 0, 1], [1, 0, 1, 1]], dtype=np.int32)
    write_case("attention_causal_raw_mask", "Attention", proj(24) + [("mask_index", raw)], ["output", "present"],
               {"num_heads": n, "unidirectional": 1}, domain=MS)
    ends_starts = np.array([4, 3, 1, 0], dtype=np.int32)
    write_case("attention_qkv_sizes_start_end", "Attention", proj(8 + 8 + 16) + [("mask_index", ends_starts)], ["output"],
               {"num_heads": n, "qkv_hidden_sizes": [8, 8, 16]}, domain=MS)
    write_case("attention_bias_scale", "Attention", proj(24) + [("mask_index", None), ("past", None), ("attention_bias", f32(r, 1, n, s, s))],
               ["output"], {"num_heads": n, "scale": 0.3}, domain=MS)
    mask3 = r.integers(0, 2, (b, s, s)).astype(np.int32)
    mask3[:, :, 0] = 1
    write_case("attention_3d_mask", "Attention", proj(24) + [("mask_index", mask3)], ["output"], {"num_heads": 4}, domain=MS)
    past = f32(r, 2, b, n, 3, 4)
    write_case("attention_past_causal", "Attention", proj(24) + [("mask_index", None), ("past", past)], ["output", "present"],
               {"num_heads": n, "unidirectional": 1}, domain=MS)


def multi_head_attention():
    r = rng(4)
    b, s, l, n, h = 2, 3, 5, 2, 4
    d = n * h
    kpm = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=np.int32)
    write_case("mha_cross_bias_mask2d", "MultiHeadAttention",
               [("query", f32(r, b, s, d)), ("key", f32(r, b, l, d)), ("value", f32(r, b, l, 2 * d)), ("bias", f32(r, 4 * d, scale=0.1)),
                ("key_padding_mask", kpm)], ["output"], {"num_heads": n}, domain=MS)
    write_case("mha_lengths_scale", "MultiHeadAttention",
               [("query", f32(r, b, s, d)), ("key", f32(r, b, l, d)), ("value", f32(r, b, l, d)), ("bias", None),
                ("key_padding_mask", np.array([2, 5], dtype=np.int32))], ["output"], {"num_heads": n, "scale": 0.5}, domain=MS)
    write_case("mha_causal_past", "MultiHeadAttention",
               [("query", f32(r, b, s, d)), ("key", f32(r, b, s, d)), ("value", f32(r, b, s, d)), ("bias", None), ("key_padding_mask", None),
                ("attention_bias", None), ("past_key", f32(r, b, n, 2, h)), ("past_value", f32(r, b, n, 2, h))],
               ["output", "present_key", "present_value"], {"num_heads": n, "unidirectional": 1}, domain=MS)
    # Packed QKV ([batch, seq, heads, 3, head] query) is not implemented in onnxruntime's CPU
    # kernel: Squish's unit test checks it against the same values given as 3-D Q, K and V.
    write_case("mha_bnsh_kv_attention_bias", "MultiHeadAttention",
               [("query", f32(r, b, s, d)), ("key", f32(r, b, n, l, h)), ("value", f32(r, b, n, l, h)), ("bias", None), ("key_padding_mask", None),
                ("attention_bias", f32(r, b, n, s, l))], ["output"], {"num_heads": n}, domain=MS)


def rotary():
    r = rng(5)
    b, s, n, h, max_pos = 2, 3, 2, 8, 16
    theta = np.outer(np.arange(max_pos), 1.0 / 10000 ** (np.arange(0, h, 2) / h))
    cos, sin = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    pos = r.integers(0, max_pos, (b, s)).astype(np.int64)
    write_case("rotary_3d_positions", "RotaryEmbedding", [("input", f32(r, b, s, n * h)), ("position_ids", pos), ("cos_cache", cos), ("sin_cache", sin)],
               ["output"], {"num_heads": n}, domain=MS)
    write_case("rotary_4d_interleaved_offset", "RotaryEmbedding",
               [("input", f32(r, b, n, s, h)), ("position_ids", np.array([5], dtype=np.int64)), ("cos_cache", cos), ("sin_cache", sin)],
               ["output"], {"interleaved": 1}, domain=MS)
    half = 2
    write_case("rotary_partial_dim", "RotaryEmbedding",
               [("input", f32(r, b, s, n * h)), ("position_ids", pos), ("cos_cache", cos[:, :half].copy()), ("sin_cache", sin[:, :half].copy())],
               ["output"], {"num_heads": n, "rotary_embedding_dim": 2 * half, "interleaved": 1}, domain=MS)


def recurrent():
    r = rng(6)
    seq, b, i, h = 4, 3, 3, 5
    lens = np.array([4, 2, 3], dtype=np.int32)
    for name, attrs, nd in [("gru_lbr1_bidirectional", {"linear_before_reset": 1, "direction": "bidirectional"}, 2),
                            ("gru_lbr0_reverse_clip", {"direction": "reverse", "clip": 0.8}, 1)]:
        write_case(name, "GRU",
                   [("X", f32(r, seq, b, i)), ("W", f32(r, nd, 3 * h, i, scale=0.5)), ("R", f32(r, nd, 3 * h, h, scale=0.5)),
                    ("B", f32(r, nd, 6 * h, scale=0.2)), ("sequence_lens", lens), ("initial_h", f32(r, nd, b, h))],
                   ["Y", "Y_h"], {"hidden_size": h, **attrs})
    write_case("rnn_bidirectional_lens", "RNN",
               [("X", f32(r, seq, b, i)), ("W", f32(r, 2, h, i)), ("R", f32(r, 2, h, h, scale=0.5)), ("B", f32(r, 2, 2 * h, scale=0.2)),
                ("sequence_lens", lens), ("initial_h", f32(r, 2, b, h))],
               ["Y", "Y_h"], {"hidden_size": h, "direction": "bidirectional", "activations": ["Relu", "Tanh"]})


def einsum():
    r = rng(7)
    for name, eq, shapes in [("einsum_attention_scores", "bhid,bhjd->bhij", [(2, 2, 3, 4), (2, 2, 5, 4)]),
                             ("einsum_ellipsis_matmul", "...ij,...jk", [(2, 3, 4), (1, 4, 5)]),
                             ("einsum_chain", "ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),
                             ("einsum_diagonal_sum", "iij->j", [(3, 3, 4)]),
                             ("einsum_outer_transpose", "i,j->ji", [(3,), (4,)])]:
        write_case(name, "Einsum", [(f"x{j}", f32(r, *s)) for j, s in enumerate(shapes)], ["y"], {"equation": eq}, opset=12)


def nms():
    r = rng(8)
    b, n, c = 2, 12, 3
    corners = r.uniform(0, 10, (b, n, 2, 2)).astype(np.float32)
    boxes = np.concatenate([corners[:, :, 0], corners[:, :, 1]], axis=2)
    scores = r.uniform(0, 1, (b, c, n)).astype(np.float32)
    common = [("max_output_boxes_per_class", np.array([4], dtype=np.int64)), ("iou_threshold", np.array([0.3], dtype=np.float32)),
              ("score_threshold", np.array([0.2], dtype=np.float32))]
    write_case("nms_corners_thresholds", "NonMaxSuppression", [("boxes", boxes), ("scores", scores)] + common, ["selected"])
    centres = np.concatenate([r.uniform(2, 8, (b, n, 2)), r.uniform(1, 4, (b, n, 2))], axis=2).astype(np.float32)
    write_case("nms_center_point_box", "NonMaxSuppression", [("boxes", centres), ("scores", scores)] + common[:2], ["selected"], {"center_point_box": 1})


if __name__ == "__main__":
    shutil.rmtree(OUT, ignore_errors=True)
    gelus()
    layer_norms()
    attention()
    multi_head_attention()
    rotary()
    recurrent()
    einsum()
    nms()
