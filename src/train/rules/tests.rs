//! Every backward rule against central finite differences: one node whose
//! float inputs are trained weights, the loss `Σ w·y` for fixed random `w`.

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ir::{AttrValue, Attribute, Graph, Model, Node, ValueInfo, ValueType};
use crate::tensor::Tensor;
use crate::train::tape::Tape;

pub(crate) fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, AttrValue)>) -> Node {
    Node {
        name: format!("{op}_0"),
        op_type: op.into(),
        domain: String::new(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        attributes: attrs.into_iter().map(|(n, v)| Attribute { name: n.into(), value: v }).collect(),
        doc_string: String::new(),
    }
}

pub(crate) fn model(nodes: Vec<Node>, inits: Vec<(&str, Tensor)>, output: &str, opset: i64) -> Model {
    let vi = |n: &str| ValueInfo { name: n.into(), ty: ValueType::Tensor { elem_type: 1, shape: None }, doc_string: String::new() };
    Model {
        ir_version: 8,
        opsets: vec![(String::new(), opset)],
        producer_name: String::new(),
        producer_version: String::new(),
        domain: String::new(),
        model_version: 0,
        doc_string: String::new(),
        metadata: vec![],
        graph: Graph {
            name: "g".into(),
            doc_string: String::new(),
            nodes,
            inputs: vec![],
            outputs: vec![vi(output)],
            initializers: inits.into_iter().map(|(n, t)| (n.to_string(), t)).collect(),
            value_info: vec![],
            sparse_stored: Default::default(),
        },
    }
}

/// Values in ±`scale`, away from 0 by at least `gap` (kinks of Relu, Clip).
fn values(rng: &mut ChaCha8Rng, shape: &[usize], scale: f32, gap: f32) -> Tensor {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|_| {
            let x: f32 = rng.random_range(-scale..scale);
            if x.abs() < gap {
                gap.copysign(x) + x
            } else {
                x
            }
        })
        .collect();
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
}

fn positive(rng: &mut ChaCha8Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| rng.random_range(0.5f32..2.0)).collect()).unwrap())
}

fn ints(v: &[i64]) -> Tensor {
    Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
}

/// Checks the gradient of every trained weight of `m` (single output `y`);
/// single numbers (clip bounds, exponents) are not trained.
fn check(m: &Model) {
    let mut tape = Tape::new(m, |_, t| t.len() > 1).unwrap();
    let no_inputs = vec![];
    let fwd = tape.forward(&no_inputs).unwrap();
    let y = fwd.value(tape.value_id("y").unwrap()).unwrap().as_f32().unwrap().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let w = ArrayD::from_shape_vec(y.raw_dim(), (0..y.len()).map(|_| rng.random_range(-1.0f32..1.0)).collect()).unwrap();
    let loss = |tape: &Tape| -> f64 {
        let f = tape.forward(&no_inputs).unwrap();
        let y = f.value(tape.value_id("y").unwrap()).unwrap().as_f32().unwrap().clone();
        y.iter().zip(w.iter()).map(|(&a, &b)| a as f64 * b as f64).sum()
    };
    let grads = tape.backward(&fwd, vec![(tape.value_id("y").unwrap(), w.clone())]).unwrap();
    let op = &m.graph.nodes.last().unwrap().op_type;
    for (p, grad) in grads.iter().enumerate() {
        for i in 0..tape.params[p].value.len() {
            let h = 1e-2f32;
            let orig = tape.params[p].value.as_slice().unwrap()[i];
            tape.params[p].value.as_slice_mut().unwrap()[i] = orig + h;
            let up = loss(&tape);
            tape.params[p].value.as_slice_mut().unwrap()[i] = orig - h;
            let down = loss(&tape);
            tape.params[p].value.as_slice_mut().unwrap()[i] = orig;
            let numeric = (up - down) / (2.0 * h as f64);
            let analytic = grad.as_slice().unwrap()[i] as f64;
            assert!(
                (numeric - analytic).abs() <= 2e-2 * (1.0 + numeric.abs()),
                "{op}: weight '{}' element {i}: numeric {numeric} vs analytic {analytic}",
                tape.params[p].name
            );
        }
    }
}

fn one(op: &str, inputs: Vec<(&str, Tensor)>, attrs: Vec<(&str, AttrValue)>, opset: i64) {
    let names: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
    check(&model(vec![node(op, &names, &["y"], attrs)], inputs, "y", opset));
}

#[test]
fn matmul_and_gemm_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(1);
    for (a, b) in [
        (vec![2, 3], vec![3, 4]),
        (vec![2, 2, 3], vec![3, 4]),
        (vec![2, 2, 3], vec![2, 3, 4]),
        (vec![3], vec![3, 4]),
        (vec![1, 2, 3], vec![2, 3, 2]),
        (vec![2, 3], vec![3]),
    ] {
        one("MatMul", vec![("a", values(r, &a, 1.0, 0.0)), ("b", values(r, &b, 1.0, 0.0))], vec![], 17);
    }
    for (ta, tb) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        let a = if ta == 1 { [3, 2] } else { [2, 3] };
        let b = if tb == 1 { [4, 3] } else { [3, 4] };
        let attrs = vec![("transA", AttrValue::Int(ta)), ("transB", AttrValue::Int(tb)), ("alpha", AttrValue::Float(0.7)), ("beta", AttrValue::Float(1.3))];
        one("Gemm", vec![("a", values(r, &a, 1.0, 0.0)), ("b", values(r, &b, 1.0, 0.0)), ("c", values(r, &[4], 1.0, 0.0))], attrs, 17);
    }
}

#[test]
fn binary_gradients_with_broadcasting() {
    let r = &mut ChaCha8Rng::seed_from_u64(2);
    for op in ["Add", "Sub", "Mul", "Div"] {
        for (a, b) in [(vec![2, 3], vec![3]), (vec![2, 1, 3], vec![4, 1]), (vec![2, 3], vec![2, 3])] {
            let rhs = if op == "Div" { positive(r, &b) } else { values(r, &b, 1.0, 0.0) };
            one(op, vec![("a", values(r, &a, 1.0, 0.0)), ("b", rhs)], vec![], 17);
        }
    }
}

#[test]
fn activation_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(3);
    for op in ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Erf", "Gelu", "Exp", "Neg", "Softplus"] {
        one(op, vec![("x", values(r, &[2, 5], 2.0, 0.05))], vec![], 20);
    }
    one("Gelu", vec![("x", values(r, &[2, 5], 2.0, 0.0))], vec![("approximate", AttrValue::String(b"tanh".to_vec()))], 20);
    for op in ["Log", "Sqrt", "Reciprocal"] {
        one(op, vec![("x", positive(r, &[2, 5]))], vec![], 17);
    }
    one("Pow", vec![("x", positive(r, &[2, 3])), ("e", Tensor::F32(ArrayD::from_elem(IxDyn(&[1]), 2.0)))], vec![], 17);
    one("Pow", vec![("x", positive(r, &[2, 3])), ("e", values(r, &[3], 1.5, 0.0))], vec![], 17);
    let clip = model(
        vec![node("Clip", &["x", "lo", "hi"], &["y"], vec![])],
        vec![("x", values(r, &[3, 4], 2.0, 0.0)), ("lo", Tensor::scalar(-0.55f32)), ("hi", Tensor::scalar(0.65f32))],
        "y",
        17,
    );
    check(&clip);
}

#[test]
fn where_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(10);
    let cond = Tensor::Bool(ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![true, false]).unwrap());
    let m = model(
        vec![node("Where", &["c", "x", "z"], &["y"], vec![])],
        vec![("c", cond), ("x", values(r, &[2, 3], 1.0, 0.0)), ("z", values(r, &[3], 1.0, 0.0))],
        "y",
        17,
    );
    check(&m);
}

#[test]
fn softmax_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(4);
    for op in ["Softmax", "LogSoftmax"] {
        one(op, vec![("x", values(r, &[2, 3, 4], 2.0, 0.0))], vec![], 17);
        one(op, vec![("x", values(r, &[2, 3, 4], 2.0, 0.0))], vec![("axis", AttrValue::Int(1))], 17);
        one(op, vec![("x", values(r, &[2, 3, 4], 2.0, 0.0))], vec![("axis", AttrValue::Int(1))], 11);
    }
}

#[test]
fn layout_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(5);
    let x = |r: &mut ChaCha8Rng| values(r, &[2, 3, 4], 1.0, 0.0);
    one("Reshape", vec![("x", x(r)), ("s", ints(&[4, -1]))], vec![], 17);
    one("Flatten", vec![("x", x(r))], vec![("axis", AttrValue::Int(2))], 17);
    one("Transpose", vec![("x", x(r))], vec![("perm", AttrValue::Ints(vec![2, 0, 1]))], 17);
    one("Slice", vec![("x", x(r)), ("st", ints(&[0, 3])), ("en", ints(&[2, 0])), ("ax", ints(&[1, 2])), ("sp", ints(&[1, -2]))], vec![], 17);
    one("Gather", vec![("x", x(r)), ("i", ints(&[2, 0, 2]))], vec![("axis", AttrValue::Int(1))], 17);
    one("Gather", vec![("x", values(r, &[5, 3], 1.0, 0.0)), ("i", ints(&[4, 1, 4, -1]))], vec![], 17);
    one("Expand", vec![("x", values(r, &[3, 1], 1.0, 0.0)), ("s", ints(&[2, 3, 4]))], vec![], 17);
    one("Tile", vec![("x", values(r, &[2, 3], 1.0, 0.0)), ("s", ints(&[2, 2]))], vec![], 17);
    one("Concat", vec![("a", x(r)), ("b", values(r, &[2, 1, 4], 1.0, 0.0))], vec![("axis", AttrValue::Int(1))], 17);
    one("ReduceMean", vec![("x", x(r))], vec![("axes", AttrValue::Ints(vec![-1])), ("keepdims", AttrValue::Int(0))], 17);
    one("ReduceSum", vec![("x", x(r)), ("a", ints(&[0, 2]))], vec![], 17);
    one("ReduceMean", vec![("x", x(r))], vec![], 17);
}

#[test]
fn layer_norm_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(6);
    one("LayerNormalization", vec![("x", values(r, &[2, 3, 4], 2.0, 0.0)), ("s", values(r, &[4], 1.0, 0.0)), ("b", values(r, &[4], 1.0, 0.0))], vec![], 17);
    one(
        "LayerNormalization",
        vec![("x", values(r, &[2, 3, 4], 2.0, 0.0)), ("s", values(r, &[3, 4], 1.0, 0.0))],
        vec![("axis", AttrValue::Int(1)), ("epsilon", AttrValue::Float(1e-3))],
        17,
    );
}

#[test]
fn a_chain_of_ops_backpropagates_through_every_node() {
    let r = &mut ChaCha8Rng::seed_from_u64(8);
    let m = model(
        vec![
            node("MatMul", &["x", "w1"], &["h"], vec![]),
            node("Add", &["h", "b1"], &["h1"], vec![]),
            node("Tanh", &["h1"], &["a"], vec![]),
            node("MatMul", &["a", "w2"], &["z"], vec![]),
            node("Softmax", &["z"], &["y"], vec![]),
        ],
        vec![
            ("x", values(r, &[3, 4], 1.0, 0.0)),
            ("w1", values(r, &[4, 5], 1.0, 0.0)),
            ("b1", values(r, &[5], 1.0, 0.0)),
            ("w2", values(r, &[5, 3], 1.0, 0.0)),
        ],
        "y",
        17,
    );
    check(&m);
}

#[test]
fn ops_without_a_rule_are_listed_together() {
    let r = &mut ChaCha8Rng::seed_from_u64(9);
    let m = model(
        vec![
            node("InstanceNormalization", &["x", "s", "b"], &["c"], vec![]),
            node("LRN", &["c"], &["p"], vec![("size", AttrValue::Int(3))]),
            node("Relu", &["p"], &["y"], vec![]),
        ],
        vec![("x", values(r, &[1, 2, 3, 3], 1.0, 0.0)), ("s", values(r, &[2], 1.0, 0.0)), ("b", values(r, &[2], 1.0, 0.0))],
        "y",
        17,
    );
    let e = Tape::new(&m, |n, _| n == "s").err().unwrap().to_string();
    assert!(e.contains("InstanceNormalization (InstanceNormalization_0)") && e.contains("LRN (LRN_0)"), "{e}");
}

/// Distinct values at least 0.1 apart in random order: a finite-difference
/// step never changes which element a max pool picks.
fn spaced(rng: &mut ChaCha8Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f32> = (0..n).map(|i| i as f32 * 0.1 - n as f32 * 0.05).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.random_range(0..=i));
    }
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
}

fn ints_attr(v: &[i64]) -> AttrValue {
    AttrValue::Ints(v.to_vec())
}

#[test]
fn conv_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(11);
    // (input, weights, attributes): plain, padded and strided, dilated, grouped, depthwise, 1-D, SAME padding.
    type Case = (Vec<usize>, Vec<usize>, Vec<(&'static str, AttrValue)>);
    let cases: Vec<Case> = vec![
        (vec![2, 2, 4, 4], vec![3, 2, 3, 3], vec![]),
        (vec![1, 2, 5, 4], vec![3, 2, 3, 2], vec![("pads", ints_attr(&[1, 0, 1, 1])), ("strides", ints_attr(&[2, 1]))]),
        (vec![1, 1, 5, 5], vec![2, 1, 2, 2], vec![("dilations", ints_attr(&[2, 1]))]),
        (vec![1, 4, 3, 3], vec![4, 2, 2, 2], vec![("group", AttrValue::Int(2)), ("pads", ints_attr(&[1, 1, 0, 0]))]),
        (vec![2, 3, 4, 4], vec![3, 1, 3, 3], vec![("group", AttrValue::Int(3)), ("pads", ints_attr(&[1, 1, 1, 1]))]),
        (vec![2, 2, 6], vec![3, 2, 3], vec![("strides", ints_attr(&[2]))]),
        (vec![1, 2, 5, 5], vec![2, 2, 3, 3], vec![("auto_pad", AttrValue::String(b"SAME_UPPER".to_vec())), ("strides", ints_attr(&[2, 2]))]),
    ];
    for (x, w, attrs) in cases {
        let m = w[0];
        let inputs = vec![("x", values(r, &x, 1.0, 0.0)), ("w", values(r, &w, 1.0, 0.0)), ("b", values(r, &[m], 1.0, 0.0))];
        one("Conv", inputs, attrs, 17);
    }
}

#[test]
fn batch_norm_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(12);
    let inputs = vec![
        ("x", values(r, &[2, 3, 2, 2], 2.0, 0.0)),
        ("s", values(r, &[3], 1.0, 0.0)),
        ("b", values(r, &[3], 1.0, 0.0)),
        ("m", values(r, &[3], 1.0, 0.0)),
        ("v", positive(r, &[3])),
    ];
    one("BatchNormalization", inputs, vec![("epsilon", AttrValue::Float(1e-3))], 15);
    let training = model(
        vec![node("BatchNormalization", &["x", "s", "b", "m", "v"], &["y"], vec![("training_mode", AttrValue::Int(1))])],
        vec![
            ("x", values(r, &[2, 3], 1.0, 0.0)),
            ("s", values(r, &[3], 1.0, 0.0)),
            ("b", values(r, &[3], 1.0, 0.0)),
            ("m", values(r, &[3], 1.0, 0.0)),
            ("v", positive(r, &[3])),
        ],
        "y",
        15,
    );
    let tape = Tape::new(&training, |n, _| n == "s").unwrap();
    let no_inputs = vec![];
    let fwd = tape.forward(&no_inputs).unwrap();
    let seed = ArrayD::from_elem(IxDyn(&[2, 3]), 1.0f32);
    let e = tape.backward(&fwd, vec![(tape.value_id("y").unwrap(), seed)]).err().unwrap().to_string();
    assert!(e.contains("training_mode=1") && e.contains("BatchNormalization"), "{e}");
}

#[test]
fn pool_gradients() {
    let r = &mut ChaCha8Rng::seed_from_u64(13);
    let k = |v: &[i64]| ("kernel_shape", ints_attr(v));
    for op in ["MaxPool", "AveragePool"] {
        one(op, vec![("x", spaced(r, &[2, 2, 4, 4]))], vec![k(&[2, 2]), ("strides", ints_attr(&[2, 2]))], 17);
        one(op, vec![("x", spaced(r, &[1, 2, 5, 5]))], vec![k(&[3, 3]), ("pads", ints_attr(&[1, 1, 1, 1])), ("strides", ints_attr(&[2, 2]))], 17);
        one(op, vec![("x", spaced(r, &[1, 1, 5, 4]))], vec![k(&[2, 3]), ("ceil_mode", AttrValue::Int(1)), ("strides", ints_attr(&[2, 2]))], 17);
        one(op, vec![("x", spaced(r, &[1, 2, 7]))], vec![k(&[3]), ("strides", ints_attr(&[2]))], 17);
    }
    one(
        "AveragePool",
        vec![("x", spaced(r, &[1, 2, 4, 4]))],
        vec![k(&[3, 3]), ("pads", ints_attr(&[1, 1, 1, 1])), ("count_include_pad", AttrValue::Int(1))],
        17,
    );
    one("MaxPool", vec![("x", spaced(r, &[1, 1, 5, 5]))], vec![k(&[2, 2]), ("dilations", ints_attr(&[2, 2]))], 17);
    for op in ["GlobalAveragePool", "GlobalMaxPool"] {
        one(op, vec![("x", spaced(r, &[2, 3, 3, 2]))], vec![], 17);
    }
}

#[test]
fn a_small_cnn_backpropagates_through_every_node() {
    let r = &mut ChaCha8Rng::seed_from_u64(14);
    let m = model(
        vec![
            node("Conv", &["x", "w1", "b1"], &["c1"], vec![("pads", ints_attr(&[1, 1, 1, 1]))]),
            node("BatchNormalization", &["c1", "s", "sh", "mu", "var"], &["n1"], vec![]),
            node("Relu", &["n1"], &["a1"], vec![]),
            node("MaxPool", &["a1"], &["p1"], vec![("kernel_shape", ints_attr(&[2, 2])), ("strides", ints_attr(&[2, 2]))]),
            node("Conv", &["p1", "w2"], &["c2"], vec![("group", AttrValue::Int(2)), ("pads", ints_attr(&[1, 1, 1, 1]))]),
            node("GlobalAveragePool", &["c2"], &["g"], vec![]),
            node("Flatten", &["g"], &["f"], vec![]),
            node("Gemm", &["f", "w3", "b3"], &["z"], vec![("transB", AttrValue::Int(1))]),
            node("Softmax", &["z"], &["y"], vec![]),
        ],
        vec![
            ("x", values(r, &[2, 1, 4, 4], 1.0, 0.0)),
            ("w1", values(r, &[2, 1, 3, 3], 1.0, 0.0)),
            ("b1", values(r, &[2], 1.0, 0.0)),
            ("s", positive(r, &[2])),
            ("sh", values(r, &[2], 1.0, 0.0)),
            ("mu", values(r, &[2], 0.1, 0.0)),
            ("var", positive(r, &[2])),
            ("w2", values(r, &[4, 1, 3, 3], 1.0, 0.0)),
            ("w3", values(r, &[3, 4], 1.0, 0.0)),
            ("b3", values(r, &[3], 1.0, 0.0)),
        ],
        "y",
        17,
    );
    check(&m);
}

#[test]
fn fake_quantization_passes_gradients_straight_through_except_where_codes_saturate() {
    let mut fq = node(crate::ops::internal::FAKE_QUANTIZE, &["x", "s", "z"], &["y", "codes"], vec![]);
    fq.domain = crate::ops::internal::INTERNAL_DOMAIN.into();
    let x = Tensor::from_vec(&[5], vec![0.26f32, -0.04, 20.0, -20.0, 12.7]).unwrap();
    let zp = Tensor::I8(ArrayD::from_elem(IxDyn(&[]), 0i8));
    let m = model(vec![fq], vec![("x", x), ("s", Tensor::scalar(0.1f32)), ("z", zp)], "y", 17);
    let tape = Tape::new(&m, |n, _| n == "x").unwrap();
    let no_inputs = vec![];
    let fwd = tape.forward(&no_inputs).unwrap();
    let y = fwd.value(tape.value_id("y").unwrap()).unwrap().to_f64_vec();
    let expect = [0.3, 0.0, 12.7, -12.8, 12.7];
    assert!(y.iter().zip(expect).all(|(a, b)| (a - b).abs() < 1e-6), "{y:?}");
    let seed = ArrayD::from_shape_vec(IxDyn(&[5]), vec![1.0f32, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let g = tape.backward(&fwd, vec![(tape.value_id("y").unwrap(), seed)]).unwrap();
    // 20 and −20 are beyond the codes (saturated): nothing passes; 12.7 is the largest code itself.
    assert_eq!(g[0].as_slice().unwrap(), &[1.0, 2.0, 0.0, 0.0, 5.0]);
}
