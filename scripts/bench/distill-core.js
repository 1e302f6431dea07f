// The digits distillation runs of the training issue, written once for Node
// and the browser: `mod` is a loaded wasm build, `files` the fixture bytes.
const top = (row) => row.reduce((b, v, i, r) => (v > r[b] ? i : b), 0);
const rows = (data, width) => Array.from({ length: data.length / width }, (_, i) => Array.from(data.subarray(i * width, (i + 1) * width)));

async function sha256(bytes) {
  const d = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Test accuracy of `bytes` (a model file) and its agreement with the teacher's test predictions. */
function score(mod, bytes, xTest, yTest, teacherTop) {
  const h = new mod.ModelHandle(bytes);
  try {
    const p = rows(h.run([xTest]).outputs[0].data, 10).map(top);
    const acc = p.filter((c, i) => c === yTest[i]).length / p.length;
    const agree = p.filter((c, i) => c === teacherTop[i]).length / p.length;
    return { accuracy: acc, agreement: agree };
  } finally {
    h.free();
  }
}

/**
 * `runs`: [{ name, section, finetune?: recipe to compress with first, gradual?: true
 * (fine-tune the teacher itself, its section pruning gradually) }]. Returns per run
 * { name, ms, parameters, accuracy, agreement, sha256 } and the teacher's scores.
 */
export async function distilDigits(mod, files, runs) {
  const teacher = new mod.ModelHandle(files.model);
  const x = { ...mod.readNpy(files.xTrain), name: 'X' };
  const y = mod.readLabels('y_train.npy', files.yTrain);
  const xTest = { ...mod.readNpy(files.xTest), name: 'X' };
  const yTest = Array.from(mod.readNpy(files.yTest).data, Number);
  const teacherTop = rows(teacher.run([xTest]).outputs[0].data, 10).map(top);
  const out = { teacher: score(mod, files.model, xTest, yTest, teacherTop), runs: [] };
  for (const r of runs) {
    const t0 = performance.now();
    let from = null;
    let run;
    if (r.finetune) {
      from = teacher.compress(r.finetune, [[x]]);
      run = mod.Distillation.finetune(teacher, from, r.section, [[x]], y);
    } else if (r.gradual) {
      // Pruned while fine-tuning, learning from the unpruned teacher.
      run = mod.Distillation.finetune(teacher, teacher, r.section, [[x]], y);
    } else {
      run = new mod.Distillation(teacher, r.section, [[x]], y);
    }
    while (run.step()) {
      // one minibatch per call
    }
    const student = run.student();
    const ms = performance.now() - t0;
    const bytes = student.toBytes();
    const parameters = new mod.ModelHandle(bytes);
    const count = parameters.summary().parameter_count;
    parameters.free();
    const zeros = student.compressionRecord().training[0].weight_sparsity;
    const result = { name: r.name, ms, parameters: count, zeros, ...score(mod, bytes, xTest, yTest, teacherTop), sha256: await sha256(bytes) };
    if (from) {
      result.before = score(mod, from.toBytes(), xTest, yTest, teacherTop);
      from.free();
    }
    out.runs.push(result);
    student.free();
    run.free();
  }
  teacher.free();
  return out;
}
