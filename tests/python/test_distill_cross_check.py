"""Students `squish distill` writes load in onnxruntime, pass the ONNX
checker, and onnxruntime's outputs on them agree with Squish's own within
1e-4 * (1 + |ref|): new MLP and CNN students (with labels), a pruned model
fine-tuned back with `--finetune` (its zeros kept), and an int4 model
fine-tuned through simulated quantisation (written back as codes)."""
import os
import sys
import tempfile
import unittest

import numpy as np
import onnx

import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from squish_cli import DIGITS, squish, squish_output  # noqa: E402


class DistilledStudentsRunInOnnxruntime(unittest.TestCase):
    def check(self, model, tmp):
        onnx.checker.check_model(onnx.load(model), full_check=True)
        x = np.load(os.path.join(DIGITS, "X_test.npy"))
        want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
        got = squish_output(model, x, tmp)
        self.assertEqual(got.shape, want.shape)
        excess = np.max(np.abs(got - want) - 1e-4 * (1 + np.abs(want)))
        self.assertLessEqual(excess, 0, f"{model}: differs from onnxruntime by {excess} beyond the bound")
        return want

    def test_mlp_student(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "student.onnx")
            log = squish("distill", os.path.join(DIGITS, "model.onnx"), "--inputs", os.path.join(DIGITS, "X_train.npy"),
                         "--labels", os.path.join(DIGITS, "y_train.npy"), "--student", "mlp:20", "--epochs", "20",
                         "--learning-rate", "0.01", "--out", out)
            self.assertIn("student: mlp:20 (1,510 parameters; started from 6,570)", log)
            probabilities = self.check(out, tmp)
            y = np.load(os.path.join(DIGITS, "y_test.npy"))
            self.assertGreater((probabilities.argmax(1) == y).mean(), 0.9)

    def test_cnn_student(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "cnn.onnx")
            squish("distill", os.path.join(DIGITS, "model.onnx"), "--inputs", os.path.join(DIGITS, "X_train.npy"),
                   "--labels", os.path.join(DIGITS, "y_train.npy"), "--student", "cnn:6,12", "--epochs", "8",
                   "--learning-rate", "0.01", "--out", out)
            probabilities = self.check(out, tmp)
            y = np.load(os.path.join(DIGITS, "y_test.npy"))
            self.assertGreater((probabilities.argmax(1) == y).mean(), 0.85)

    def compress_then_finetune(self, tmp, recipe_json, *flags):
        """The digits model compressed by `recipe_json`, then fine-tuned back: (compressed, tuned) paths."""
        recipe, compressed, out = (os.path.join(tmp, f) for f in ("r.json", "compressed.onnx", "tuned.onnx"))
        with open(recipe, "w") as f:
            f.write(recipe_json)
        teacher = os.path.join(DIGITS, "model.onnx")
        squish("compress", teacher, "--recipe", recipe, "--out", compressed)
        squish("distill", teacher, "--inputs", os.path.join(DIGITS, "X_train.npy"), "--finetune", compressed, *flags, "--out", out)
        self.check(out, tmp)
        return compressed, out

    def test_finetuned_int4_model_keeps_its_form(self):
        with tempfile.TemporaryDirectory() as tmp:
            quantised, out = self.compress_then_finetune(tmp, '{"quantize": {"scheme": "int4_weight", "per_channel": false}}',
                                                         "--epochs", "5", "--learning-rate", "0.002")
            kinds = lambda m: [(n.op_type, n.domain) for n in onnx.load(m).graph.node]
            self.assertEqual(kinds(quantised), kinds(out))
            ints = lambda m: {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(m).graph.initializer if i.data_type != onnx.TensorProto.FLOAT}
            before, after = ints(quantised), ints(out)
            self.assertEqual({n: w.dtype for n, w in before.items()}, {n: w.dtype for n, w in after.items()})
            self.assertTrue(any(not np.array_equal(before[n], after[n]) for n in before), "the codes did not change")

    def test_finetuned_pruned_model_keeps_its_zeros(self):
        with tempfile.TemporaryDirectory() as tmp:
            pruned, out = self.compress_then_finetune(tmp, '{"prune": {"method": "magnitude", "sparsity": 0.8}}', "--epochs", "5")
            weights = lambda m: {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(m).graph.initializer if i.name.startswith("coefficient")}
            before, after = weights(pruned), weights(out)
            for name, w in before.items():
                np.testing.assert_array_equal(w == 0, after[name] == 0, err_msg=f"{name}: the pruned zeros move")
            self.assertTrue(any(not np.array_equal(before[n], after[n]) for n in before), "fine-tuning changed nothing")


if __name__ == "__main__":
    unittest.main()
