// `squish distill`: a student learns to imitate the teacher on the user's
// inputs (a new MLP, or a compressed model fine-tuned back towards the
// original). Prints the curve and writes the student with its best weights.
import { openModel, readFile, readModel, writeAtomic } from './files.mjs';
import { inputSets } from './inputs.mjs';

/** The distill section: --section FILE, with the flags on top of it. */
function sectionFrom(opts) {
  let section = {};
  if (opts.section) {
    const text = readFile(opts.section, 'section').toString('utf8');
    try {
      section = JSON.parse(text);
    } catch (e) {
      throw new Error(`--section ${opts.section}: invalid JSON: ${e.message}`);
    }
    if (section.distill) section = section.distill; // a whole recipe's distill section
  }
  const numbers = { epochs: 'epochs', 'learning-rate': 'learning_rate', 'batch-size': 'batch_size', seed: 'seed' };
  for (const [flag, key] of Object.entries(numbers)) {
    if (opts[flag] == null) continue;
    const v = Number(opts[flag]);
    if (!Number.isFinite(v)) throw new Error(`--${flag} takes a number, got '${opts[flag]}'`);
    section[key] = v;
  }
  if (opts.student) section.student = opts.student;
  return section;
}

const figureName = (loss) => (loss === 'kl' ? 'agreement' : 'mean cosine');

/** Epoch rows to print: all of a short run, about 20 of a long one, and the kept epoch. */
function epochRows(history, best) {
  const every = Math.max(1, Math.ceil(history.length / 20));
  return history.filter((e) => e.epoch % every === 0 || e.epoch === 1 || e.epoch === best || e.epoch === history.length);
}

function report(summary, fromParams, student, seconds, outPath, bytes) {
  const record = student.compressionRecord();
  const t = record.training[0];
  const figure = figureName(summary.loss);
  const lines = [`epoch  loss       held-back ${figure}`];
  for (const e of epochRows(summary.history, summary.best_epoch)) {
    const v = e.validation == null ? '–' : e.validation.toFixed(4);
    lines.push(`${String(e.epoch).padStart(5)}  ${e.loss.toExponential(3).padEnd(9)}  ${v}${e.epoch === summary.best_epoch ? '  ← kept' : ''}`);
  }
  lines.push(
    `student: ${t.student} (${t.parameters_after.toLocaleString('en')} parameters; started from ${fromParams.toLocaleString('en')})`,
    `loss ${summary.loss}; trained on ${summary.train} examples, ${summary.held_back} held back; kept epoch ${summary.best_epoch ?? '–'}`,
    `trained in ${seconds.toFixed(1)} s; wrote ${outPath} (${bytes} bytes)`,
  );
  return lines.join('\n');
}

/** Steps the run to its end; a failure (a loss that is no longer finite) is returned, not thrown. */
function train(run, quiet) {
  try {
    for (let p; (p = run.step()); ) {
      const e = p.finished_epoch;
      if (e && !quiet) process.stderr.write(`\repoch ${e.epoch}: loss ${e.loss.toExponential(3)}${e.validation == null ? '' : `, held-back ${e.validation.toFixed(4)}`}   `);
    }
    return null;
  } catch (e) {
    return e;
  } finally {
    if (!quiet) process.stderr.write('\n');
  }
}

export function distillModel(engine, teacherBytes, opts) {
  const teacher = openModel(engine, teacherBytes);
  const handles = [teacher];
  try {
    const feeds = inputSets(engine, teacher, opts);
    const labels = opts.labels ? engine.readLabels(opts.labels, readFile(opts.labels, 'labels')) : null;
    const section = JSON.stringify(sectionFrom(opts));
    let from = teacher;
    let run;
    if (opts.finetune) {
      from = openModel(engine, readModel(opts.finetune, 'model to fine-tune'));
      handles.push(from);
      run = engine.Distillation.finetune(teacher, from, section, feeds, labels);
    } else {
      run = new engine.Distillation(teacher, section, feeds, labels);
    }
    handles.push(run);
    const t0 = performance.now();
    const failure = train(run, opts.quiet);
    const seconds = (performance.now() - t0) / 1000;
    const student = run.student();
    handles.push(student);
    const bytes = student.toBytes();
    // The best weights so far are written even when training stopped early: nothing is lost.
    writeAtomic(opts.out, bytes);
    if (failure) throw new Error(`${failure.message}; the best weights so far were written to ${opts.out}`);
    return report(run.summary(), from.summary().parameter_count, student, seconds, opts.out, bytes.length);
  } finally {
    for (const h of handles.reverse()) h.free();
  }
}
