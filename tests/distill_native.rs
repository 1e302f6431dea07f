#![cfg(not(target_arch = "wasm32"))] // reads fixtures from disk
//! Distillation on the digits classifier, with few epochs (the acceptance
//! figures come from `npm run bench`): a student MLP learns the teacher, a
//! pruned model is fine-tuned back with its zeros kept, recipes with a
//! distill step, determinism, and the errors a user can cause.

mod common;

use common::read;
use squish::compress::distill::{parameter_count, Section};
use squish::compress::{compress, Recipe};
use squish::formats::data::npy::read_npy;
use squish::formats::onnx::{load_model, model_to_bytes};
use squish::{Model, Session, Tensor};

fn digits() -> Model {
    load_model(&read("digits_mlp/model.onnx")).unwrap()
}

fn training() -> Vec<Vec<(String, Tensor)>> {
    vec![vec![("X".into(), read_npy(&read("digits_mlp/X_train.npy")).unwrap())]]
}

fn top(r: &[f64]) -> usize {
    r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0
}

/// Test accuracy and agreement with the teacher, run from the saved file.
fn scores(model: &Model) -> (f64, f64) {
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let y = read_npy(&read("digits_mlp/y_test.npy")).unwrap().to_i64_vec().unwrap();
    let run = |m: &Model| {
        let m = load_model(&model_to_bytes(m)).unwrap();
        Session::new(m).unwrap().run(vec![("X".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec()
    };
    let (s, t) = (run(model), run(&digits()));
    let acc = s.chunks(10).zip(&y).filter(|(r, &l)| top(r) as i64 == l).count() as f64 / y.len() as f64;
    let agree = s.chunks(10).zip(t.chunks(10)).filter(|(a, b)| top(a) == top(b)).count() as f64 / y.len() as f64;
    (acc, agree)
}

fn section(json: &str) -> Section {
    Section::from_value(serde_json::from_str(json).unwrap()).unwrap()
}

fn train(json: &str, student_from: Model, labels: Option<&Tensor>) -> (Model, squish::train::Trainer) {
    let mut t = section(json).trainer(student_from, &digits(), training(), labels).unwrap();
    while t.step().unwrap().is_some() {}
    (t.model().unwrap(), t)
}

#[test]
fn a_small_student_learns_the_teacher() {
    let (student, trainer) = train(r#"{"student":"mlp:20","epochs":40,"learning_rate":0.01}"#, digits(), None);
    let params = parameter_count(&student);
    assert_eq!(params, 64 * 20 + 20 + 20 * 10 + 10);
    assert!(params * 4 <= parameter_count(&digits()), "{params} parameters is more than a quarter of the teacher's");
    let (acc, agree) = scores(&student);
    println!("student mlp:20, 40 epochs: test accuracy {acc:.4}, agreement {agree:.4}");
    assert!(acc > 0.93 && agree > 0.93, "accuracy {acc}, agreement {agree}");
    let h = trainer.history();
    assert_eq!(h.len(), 40);
    assert!(h[39].loss < h[0].loss / 2.0, "the loss falls: {} → {}", h[0].loss, h[39].loss);
    assert_eq!(trainer.split_sizes(), (1212, 135), "10% of the 1347 training examples held back");
    assert_eq!(student.graph.outputs[0].name, "probabilities", "the student answers under the teacher's output name");
}

#[test]
fn a_small_cnn_student_learns_the_teacher() {
    // The 64 pixels are read as one 8×8 image: conv 6 → pool → conv 12 → pool → linear.
    let (student, trainer) = train(r#"{"student":"cnn:6,12","epochs":12,"learning_rate":0.01,"seed":3}"#, digits(), None);
    let params = parameter_count(&student);
    assert_eq!(params, (6 * 9 + 6) + (12 * 6 * 9 + 12) + (12 * 2 * 2 * 10 + 10));
    let ops: Vec<&str> = student.graph.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops[..5], ["Reshape", "Conv", "Relu", "MaxPool", "Conv"]);
    let (acc, agree) = scores(&student);
    println!("student cnn:6,12, 12 epochs: test accuracy {acc:.4}, agreement {agree:.4}");
    assert!(acc > 0.9 && agree > 0.9, "accuracy {acc}, agreement {agree}");
    let h = trainer.history();
    assert!(h[11].loss < h[0].loss / 2.0, "the loss falls: {} → {}", h[0].loss, h[11].loss);
}

#[test]
fn labels_join_the_loss() {
    let y = read_npy(&read("digits_mlp/y_train.npy")).unwrap();
    let (with, _) = train(r#"{"student":"mlp:16","epochs":3,"learning_rate":0.01}"#, digits(), Some(&y));
    let (without, _) = train(r#"{"student":"mlp:16","epochs":3,"learning_rate":0.01}"#, digits(), None);
    assert_ne!(model_to_bytes(&with), model_to_bytes(&without), "labels change what is learnt");
    let short = Tensor::from_vec(&[5], vec![1i64; 5]).unwrap();
    let e = section(r#"{"student":"mlp:16"}"#).trainer(digits(), &digits(), training(), Some(&short)).err().unwrap().to_string();
    assert!(e.contains("5 values for 1347 examples"), "{e}");
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    let json = r#"{"student":"mlp:12","epochs":2,"learning_rate":0.01,"mixup":0.4,"noise":0.01,"seed":7}"#;
    let (a, _) = train(json, digits(), None);
    let (b, _) = train(json, digits(), None);
    assert_eq!(model_to_bytes(&a), model_to_bytes(&b));
    let (c, _) = train(&json.replace("\"seed\":7", "\"seed\":8"), digits(), None);
    assert_ne!(model_to_bytes(&a), model_to_bytes(&c));
}

#[test]
fn fine_tuning_a_pruned_model_keeps_its_zeros_and_recovers() {
    let recipe = |extra: &str| Recipe::from_json(&format!(r#"{{"version":1,"steps":[{{"prune":{{"method":"magnitude","sparsity":0.9}}}}{extra}]}}"#)).unwrap();
    let (pruned, _) = compress(&digits(), &recipe(""), &training()).unwrap();
    let (repaired, record) = compress(&digits(), &recipe(r#",{"distill":{"epochs":15,"learning_rate":0.003,"validation":0.1}}"#), &training()).unwrap();
    let zeros = |m: &Model| -> Vec<bool> {
        m.graph.nodes.iter().filter(|n| n.op_type == "MatMul").flat_map(|n| m.graph.initializer(&n.inputs[1]).unwrap().to_f64_vec()).map(|v| v == 0.0).collect()
    };
    assert_eq!(zeros(&pruned), zeros(&repaired), "fine-tuning keeps exactly the pruned zeros");
    let (acc_pruned, agree_pruned) = scores(&pruned);
    let (acc_repaired, agree_repaired) = scores(&repaired);
    println!("90% magnitude: accuracy {acc_pruned:.4} → {acc_repaired:.4} fine-tuned, agreement {agree_pruned:.4} → {agree_repaired:.4}");
    assert!(agree_repaired > agree_pruned + 0.05, "agreement {agree_pruned} → {agree_repaired}");
    let t = &record.training[0];
    assert_eq!((t.step, t.student.as_str(), t.epochs.len()), (1, "finetune", 15));
    assert_eq!(t.parameters_before, t.parameters_after);
}

/// Initializers by name with their types, and the op types in order.
fn structure(m: &Model) -> (Vec<String>, Vec<(String, String)>) {
    let ops = m.graph.nodes.iter().map(|n| format!("{}:{}", n.domain, n.op_type)).collect();
    let inits = m.graph.initializers.iter().map(|(n, t)| (n.clone(), format!("{}{:?}", t.dtype(), t.shape()))).collect();
    (ops, inits)
}

#[test]
fn fine_tuning_a_quantised_model_trains_its_codes_through_simulated_quantisation() {
    for quantize in [r#"{"scheme":"int4_weight","per_channel":false}"#, r#"{"scheme":"int4_weight"}"#, r#"{"scheme":"int8_static"}"#] {
        let recipe = |extra: &str| Recipe::from_json(&format!(r#"{{"version":1,"steps":[{{"quantize":{quantize}}}{extra}]}}"#)).unwrap();
        let (quantised, _) = compress(&digits(), &recipe(""), &training()).unwrap();
        // Before any step, the written model is the quantised one, byte for byte.
        let t = section(r#"{"epochs":1}"#).trainer(quantised.clone(), &digits(), training(), None).unwrap();
        assert_eq!(model_to_bytes(&t.model().unwrap()), model_to_bytes(&quantised), "{quantize}: the training form writes back exactly");
        let (tuned, record) = compress(&digits(), &recipe(r#",{"distill":{"epochs":20,"learning_rate":0.002}}"#), &training()).unwrap();
        assert_eq!(structure(&tuned), structure(&quantised), "{quantize}: same ops, same initializers and types");
        let codes_changed = quantised.graph.initializers.iter().filter(|(n, t)| !t.dtype().is_float() && tuned.graph.initializer(n) != Some(t)).count();
        assert!(codes_changed > 0, "{quantize}: the codes were trained");
        let scales = |m: &Model| m.graph.initializers.iter().filter(|(n, _)| n.contains("scale")).cloned().collect::<Vec<_>>();
        assert_eq!(scales(&tuned), scales(&quantised), "{quantize}: scales stay");
        let ((acc_q, agree_q), (acc_t, agree_t)) = (scores(&quantised), scores(&tuned));
        println!("{quantize}: accuracy {acc_q:.4} → {acc_t:.4}, agreement {agree_q:.4} → {agree_t:.4} after fine-tuning");
        // int4 loses agreement and gets it back; int8 has (nearly) none to lose.
        let gain = if quantize.contains("int4") { 0.005 } else { -0.005 };
        assert!(agree_t >= agree_q + gain, "{quantize}: agreement {agree_q} → {agree_t}");
        assert!(record.training[0].parameters_after > 0);
    }
}

#[test]
fn schemes_that_fuse_their_codes_ask_to_distil_first() {
    let recipe = Recipe::from_json(r#"{"version":1,"steps":[{"quantize":{"scheme":"int8_dynamic"}},{"distill":{"epochs":1}}]}"#).unwrap();
    let e = compress(&digits(), &recipe, &training()).err().unwrap().to_string();
    assert!(e.contains("is MatMulInteger") && e.contains("distil before quantising"), "{e}");
}

#[test]
fn a_recipe_can_distil_then_quantise_the_student() {
    let recipe = Recipe::from_json(r#"{"distill":{"student":"mlp:16","epochs":5,"learning_rate":0.01},"quantize":{"scheme":"fp16"}}"#).unwrap();
    let (m, record) = compress(&digits(), &recipe, &training()).unwrap();
    assert_eq!(record.training.len(), 1);
    assert!(record.entries.iter().all(|e| e.node.starts_with("layer")), "the quantize step sees the student's layers");
    assert!(record.model_bytes_after * 4 < record.model_bytes_before);
    let canonical = Recipe::from_json(&record.recipe).unwrap();
    assert_eq!(canonical, recipe, "the canonical recipe reads back");
    let (acc, _) = scores(&m);
    assert!(acc > 0.8, "accuracy {acc}");
}

#[test]
fn bad_training_settings_are_clear_errors() {
    let err =
        |recipe: &str, calibration: Vec<Vec<(String, Tensor)>>| compress(&digits(), &Recipe::from_json(recipe).unwrap(), &calibration).unwrap_err().to_string();
    assert!(err(r#"{"distill":{"student":"mlp:8"}}"#, vec![]).contains("training needs inputs"));
    let e = err(r#"{"distill":{"student":"mlp:8","epochs":2,"learning_rate":1e30}}"#, training());
    assert!(e.contains("the loss became") && e.contains("at step") && e.contains("lower learning_rate"), "{e}");
    let e = err(r#"{"distill":{"student":"mlp:8","output":"nope"}}"#, training());
    assert!(e.contains("no output 'nope'") || e.contains("no tensor 'nope'"), "{e}");
    let e = err(r#"{"distill":{"student":"mlp:8","hidden":["add_result"]}}"#, training());
    assert!(e.contains("key 'distill.hidden': the student has no tensor 'add_result'"), "{e}");
    let e = err(r#"{"distill":{"exclude":{"nodes":["ghost"]}}}"#, training());
    assert!(e.contains("no node 'ghost'"), "{e}");
    let e = err(r#"{"distill":{"student":"mlp:8","mixup":0.2,"epochs":1}}"#, vec![vec![("X".into(), Tensor::from_vec(&[1, 64], vec![0.5f32; 64]).unwrap())]]);
    assert!(e.contains("at least 2 examples"), "{e}");
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_best_weights() {
    let mut t = section(r#"{"student":"mlp:8","epochs":50,"learning_rate":0.01}"#).trainer(digits(), &digits(), training(), None).unwrap();
    let mut epochs = 0;
    while epochs < 2 {
        if t.step().unwrap().unwrap().finished_epoch.is_some() {
            epochs += 1;
        }
    }
    let before = model_to_bytes(&t.model().unwrap());
    // Poison a weight: the next minibatch's loss is NaN.
    let mut poisoned = section(r#"{"student":"mlp:8","epochs":50,"learning_rate":1e38}"#).trainer(digits(), &digits(), training(), None).unwrap();
    let e = loop {
        match poisoned.step() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a rate of 1e38 should overflow"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(e.contains("training stopped"), "{e}");
    assert!(poisoned.step().unwrap().is_none(), "a stopped run stays stopped");
    let kept = poisoned.model().unwrap();
    assert!(kept.graph.initializers.iter().all(|(_, w)| w.to_f64_vec().iter().all(|v| v.is_finite())), "the kept weights are finite");
    assert_eq!(before, model_to_bytes(&t.model().unwrap()), "the healthy run is unaffected");
}

#[test]
fn gradual_pruning_reaches_its_sparsity_and_keeps_an_epoch_at_it() {
    let (m, t) = train(r#"{"epochs":8,"learning_rate":0.01,"gradual":{"sparsity":0.8,"end":0.5}}"#, digits(), None);
    assert!((t.weight_sparsity() - 0.8).abs() < 1e-3, "weight sparsity {}", t.weight_sparsity());
    assert!(t.best_epoch().unwrap() >= 4, "the kept epoch {:?} is before the final sparsity (epoch 4)", t.best_epoch());
    for n in m.graph.nodes.iter().filter(|n| n.op_type == "MatMul") {
        let w = m.graph.initializer(&n.inputs[1]).unwrap().to_f64_vec();
        let zeros = w.iter().filter(|v| **v == 0.0).count() as f64 / w.len() as f64;
        assert!((zeros - 0.8).abs() < 0.01, "{}: {zeros} zeros", n.name);
    }
    let (acc, _) = scores(&m);
    assert!(acc > 0.9, "accuracy {acc} after pruning to 80% while fine-tuning");
    let e = section(r#"{"student":"finetune","gradual":{"sparsity":0.5},"exclude":{"op_types":["MatMul"]}}"#)
        .trainer(digits(), &digits(), training(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no float weights") || e.contains("no weight matrices"), "{e}");
}

#[test]
fn hidden_tensors_are_matched_too() {
    let json = |hidden: &str| format!(r#"{{"epochs":3,"learning_rate":0.003,"validation":0.1{hidden}}}"#);
    let recipe = |hidden: &str| {
        Recipe::from_json(&format!(r#"{{"version":1,"steps":[{{"prune":{{"method":"magnitude","sparsity":0.8}}}},{{"distill":{}}}]}}"#, json(hidden))).unwrap()
    };
    let (plain, _) = compress(&digits(), &recipe(""), &training()).unwrap();
    let (matched, record) = compress(&digits(), &recipe(r#","hidden":["add_result","add_result1"]"#), &training()).unwrap();
    assert_ne!(model_to_bytes(&plain), model_to_bytes(&matched), "the hidden tensors change what is learnt");
    // The first layer's output moves towards the original's.
    let x = read_npy(&read("digits_mlp/X_test.npy")).unwrap();
    let first_layer = |m: &Model| {
        let mut m = m.clone();
        m.graph.outputs[0].name = "add_result".into();
        Session::new(m).unwrap().run(vec![("X".into(), x.clone())]).unwrap().outputs[0].1.to_f64_vec()
    };
    let (reference, (pruned, _)) =
        (first_layer(&digits()), compress(&digits(), &Recipe::from_json(r#"{"prune":{"method":"magnitude","sparsity":0.8}}"#).unwrap(), &training()).unwrap());
    let err = |m: &Model| first_layer(m).iter().zip(&reference).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
    assert!(err(&matched) < err(&pruned), "hidden-state error {} not below the pruned model's {}", err(&matched), err(&pruned));
    assert!(record.recipe.contains("\"hidden\":[\"add_result\",\"add_result1\"]"), "{}", record.recipe);
}

/// Mean cosine between two models' pooled outputs on `feeds`.
fn pooled_cosine(a: &Model, b: &Model, feeds: &[Vec<(String, Tensor)>]) -> f64 {
    let (sa, sb) = (Session::new(a.clone()).unwrap(), Session::new(b.clone()).unwrap());
    let cos = |f: &Vec<(String, Tensor)>| {
        let (x, y) = (sa.run(f.clone()).unwrap().outputs[0].1.to_f64_vec(), sb.run(f.clone()).unwrap().outputs[0].1.to_f64_vec());
        let dot: f64 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
        dot / (x.iter().map(|p| p * p).sum::<f64>() * y.iter().map(|q| q * q).sum::<f64>()).sqrt()
    };
    feeds.iter().map(cos).sum::<f64>() / feeds.len() as f64
}

#[test]
fn token_swaps_add_copies_that_the_teacher_labels() {
    let teacher = load_model(&read("synthetic/text_embedding/model.onnx")).unwrap();
    let (feeds, unseen) = (common::text_embedding_feeds(7, 0), common::text_embedding_feeds(8, 40)[1..].to_vec());
    let (pruned, _) = compress(&teacher, &Recipe::from_json(r#"{"prune":{"method":"magnitude","pattern":"2:4"}}"#).unwrap(), &feeds).unwrap();
    let run = |swap: &str| {
        let json = format!(r#"{{"epochs":6,"batch_size":4,"learning_rate":0.003,"validation":0,"loss":"cosine"{swap}}}"#);
        let mut t = section(&json).trainer(pruned.clone(), &teacher, feeds.clone(), None).unwrap();
        while t.step().unwrap().is_some() {}
        t
    };
    let (plain, swapped) = (run(""), run(r#","token_swap":{"copies":3,"share":0.5,"neighbours":4}"#));
    // The fixture's own input holds two sequences: nine examples.
    assert_eq!((plain.split_sizes(), swapped.split_sizes()), ((9, 0), (36, 0)), "three copies of each of the 9 examples join the training part");
    let (plain, swapped) = (plain.model().unwrap(), swapped.model().unwrap());
    assert_ne!(model_to_bytes(&plain), model_to_bytes(&swapped), "the copies change what is learnt");
    let before = pooled_cosine(&teacher, &pruned, &unseen);
    let after = pooled_cosine(&teacher, &swapped, &unseen);
    println!("2:4 magnitude on the synthetic encoder, unseen sequences: cosine {before:.4} → {after:.4} fine-tuned with token swaps");
    assert!(after > before, "cosine on unseen sequences {before} → {after}");
    // Where swaps cannot work, the key is named.
    let err =
        |json: &str, model: &Model, inputs: Vec<Vec<(String, Tensor)>>| section(json).trainer(model.clone(), model, inputs, None).err().unwrap().to_string();
    let e = err(r#"{"token_swap":{"share":0.5}}"#, &digits(), training());
    assert!(e.contains("key 'distill.token_swap.input'") && e.contains("no Gather node") && e.contains("'input_ids'"), "{e}");
}
