//! Students a distill step can train: a proposed MLP, or the model itself.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, SquishError};
use crate::ir::{AttrValue, Attribute, Dim, Graph, Model, Node, ValueInfo, ValueType};
use crate::tensor::Tensor;

/// `"student"`: `"finetune"` (the model as it comes to this step, pruned
/// zeros kept), `"mlp:H1,H2,…"` (a new MLP with those hidden widths) or
/// `"cnn:C1,C2,…"` (a new CNN with those channel counts).
#[derive(Debug, Clone, PartialEq)]
pub enum Student {
    Finetune,
    Mlp(Vec<usize>),
    Cnn(Vec<usize>),
}

/// Widest hidden layer a proposed MLP may have.
const MAX_WIDTH: usize = 16_384;
/// Most channels a proposed CNN layer may have.
const MAX_CHANNELS: usize = 1024;

fn widths(s: &str, list: &str, max: usize, layers: usize, what: &str) -> Result<Vec<usize>> {
    let bad = |why: String| SquishError::Recipe(format!("key 'distill.student': {why}"));
    let hidden = list
        .split(',')
        .map(|w| match w.trim().parse::<usize>() {
            Ok(v) if (1..=max).contains(&v) => Ok(v),
            _ => Err(bad(format!("'{w}' in '{s}' is not a layer width from 1 to {max}"))),
        })
        .collect::<Result<Vec<_>>>()?;
    if hidden.is_empty() || hidden.len() > layers {
        return Err(bad(format!("'{s}': {what} has 1 to {layers} hidden layers")));
    }
    Ok(hidden)
}

impl Student {
    pub fn parse(s: &str) -> Result<Student> {
        if s == "finetune" {
            return Ok(Student::Finetune);
        }
        if let Some(list) = s.strip_prefix("mlp:") {
            return Ok(Student::Mlp(widths(s, list, MAX_WIDTH, 8, "an MLP student")?));
        }
        if let Some(list) = s.strip_prefix("cnn:") {
            return Ok(Student::Cnn(widths(s, list, MAX_CHANNELS, 4, "a CNN student")?));
        }
        Err(SquishError::Recipe(format!("key 'distill.student': '{s}' is not a student (use \"finetune\", \"mlp:32\", \"mlp:64,32\" or \"cnn:8,16\")")))
    }

    pub fn label(&self) -> String {
        match self {
            Student::Finetune => "finetune".into(),
            Student::Mlp(h) => format!("mlp:{}", join(h)),
            Student::Cnn(c) => format!("cnn:{}", join(c)),
        }
    }
}

fn join(widths: &[usize]) -> String {
    widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",")
}

/// What a new student must reproduce of the teacher.
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
    let bad = |why: String| SquishError::Recipe(format!("key 'distill.student': a new student {why}"));
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

/// How a CNN student sees the teacher's input as images `[C, H, W]`:
/// `[N, C, H, W]` as it is, `[N, H, W]` as one channel, and `[N, F]` with
/// `F` a square number as one `√F × √F` channel (the digits' 64 pixels are
/// an 8×8 image).
pub fn image_of(input: &ValueInfo) -> Result<[usize; 3]> {
    let bad = |why: String| SquishError::Recipe(format!("key 'distill.student': a CNN student {why}"));
    let ValueType::Tensor { shape: Some(dims), .. } = &input.ty else { return Err(bad(format!("needs the input '{}' to have a declared shape", input.name))) };
    let fixed: Vec<usize> = dims.iter().skip(1).filter_map(|d| if let Dim::Fixed(v) = d { usize::try_from(*v).ok() } else { None }).collect();
    if fixed.len() + 1 != dims.len() {
        return Err(bad(format!("needs a fixed size per example; '{}' has shape {dims:?}", input.name)));
    }
    match fixed[..] {
        [_, _, _] | [_, _] | [_] => crate::train::fit::augment::image_view(&fixed)
            .ok_or_else(|| bad(format!("reads images; '{}' has {} features, not a square number (use an MLP)", input.name, fixed[0]))),
        _ => Err(bad(format!("reads images [N, C, H, W]; '{}' has shape {dims:?}", input.name))),
    }
}

/// A CNN: per width a 3×3 convolution (padded to keep the size), ReLU and
/// 2×2 max pooling (while the image is at least 2×2), then one linear layer
/// to the outputs. Weights are drawn as PyTorch draws them (uniform in
/// ±1/√fan_in), biases 0.
pub fn cnn(shape: &Shape, channels: &[usize], seed: u64) -> Result<Model> {
    let [c0, mut h, mut w] = image_of(&shape.input)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut nodes, mut inits) = (Vec::new(), Vec::new());
    let mut x = shape.input.name.clone();
    if !matches!(&shape.input.ty, ValueType::Tensor { shape: Some(d), .. } if d.len() == 4) {
        let dims = [-1, c0 as i64, h as i64, w as i64];
        inits.push(("image_shape".to_string(), Tensor::I64(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[4]), dims.to_vec()).expect("4 values"))));
        nodes.push(node("Reshape", &[&x, "image_shape"], "image", vec![]));
        x = "image".into();
    }
    let mut cin = c0;
    for (l, &cout) in channels.iter().enumerate() {
        let (wn, bn) = (format!("conv{l}.weight"), format!("conv{l}.bias"));
        inits.push((wn.clone(), uniform(&mut rng, &[cout, cin, 3, 3], cin * 9)));
        inits.push((bn.clone(), Tensor::from_vec(&[cout], vec![0.0f32; cout]).expect("sizes")));
        let pads = ("pads", AttrValue::Ints(vec![1, 1, 1, 1]));
        nodes.push(node("Conv", &[&x, &wn, &bn], &format!("conv{l}.out"), vec![pads]));
        nodes.push(node("Relu", &[&format!("conv{l}.out")], &format!("conv{l}.relu"), vec![]));
        x = format!("conv{l}.relu");
        if h >= 2 && w >= 2 {
            let two = || AttrValue::Ints(vec![2, 2]);
            nodes.push(node("MaxPool", &[&x], &format!("pool{l}.out"), vec![("kernel_shape", two()), ("strides", two())]));
            x = format!("pool{l}.out");
            (h, w) = (h / 2, w / 2);
        }
        cin = cout;
    }
    nodes.push(node("Flatten", &[&x], "flat", vec![("axis", AttrValue::Int(1))]));
    let features = cin * h * w;
    dense_layers(&mut rng, "flat", &[features, shape.classes], shape, &mut nodes, &mut inits);
    let doc = format!("Student CNN {} distilled by Squish", join(channels));
    Ok(student_model(shape, nodes, inits, doc))
}

fn uniform(rng: &mut ChaCha8Rng, dims: &[usize], fan_in: usize) -> Tensor {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let n: usize = dims.iter().product();
    Tensor::from_vec(dims, (0..n).map(|_| rng.random_range(-bound..bound)).collect()).expect("sizes")
}

/// Linear layers `widths[0] → … → widths[last]` from `x`, ReLU between them
/// and a softmax after the last when the teacher's output is a distribution.
fn dense_layers(rng: &mut ChaCha8Rng, x: &str, widths: &[usize], shape: &Shape, nodes: &mut Vec<Node>, inits: &mut Vec<(String, Tensor)>) {
    let mut x = x.to_string();
    for (l, pair) in widths.windows(2).enumerate() {
        let (fan_in, fan_out) = (pair[0], pair[1]);
        let (wn, bn) = (format!("layer{l}.weight"), format!("layer{l}.bias"));
        inits.push((wn.clone(), uniform(rng, &[fan_in, fan_out], fan_in)));
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
}

/// An MLP `features → hidden… → classes` (ReLU between layers), weights
/// drawn as PyTorch's `Linear` draws them (uniform in ±1/√fan_in), biases 0.
pub fn mlp(shape: &Shape, hidden: &[usize], seed: u64) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut nodes, mut inits) = (Vec::new(), Vec::new());
    let mut x = shape.input.name.clone();
    if let ValueType::Tensor { shape: Some(d), .. } = &shape.input.ty {
        if d.len() > 2 {
            nodes.push(node("Flatten", &[&x], "flat", vec![("axis", AttrValue::Int(1))]));
            x = "flat".into();
        }
    }
    let widths: Vec<usize> = std::iter::once(shape.features).chain(hidden.iter().copied()).chain(std::iter::once(shape.classes)).collect();
    dense_layers(&mut rng, &x, &widths, shape, &mut nodes, &mut inits);
    student_model(shape, nodes, inits, format!("Student MLP {} distilled by Squish", widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-")))
}

fn student_model(shape: &Shape, nodes: Vec<Node>, initializers: Vec<(String, Tensor)>, doc_string: String) -> Model {
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
        doc_string,
        metadata: vec![],
        graph: Graph {
            name: "student".into(),
            doc_string: String::new(),
            nodes,
            inputs: vec![shape.input.clone()],
            outputs: vec![output],
            initializers,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dims: &[i64]) -> ValueInfo {
        let shape = Some(std::iter::once(Dim::Symbolic("n".into())).chain(dims.iter().map(|&d| Dim::Fixed(d))).collect());
        ValueInfo { name: "pixels".into(), ty: ValueType::Tensor { elem_type: 1, shape }, doc_string: String::new() }
    }

    #[test]
    fn students_parse_and_name_themselves() {
        assert_eq!(Student::parse("cnn:8,16").unwrap(), Student::Cnn(vec![8, 16]));
        assert_eq!(Student::parse("cnn:8,16").unwrap().label(), "cnn:8,16");
        assert_eq!(Student::parse("mlp:32").unwrap().label(), "mlp:32");
        for bad in ["cnn:", "cnn:0", "cnn:1,2,3,4,5", "cnn:2000", "resnet"] {
            let e = Student::parse(bad).err().unwrap().to_string();
            assert!(e.contains("key 'distill.student'"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_cnn_student_reads_images_or_square_feature_vectors() {
        assert_eq!(image_of(&input(&[3, 28, 20])).unwrap(), [3, 28, 20]);
        assert_eq!(image_of(&input(&[28, 28])).unwrap(), [1, 28, 28]);
        assert_eq!(image_of(&input(&[64])).unwrap(), [1, 8, 8]);
        let e = image_of(&input(&[10])).err().unwrap().to_string();
        assert!(e.contains("'pixels' has 10 features, not a square number"), "{e}");
        let e = image_of(&input(&[2, 3, 4, 5])).err().unwrap().to_string();
        assert!(e.contains("reads images"), "{e}");
    }
}
