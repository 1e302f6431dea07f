//! Students a distill step can train: a proposed MLP, or the model itself.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, SquishError};
use crate::ir::{AttrValue, Attribute, Dim, Graph, Model, Node, ValueInfo, ValueType};
use crate::tensor::Tensor;

/// `"student"`: `"finetune"` (the model as it comes to this step, pruned
/// zeros kept) or `"mlp:H1,H2,…"` (a new MLP with those hidden widths).
#[derive(Debug, Clone, PartialEq)]
pub enum Student {
    Finetune,
    Mlp(Vec<usize>),
}

/// Widest hidden layer a proposed MLP may have.
const MAX_WIDTH: usize = 16_384;

impl Student {
    pub fn parse(s: &str) -> Result<Student> {
        let bad = |why: String| SquishError::Recipe(format!("key 'distill.student': {why}"));
        if s == "finetune" {
            return Ok(Student::Finetune);
        }
        let Some(widths) = s.strip_prefix("mlp:") else {
            return Err(bad(format!("'{s}' is not a student (use \"finetune\" or \"mlp:32\", \"mlp:64,32\")")));
        };
        let hidden = widths
            .split(',')
            .map(|w| match w.trim().parse::<usize>() {
                Ok(v) if (1..=MAX_WIDTH).contains(&v) => Ok(v),
                _ => Err(bad(format!("'{w}' in '{s}' is not a layer width from 1 to {MAX_WIDTH}"))),
            })
            .collect::<Result<Vec<_>>>()?;
        if hidden.is_empty() || hidden.len() > 8 {
            return Err(bad(format!("'{s}': an MLP student has 1 to 8 hidden layers")));
        }
        Ok(Student::Mlp(hidden))
    }

    pub fn label(&self) -> String {
        match self {
            Student::Finetune => "finetune".into(),
            Student::Mlp(h) => format!("mlp:{}", h.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",")),
        }
    }
}

/// What an MLP student must reproduce of the teacher.
pub struct Shape {
    pub input: ValueInfo,
    pub features: usize,
    pub output: String,
    pub classes: usize,
    /// The teacher's output is a class distribution: the student ends in a softmax.
    pub softmax: bool,
}

/// The teacher's single float input with a fixed feature size per example.
pub fn input_of(teacher: &Model) -> Result<(ValueInfo, usize)> {
    let bad = |why: String| SquishError::Recipe(format!("key 'distill.student': an MLP student {why}"));
    let inputs: Vec<&ValueInfo> = teacher.graph.real_inputs().collect();
    let [vi] = inputs[..] else { return Err(bad(format!("reads one input; the teacher takes {}", inputs.len()))) };
    let ValueType::Tensor { elem_type: 1, shape: Some(dims) } = &vi.ty else {
        return Err(bad(format!("reads a float32 input with a declared shape; the teacher's '{}' is not one", vi.name)));
    };
    let mut features = 1usize;
    for d in dims.iter().skip(1) {
        match d {
            Dim::Fixed(v) if *v > 0 => features = features.saturating_mul(*v as usize),
            _ => return Err(bad(format!("needs the teacher's input '{}' to have a fixed size per example (its shape is {dims:?})", vi.name))),
        }
    }
    if dims.len() < 2 || features > 1 << 24 {
        return Err(bad(format!("reads [batch, features…] inputs; '{}' has shape {dims:?}", vi.name)));
    }
    Ok(((*vi).clone(), features))
}

/// An MLP `features → hidden… → classes` (ReLU between layers), weights
/// drawn as PyTorch's `Linear` draws them (uniform in ±1/√fan_in), biases 0.
pub fn mlp(shape: &Shape, hidden: &[usize], seed: u64) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut x = shape.input.name.clone();
    if let ValueType::Tensor { shape: Some(d), .. } = &shape.input.ty {
        if d.len() > 2 {
            nodes.push(node("Flatten", &[&x], "flat", vec![("axis", AttrValue::Int(1))]));
            x = "flat".into();
        }
    }
    let widths: Vec<usize> = std::iter::once(shape.features).chain(hidden.iter().copied()).chain(std::iter::once(shape.classes)).collect();
    for (l, pair) in widths.windows(2).enumerate() {
        let (fan_in, fan_out) = (pair[0], pair[1]);
        let bound = 1.0 / (fan_in as f32).sqrt();
        let w: Vec<f32> = (0..fan_in * fan_out).map(|_| rng.random_range(-bound..bound)).collect();
        let (wn, bn) = (format!("layer{l}.weight"), format!("layer{l}.bias"));
        inits.push((wn.clone(), Tensor::from_vec(&[fan_in, fan_out], w).expect("sizes")));
        inits.push((bn.clone(), Tensor::from_vec(&[fan_out], vec![0.0f32; fan_out]).expect("sizes")));
        let last = l + 2 == widths.len();
        nodes.push(node("MatMul", &[&x, &wn], &format!("layer{l}.matmul"), vec![]));
        let sum = if last && !shape.softmax { shape.output.clone() } else { format!("layer{l}.out") };
        nodes.push(node("Add", &[&format!("layer{l}.matmul"), &bn], &sum, vec![]));
        x = sum;
        if !last {
            nodes.push(node("Relu", &[&x], &format!("layer{l}.relu"), vec![]));
            x = format!("layer{l}.relu");
        }
    }
    if shape.softmax {
        nodes.push(node("Softmax", &[&x], &shape.output, vec![("axis", AttrValue::Int(-1))]));
    }
    let output = ValueInfo {
        name: shape.output.clone(),
        ty: ValueType::Tensor { elem_type: 1, shape: Some(vec![Dim::Symbolic("batch".into()), Dim::Fixed(shape.classes as i64)]) },
        doc_string: String::new(),
    };
    Model {
        ir_version: 8,
        opsets: vec![(String::new(), 17)],
        producer_name: "squish".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        domain: String::new(),
        model_version: 0,
        doc_string: format!("Student MLP {} distilled by Squish", widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-")),
        metadata: vec![],
        graph: Graph {
            name: "student".into(),
            doc_string: String::new(),
            nodes,
            inputs: vec![shape.input.clone()],
            outputs: vec![output],
            initializers: inits,
            value_info: vec![],
            sparse_stored: Default::default(),
        },
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<(&str, AttrValue)>) -> Node {
    Node {
        name: format!("{output}.{}", op.to_lowercase()),
        op_type: op.into(),
        domain: String::new(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: vec![output.into()],
        attributes: attrs.into_iter().map(|(n, value)| Attribute { name: n.into(), value }).collect(),
        doc_string: String::new(),
    }
}

/// The float initializers fine-tuning trains: weights and biases of linear
/// layers, normalisation scales and shifts — every float initializer with
/// more than one value read by one of those ops. Embedding tables stay as
/// they are: compression does not touch them, and their gradient and
/// optimiser state would be the size of the table at every step.
pub fn trainable(model: &Model, excluded: &[String]) -> std::collections::HashMap<String, bool> {
    let mut out = std::collections::HashMap::new();
    for n in &model.graph.nodes {
        if excluded.contains(&n.name) || !n.domain.is_empty() {
            continue;
        }
        let positions: &[usize] = match n.op_type.as_str() {
            "MatMul" | "Gemm" | "Conv" => &[0, 1, 2],
            "Add" | "Sub" | "Mul" => &[0, 1],
            "LayerNormalization" | "BatchNormalization" => &[1, 2],
            _ => continue,
        };
        let matrix = matches!(n.op_type.as_str(), "MatMul" | "Gemm" | "Conv");
        for &i in positions {
            let Some(name) = n.inputs.get(i) else { continue };
            if let Some(Tensor::F32(a)) = model.graph.initializer(name) {
                if a.len() > 1 && !model.graph.inputs.iter().any(|v| v.name == *name) {
                    // A weight matrix (not a bias): its zeros are a pruning mask.
                    let is_weight = matrix && (i == 1 || (i == 0 && n.op_type == "MatMul")) && a.ndim() >= 2;
                    *out.entry(name.clone()).or_insert(false) |= is_weight;
                }
            }
        }
    }
    out
}
