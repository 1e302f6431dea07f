"""The compare report's per-class table, hand-back curve and noise probe
against an independent numpy computation on the same probabilities (each
model run by `squish run`; the probe's perturbed inputs as Squish saved
them): the digits classifier quantised destructively (int4 weights, one
scale per tensor), on the 450 test digits with labels."""
import json
import math
import os
import sys
import tempfile
import unittest

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from squish_cli import DIGITS, squish, squish_output  # noqa: E402

TARGET = 0.995


def probabilities(model, x, tmp):
    return squish_output(model, x, tmp).astype(np.float64)


def handback_at(threshold, pred_o, pred_c, conf_c, y):
    """Coverage, agreement and accuracy when the compressed model answers at confidence >= threshold."""
    covered = conf_c >= threshold if threshold is not None else np.zeros_like(conf_c, dtype=bool)
    combined = np.where(covered, pred_c, pred_o)
    return covered.mean(), (combined == pred_o).mean(), (combined == y).mean()


class OnTheJobFiguresMatchNumpy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        tmp = cls.tmp.name
        recipe, cls.int4 = os.path.join(tmp, "r.json"), os.path.join(tmp, "int4.onnx")
        with open(recipe, "w") as f:
            f.write('{"quantize": {"scheme": "int4_weight", "per_channel": false}}')
        teacher = os.path.join(DIGITS, "model.onnx")
        squish("compress", teacher, "--recipe", recipe, "--out", cls.int4)
        report = os.path.join(tmp, "report.json")
        cls.markdown = squish("compare", teacher, cls.int4, "--inputs", os.path.join(DIGITS, "X_test.npy"), "--labels",
                              os.path.join(DIGITS, "y_test.npy"), "--per-class", "--handback", "--handback-target", str(TARGET),
                              "--runs", "0", "--report", report, "--probes", "noise", "--severities", "1,2,3", "--probe-seed", "5",
                              "--save-probes", os.path.join(tmp, "probes"), "--slices", "auto")
        with open(report) as f:
            cls.metrics = json.load(f)["outputs"][0]["classification"]
        x = np.load(os.path.join(DIGITS, "X_test.npy"))
        cls.y = np.load(os.path.join(DIGITS, "y_test.npy"))
        po, pc = probabilities(teacher, x, tmp), probabilities(cls.int4, x, tmp)
        cls.pred_o, cls.pred_c, cls.conf_c = po.argmax(1), pc.argmax(1), pc.max(1)
        with open(report) as f:
            full = json.load(f)
        cls.probes, cls.slices = full["probes"], full["slices"]
        cls.probed = {}
        for severity in (1, 2, 3):
            t = onnx.TensorProto()
            with open(os.path.join(tmp, "probes", f"noise_{severity}", "input_0.pb"), "rb") as f:
                t.ParseFromString(f.read())
            xp = onnx.numpy_helper.to_array(t)
            cls.probed[severity] = (xp, probabilities(teacher, xp, tmp).argmax(1), probabilities(cls.int4, xp, tmp).argmax(1))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_per_class_rows_and_the_worst_class(self):
        rows = self.metrics["per_class"]["rows"]
        self.assertEqual(self.metrics["per_class"]["truth"], "labels")
        expected = []
        for c in range(10):
            members = self.y == c
            acc_o, acc_c = (self.pred_o[members] == c).mean(), (self.pred_c[members] == c).mean()
            lost = int(((self.pred_o == c) & (self.pred_c != c) & members).sum())
            expected.append((c, int(members.sum()), acc_o, acc_c, lost))
        expected.sort(key=lambda r: (-(r[2] - r[3]), r[0]))
        self.assertEqual([r["class"] for r in rows], [r[0] for r in expected])
        for got, (c, n, acc_o, acc_c, lost) in zip(rows, expected):
            self.assertEqual((got["examples"], got["lost"]), (n, lost), f"class {c}")
            self.assertAlmostEqual(got["accuracy_original"], acc_o, places=12)
            self.assertAlmostEqual(got["accuracy_compressed"], acc_c, places=12)
        worst = expected[0]
        self.assertGreater(worst[2] - worst[3], 0, "the destructive recipe costs some class accuracy")
        self.assertIn(f"| {worst[0]} | {worst[1]} |", self.markdown, "the Markdown table starts with the worst class")

    def test_flip_pairs(self):
        flips = self.pred_o != self.pred_c
        pairs = {}
        for a, b in zip(self.pred_o[flips], self.pred_c[flips]):
            pairs[(int(a), int(b))] = pairs.get((int(a), int(b)), 0) + 1
        got = {(p["from"], p["to"]): p["count"] for p in self.metrics["per_class"]["flip_pairs"]}
        self.assertEqual(got, pairs)

    def test_handback_curve_and_threshold(self):
        h = self.metrics["handback"]
        for point in h["curve"]:
            coverage, agreement, accuracy = handback_at(point["threshold"], self.pred_o, self.pred_c, self.conf_c, self.y)
            self.assertAlmostEqual(point["coverage"], coverage, places=12)
            self.assertAlmostEqual(point["agreement"], agreement, places=12)
            self.assertAlmostEqual(point["accuracy"], accuracy, places=12)
        # The lowest threshold keeping agreement >= the target, among all distinct confidences.
        candidates = [t for t in sorted(set(self.conf_c)) if handback_at(t, self.pred_o, self.pred_c, self.conf_c, self.y)[1] >= TARGET]
        best = candidates[0] if candidates else None
        self.assertAlmostEqual(h["chosen"]["threshold"], best, places=12)
        coverage, agreement, _ = handback_at(best, self.pred_o, self.pred_c, self.conf_c, self.y)
        self.assertAlmostEqual(h["chosen"]["coverage"], coverage, places=12)
        self.assertGreaterEqual(h["chosen"]["agreement"], TARGET)
        self.assertGreater(coverage, 0.5, "the compressed model answers most inputs at the target")
        print(f"\nhand-back at agreement >= {TARGET}: threshold {best:.6f}, the int4 model answers {coverage:.4f} of the inputs"
              f" (agreement {agreement:.4f}); worst class per table: {self.metrics['per_class']['rows'][0]['class']}")


    def test_noise_probe(self):
        p = self.probes
        self.assertEqual((p["output"], p["figure"], p["seed"]), ("probabilities", "agreement", 5))
        clean_acc_o, clean_acc_c = (self.pred_o == self.y).mean(), (self.pred_c == self.y).mean()
        self.assertEqual([(r["probe"], r["severity"]) for r in p["rows"]], [("noise", 1), ("noise", 2), ("noise", 3)])
        for row in p["rows"]:
            xp, probed_o, probed_c = self.probed[row["severity"]]
            x = np.load(os.path.join(DIGITS, "X_test.npy"))
            noise = (xp - x).std() / x.std()
            self.assertAlmostEqual(noise, 0.1 * row["severity"], delta=0.01 * row["severity"], msg="noise of 0.1 x severity x the input's spread")
            self.assertAlmostEqual(row["original"], (probed_o == self.pred_o).mean(), places=12)
            self.assertAlmostEqual(row["compressed"], (probed_c == self.pred_o).mean(), places=12)
            acc_o, acc_c = (probed_o == self.y).mean(), (probed_c == self.y).mean()
            self.assertAlmostEqual(row["accuracy_original"], acc_o, places=12)
            self.assertAlmostEqual(row["accuracy_compressed"], acc_c, places=12)
            self.assertAlmostEqual(row["gap"], (clean_acc_c - acc_c) - (clean_acc_o - acc_o), places=12)
        print("\nnoise probe (severity: original / compressed accuracy, gap): "
              + "; ".join(f"{r['severity']}: {r['accuracy_original']:.4f} / {r['accuracy_compressed']:.4f}, {100 * r['gap']:+.2f} pt" for r in p["rows"]))


    def test_brightness_slices(self):
        s = self.slices
        self.assertEqual((s["by"], s["figure"]), ("brightness", "agreement"))
        brightness = np.load(os.path.join(DIGITS, "X_test.npy")).astype(np.float64).mean(1)
        ordered = np.sort(brightness)
        edges = [ordered[int(math.floor((len(ordered) - 1) * q / 4 + 0.5))] for q in range(5)]
        edges = [e for i, e in enumerate(edges) if i == 0 or e != edges[i - 1]]
        bins = np.array([next(k for k in range(len(edges) - 1) if v <= edges[k + 1]) for v in brightness])
        want = []
        for k in range(len(edges) - 1):
            m = bins == k
            if m.any():
                want.append((int(m.sum()), (self.pred_o[m] == self.pred_c[m]).mean(), (self.pred_o[m] == self.y[m]).mean(), (self.pred_c[m] == self.y[m]).mean()))
        got = [(r["examples"], r["figure"], r["accuracy_original"], r["accuracy_compressed"]) for r in s["rows"]]
        self.assertEqual(len(got), len(want))
        for g, w in zip(sorted(got), sorted(want)):
            self.assertEqual(g[0], w[0])
            for a, b in zip(g[1:], w[1:]):
                self.assertAlmostEqual(a, b, places=12)
        drop = lambda r: r[2] - r[3]
        self.assertAlmostEqual(drop(got[0]), max(drop(w) for w in want), places=12, msg="the worst slice first")
        print(f"\nworst brightness slice: {s['rows'][0]['slice']} ({s['rows'][0]['examples']} examples, agreement {s['rows'][0]['figure']:.4f})")


if __name__ == "__main__":
    unittest.main()
