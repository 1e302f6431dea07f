//! Recurrent ops: LSTM (peepholes, clip, input_forget), GRU (both
//! `linear_before_reset` forms) and RNN, f32; forward, reverse and
//! bidirectional; sequence_lens; both layouts. The three share attribute
//! parsing, input checks, the input projection of every step at once
//! (one GEMM per direction) and the assembly of Y and the final states.

use ndarray::{ArrayD, IxDyn};

use super::facts::{input, Facts};
use super::{optional_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::ir::{AttrValue, Dim, Node};
use crate::kernels::active as k;
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    r.insert("", "LSTM", build_lstm);
    r.insert("", "GRU", build_gru);
    r.insert("", "RNN", build_rnn);
    r.facts("", &["LSTM", "GRU", "RNN"], recurrent_facts);
}

/// Y `[seq, dirs, batch, hidden]` and the final states `[dirs, batch, hidden]`
/// (batch first with `layout` 1).
fn recurrent_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let x = input(ins, 0);
    let hs = Dim::Fixed(node.int_attr("hidden_size", 0));
    let nd = Dim::Fixed(if matches!(node.attr("direction"), Some(AttrValue::String(s)) if s == b"bidirectional") { 2 } else { 1 });
    let batch_major = node.int_attr("layout", 0) != 0;
    let shapes = x.shape.filter(|s| s.len() == 3 && node.int_attr("hidden_size", 0) > 0).map(|s| {
        let (seq, batch) = if batch_major { (s[1].clone(), s[0].clone()) } else { (s[0].clone(), s[1].clone()) };
        if batch_major {
            (vec![batch.clone(), seq, nd.clone(), hs.clone()], vec![batch, nd, hs])
        } else {
            (vec![seq, nd.clone(), batch.clone(), hs.clone()], vec![nd, batch, hs])
        }
    });
    let (y, state) = shapes.map_or((None, None), |(y, s)| (Some(y), Some(s)));
    let mut out = vec![Facts::with(x.dtype, y)];
    out.extend((1..node.outputs.len()).map(|_| Facts::with(x.dtype, state.clone())));
    out
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Sigmoid,
    Tanh,
    Relu,
    HardSigmoid(f32, f32),
    LeakyRelu(f32),
    Affine(f32, f32),
    ScaledTanh(f32, f32),
    Elu(f32),
    Softsign,
    Softplus,
    ThresholdedRelu(f32),
}

impl Act {
    fn parse(name: &str, alpha: Option<f32>, beta: Option<f32>) -> Option<Act> {
        Some(match name {
            "Sigmoid" => Act::Sigmoid,
            "Tanh" => Act::Tanh,
            "Relu" => Act::Relu,
            "HardSigmoid" => Act::HardSigmoid(alpha.unwrap_or(0.2), beta.unwrap_or(0.5)),
            "LeakyRelu" => Act::LeakyRelu(alpha.unwrap_or(0.01)),
            "Affine" => Act::Affine(alpha.unwrap_or(1.0), beta.unwrap_or(0.0)),
            "ScaledTanh" => Act::ScaledTanh(alpha.unwrap_or(1.0), beta.unwrap_or(1.0)),
            "Elu" => Act::Elu(alpha.unwrap_or(1.0)),
            "Softsign" => Act::Softsign,
            "Softplus" => Act::Softplus,
            "ThresholdedRelu" => Act::ThresholdedRelu(alpha.unwrap_or(1.0)),
            _ => return None,
        })
    }

    fn apply(self, x: f32) -> f32 {
        match self {
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
            Act::Relu => x.max(0.0),
            Act::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Act::LeakyRelu(a) => {
                if x < 0.0 {
                    a * x
                } else {
                    x
                }
            }
            Act::Affine(a, b) => a * x + b,
            Act::ScaledTanh(a, b) => a * (b * x).tanh(),
            Act::Elu(a) => {
                if x < 0.0 {
                    a * (x.exp() - 1.0)
                } else {
                    x
                }
            }
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => x.exp().ln_1p(),
            Act::ThresholdedRelu(a) => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
        }
    }
}

/// What every recurrent op reads from its attributes.
struct Recurrence {
    hidden: usize,
    /// One entry per direction: true = reverse.
    directions: Vec<bool>,
    /// Per direction, the op's activations in its own order.
    acts: Vec<Vec<Act>>,
    clip: Option<f32>,
    batch_major: bool,
}

impl Recurrence {
    /// Parses the shared attributes; `defaults` are the op's activations.
    fn new(ctx: &BuildCtx, defaults: &[Act]) -> Result<Recurrence> {
        let a = ctx.attrs();
        let hidden = a.required_int("hidden_size")?;
        if hidden < 1 {
            return Err(a.error("hidden_size", format!("must be ≥ 1, got {hidden}")));
        }
        let directions = match a.opt_string("direction")?.as_deref().unwrap_or("forward") {
            "forward" => vec![false],
            "reverse" => vec![true],
            "bidirectional" => vec![false, true],
            other => return Err(a.error("direction", format!("unknown direction '{other}' (expected forward, reverse or bidirectional)"))),
        };
        let names: Vec<String> = match ctx.node.attr("activations") {
            Some(AttrValue::Strings(v)) => v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect(),
            Some(other) => return Err(a.error("activations", format!("expected strings, found {}", other.kind()))),
            None => vec![],
        };
        let alphas = a.opt_floats("activation_alpha")?.unwrap_or(&[]);
        let betas = a.opt_floats("activation_beta")?.unwrap_or(&[]);
        let n = defaults.len();
        if !names.is_empty() && names.len() != n * directions.len() {
            return Err(a.error("activations", format!("needs {} names ({n} per direction), got {}", n * directions.len(), names.len())));
        }
        let mut acts = Vec::new();
        for d in 0..directions.len() {
            let mut set = defaults.to_vec();
            for (j, slot) in set.iter_mut().enumerate().filter(|_| !names.is_empty()) {
                let i = d * n + j;
                *slot = Act::parse(&names[i], alphas.get(i).copied(), betas.get(i).copied())
                    .ok_or_else(|| a.error("activations", format!("unknown activation '{}'", names[i])))?;
            }
            acts.push(set);
        }
        let clip = a.opt_float("clip")?;
        if clip.is_some_and(|c| c.is_nan() || c < 0.0) {
            return Err(a.error("clip", format!("must be a non-negative threshold, got {}", clip.unwrap_or(0.0))));
        }
        let layout = a.int("layout", 0)?;
        if layout != 0 && layout != 1 {
            return Err(a.error("layout", format!("must be 0 or 1, got {layout}")));
        }
        Ok(Recurrence { hidden: hidden as usize, directions, acts, clip, batch_major: layout == 1 })
    }

    fn clip(&self, v: f32) -> f32 {
        match self.clip {
            Some(c) => v.clamp(-c, c),
            None => v,
        }
    }
}

fn expect_shape(a: &ArrayD<f32>, want: &[usize], what: &str) -> Result<()> {
    if a.shape() != want {
        return Err(SquishError::op(format!("{what} has shape {:?}, expected {want:?}", a.shape())));
    }
    Ok(())
}

/// The checked inputs of one run, with `gates` gates per direction.
struct Run {
    seq: usize,
    batch: usize,
    /// Per direction: every step's input projection `X·Wᵀ + Wb`, `[seq·batch, gates·hidden]`.
    xw: Vec<Vec<f32>>,
    /// Per direction: `Rᵀ`, `[hidden, gates·hidden]`.
    rt: Vec<Vec<f32>>,
    /// Per direction: the recurrence bias `Rb`, `[gates·hidden]`.
    rb: Vec<Vec<f32>>,
    /// Valid steps of each batch entry.
    lens: Vec<usize>,
    /// Initial hidden state, `[dirs, batch, hidden]`.
    h0: Vec<f32>,
}

/// Rows `d·rows .. (d+1)·rows` of a `[dirs, rows, cols]` weight, transposed.
fn transposed(w: &[f32], d: usize, rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = w[(d * rows + r) * cols + c];
        }
    }
    t
}

impl Recurrence {
    /// Checks X, W, R, B, sequence_lens and initial_h and projects X.
    fn prepare(&self, inputs: &[Option<&Tensor>], gates: usize) -> Result<Run> {
        let x = optional_f32(inputs, 0, "X")?.ok_or_else(|| SquishError::op("X (input 0) is required"))?;
        let w = optional_f32(inputs, 1, "W")?.ok_or_else(|| SquishError::op("W (input 1) is required"))?;
        let r = optional_f32(inputs, 2, "R")?.ok_or_else(|| SquishError::op("R (input 2) is required"))?;
        let (hs, nd, gh) = (self.hidden, self.directions.len(), gates * self.hidden);
        if x.ndim() != 3 {
            return Err(SquishError::op(format!("X must be 3-D, got shape {:?}", x.shape())));
        }
        let (seq, batch, isz) = if self.batch_major { (x.shape()[1], x.shape()[0], x.shape()[2]) } else { (x.shape()[0], x.shape()[1], x.shape()[2]) };
        expect_shape(w, &[nd, gh, isz], "W")?;
        expect_shape(r, &[nd, gh, hs], "R")?;
        let b = optional_f32(inputs, 3, "B")?;
        if let Some(b) = b {
            expect_shape(b, &[nd, 2 * gh], "B")?;
        }
        let lens: Vec<usize> = match inputs.get(4).copied().flatten() {
            None => vec![seq; batch],
            Some(t) => {
                let v = t.to_i64_vec().ok_or_else(|| SquishError::op(format!("sequence_lens must be integers, got {}", t.dtype())))?;
                if v.len() != batch || v.iter().any(|&l| l < 0 || l as usize > seq) {
                    return Err(SquishError::op(format!("sequence_lens {v:?} must hold {batch} values in 0..={seq}")));
                }
                v.iter().map(|&l| l as usize).collect()
            }
        };
        let h0 = self.state(inputs, 5, "initial_h", batch)?;
        // X as [seq, batch, input], contiguous.
        let xs: Vec<f32> = if self.batch_major { x.view().permuted_axes(IxDyn(&[1, 0, 2])).iter().copied().collect() } else { x.iter().copied().collect() };
        let (ws, rs) = (super::contiguous(w), super::contiguous(r));
        let bs: Vec<f32> = b.map_or_else(|| vec![0.0; nd * 2 * gh], |b| b.iter().copied().collect());
        let (mut xw, mut rt, mut rb) = (Vec::new(), Vec::new(), Vec::new());
        for d in 0..nd {
            let mut proj = vec![0.0f32; seq * batch * gh];
            if seq * batch > 0 && isz > 0 {
                k::gemm_f32(seq * batch, isz, gh, &xs, &transposed(&ws, d, gh, isz), &mut proj);
            }
            let wb = &bs[d * 2 * gh..][..gh];
            proj.chunks_exact_mut(gh).for_each(|row| row.iter_mut().zip(wb).for_each(|(p, b)| *p += b));
            xw.push(proj);
            rt.push(transposed(&rs, d, gh, hs));
            rb.push(bs[d * 2 * gh + gh..][..gh].to_vec());
        }
        Ok(Run { seq, batch, xw, rt, rb, lens, h0 })
    }

    /// A `[dirs, batch, hidden]` state input (batch first with layout 1), zeros when omitted.
    fn state(&self, inputs: &[Option<&Tensor>], i: usize, what: &str, batch: usize) -> Result<Vec<f32>> {
        let (nd, hs) = (self.directions.len(), self.hidden);
        let Some(s) = optional_f32(inputs, i, what)? else { return Ok(vec![0.0; nd * batch * hs]) };
        let want = if self.batch_major { [batch, nd, hs] } else { [nd, batch, hs] };
        expect_shape(s, &want, what)?;
        let v = super::contiguous(s);
        if !self.batch_major {
            return Ok(v.into_owned());
        }
        Ok((0..nd * batch * hs).map(|i| v[((i / hs) % batch * nd + i / (batch * hs)) * hs + i % hs]).collect())
    }

    /// Y and the final states (each `[dirs, batch, hidden]`) as output tensors.
    fn outputs(&self, seq: usize, batch: usize, y: Vec<f32>, states: Vec<Vec<f32>>) -> Vec<Tensor> {
        let (nd, hs) = (self.directions.len(), self.hidden);
        let array = |v: Vec<f32>, shape: &[usize]| ArrayD::from_shape_vec(IxDyn(shape), v).expect("sized");
        let (y, states): (ArrayD<f32>, Vec<ArrayD<f32>>) = if self.batch_major {
            let y = array(y, &[seq, nd, batch, hs]).permuted_axes(IxDyn(&[2, 0, 1, 3])).as_standard_layout().into_owned();
            (y, states.into_iter().map(|s| array(s, &[nd, batch, hs]).permuted_axes(IxDyn(&[1, 0, 2])).as_standard_layout().into_owned()).collect())
        } else {
            (array(y, &[seq, nd, batch, hs]), states.into_iter().map(|s| array(s, &[nd, batch, hs])).collect())
        };
        std::iter::once(y).chain(states).map(Tensor::F32).collect()
    }
}

impl Run {
    /// The time index of step `step` of batch entry `bi`, `None` past its length.
    fn time(&self, step: usize, bi: usize, reverse: bool) -> Option<usize> {
        (step < self.lens[bi]).then(|| if reverse { self.lens[bi] - 1 - step } else { step })
    }
}

/// `[r·hidden ..]` of `[rows, hidden]` state `h` times `rt` (`[hidden, cols]`).
fn recur(rows: usize, hs: usize, cols: usize, h: &[f32], rt: &[f32], out: &mut [f32]) {
    if rows > 0 {
        k::gemm_f32(rows, hs, cols, h, rt, out);
    }
}

struct Lstm {
    rec: Recurrence,
    input_forget: bool,
}

fn build_lstm(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let rec = Recurrence::new(ctx, &[Act::Sigmoid, Act::Tanh, Act::Tanh])?;
    Ok(Box::new(Lstm { rec, input_forget: ctx.attrs().int("input_forget", 0)? != 0 }))
}

impl Op for Lstm {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let rec = &self.rec;
        let run = rec.prepare(inputs, 4)?;
        let (seq, batch, hs, nd) = (run.seq, run.batch, rec.hidden, rec.directions.len());
        let c0 = rec.state(inputs, 6, "initial_c", batch)?;
        let p = optional_f32(inputs, 7, "P")?;
        if let Some(p) = p {
            expect_shape(p, &[nd, 3 * hs], "P")?;
        }
        let mut y = vec![0.0f32; seq * nd * batch * hs];
        let (mut yh, mut yc) = (run.h0.clone(), c0);
        for (d, &reverse) in rec.directions.iter().enumerate() {
            let (f, g, h) = (rec.acts[d][0], rec.acts[d][1], rec.acts[d][2]);
            let peep: Vec<f32> = p.map(|p| p.iter().skip(d * 3 * hs).take(3 * hs).copied().collect()).unwrap_or_else(|| vec![0.0; 3 * hs]);
            let (xw, rt, rb) = (&run.xw[d], &run.rt[d], &run.rb[d]);
            let hcur = &mut yh[d * batch * hs..(d + 1) * batch * hs];
            let ccur = &mut yc[d * batch * hs..(d + 1) * batch * hs];
            let mut hr = vec![0.0f32; batch * 4 * hs];
            for step in 0..seq {
                recur(batch, hs, 4 * hs, hcur, rt, &mut hr);
                for bi in 0..batch {
                    let Some(t) = run.time(step, bi, reverse) else { continue };
                    let gx = &xw[(t * batch + bi) * 4 * hs..][..4 * hs];
                    let gh = &hr[bi * 4 * hs..][..4 * hs];
                    for j in 0..hs {
                        let pre = |gate: usize| rec.clip(gx[gate * hs + j] + gh[gate * hs + j] + rb[gate * hs + j]);
                        let c_prev = ccur[bi * hs + j];
                        // Gate order in W, R, B: input, output, forget, cell.
                        let i_g = f.apply(pre(0) + peep[j] * c_prev);
                        let f_g = if self.input_forget { 1.0 - i_g } else { f.apply(pre(2) + peep[2 * hs + j] * c_prev) };
                        let c_new = f_g * c_prev + i_g * g.apply(pre(3));
                        let o_g = f.apply(pre(1) + peep[hs + j] * c_new);
                        let h_new = o_g * h.apply(c_new);
                        ccur[bi * hs + j] = c_new;
                        hcur[bi * hs + j] = h_new;
                        y[((t * nd + d) * batch + bi) * hs + j] = h_new;
                    }
                }
            }
        }
        Ok(rec.outputs(seq, batch, y, vec![yh, yc]))
    }
}

struct Gru {
    rec: Recurrence,
    linear_before_reset: bool,
}

fn build_gru(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let rec = Recurrence::new(ctx, &[Act::Sigmoid, Act::Tanh])?;
    let a = ctx.attrs();
    let lbr = a.int("linear_before_reset", 0)?;
    if lbr != 0 && lbr != 1 {
        return Err(a.error("linear_before_reset", format!("must be 0 or 1, got {lbr}")));
    }
    Ok(Box::new(Gru { rec, linear_before_reset: lbr == 1 }))
}

impl Gru {
    /// One direction: updates `hcur` step by step and writes its part of Y.
    fn direction(&self, run: &Run, d: usize, hcur: &mut [f32], y: &mut [f32]) {
        let rec = &self.rec;
        let (seq, batch, hs, nd, reverse) = (run.seq, run.batch, rec.hidden, rec.directions.len(), rec.directions[d]);
        let (f, g) = (rec.acts[d][0], rec.acts[d][1]);
        let (xw, rt, rb) = (&run.xw[d], &run.rt[d], &run.rb[d]);
        // Rhᵀ alone, for (r ⊙ H)·Rhᵀ when the reset gate comes first.
        let rt_h: Vec<f32> = (0..hs * hs).map(|i| rt[(i / hs) * 3 * hs + 2 * hs + i % hs]).collect();
        let (mut hr, mut z, mut rh, mut hh) = (vec![0.0f32; batch * 3 * hs], vec![0.0f32; batch * hs], vec![0.0f32; batch * hs], vec![0.0f32; batch * hs]);
        for step in 0..seq {
            recur(batch, hs, 3 * hs, hcur, rt, &mut hr);
            for bi in 0..batch {
                let Some(t) = run.time(step, bi, reverse) else { continue };
                let gx = &xw[(t * batch + bi) * 3 * hs..][..3 * hs];
                for j in 0..hs {
                    let (i, o) = (bi * hs + j, bi * 3 * hs);
                    z[i] = f.apply(rec.clip(gx[j] + hr[o + j] + rb[j]));
                    let r = f.apply(rec.clip(gx[hs + j] + hr[o + hs + j] + rb[hs + j]));
                    // Gate order in W, R, B: update, reset, hidden.
                    rh[i] = if self.linear_before_reset { r * (hr[o + 2 * hs + j] + rb[2 * hs + j]) } else { r * hcur[i] };
                }
            }
            if !self.linear_before_reset {
                recur(batch, hs, hs, &rh, &rt_h, &mut hh);
                rh.iter_mut().zip(&hh).enumerate().for_each(|(i, (v, h))| *v = h + rb[2 * hs + i % hs]);
            }
            for bi in 0..batch {
                let Some(t) = run.time(step, bi, reverse) else { continue };
                for j in 0..hs {
                    let i = bi * hs + j;
                    let ht = g.apply(rec.clip(xw[(t * batch + bi) * 3 * hs + 2 * hs + j] + rh[i]));
                    hcur[i] = (1.0 - z[i]) * ht + z[i] * hcur[i];
                    y[((t * nd + d) * batch + bi) * hs + j] = hcur[i];
                }
            }
        }
    }
}

impl Op for Gru {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let rec = &self.rec;
        let run = rec.prepare(inputs, 3)?;
        let (seq, batch, hs, nd) = (run.seq, run.batch, rec.hidden, rec.directions.len());
        let mut y = vec![0.0f32; seq * nd * batch * hs];
        let mut yh = run.h0.clone();
        for d in 0..nd {
            self.direction(&run, d, &mut yh[d * batch * hs..(d + 1) * batch * hs], &mut y);
        }
        Ok(rec.outputs(seq, batch, y, vec![yh]))
    }
}

struct Rnn {
    rec: Recurrence,
}

fn build_rnn(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(Rnn { rec: Recurrence::new(ctx, &[Act::Tanh])? }))
}

impl Op for Rnn {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let rec = &self.rec;
        let run = rec.prepare(inputs, 1)?;
        let (seq, batch, hs, nd) = (run.seq, run.batch, rec.hidden, rec.directions.len());
        let mut y = vec![0.0f32; seq * nd * batch * hs];
        let mut yh = run.h0.clone();
        for (d, &reverse) in rec.directions.iter().enumerate() {
            let hcur = &mut yh[d * batch * hs..(d + 1) * batch * hs];
            let mut hr = vec![0.0f32; batch * hs];
            for step in 0..seq {
                recur(batch, hs, hs, hcur, &run.rt[d], &mut hr);
                for bi in 0..batch {
                    let Some(t) = run.time(step, bi, reverse) else { continue };
                    for j in 0..hs {
                        let pre = run.xw[d][(t * batch + bi) * hs + j] + hr[bi * hs + j] + run.rb[d][j];
                        hcur[bi * hs + j] = rec.acts[d][0].apply(rec.clip(pre));
                        y[((t * nd + d) * batch + bi) * hs + j] = hcur[bi * hs + j];
                    }
                }
            }
        }
        Ok(rec.outputs(seq, batch, y, vec![yh]))
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::AttrValue;
    use crate::ops::test_util::{f32s, run, string};
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn bad_attributes_are_named() {
        let x = f32s(&[1, 1, 2], &[0.5, -0.5]);
        let (w, r) = (f32s(&[1, 6, 2], &[0.1; 12]), f32s(&[1, 6, 2], &[0.1; 12]));
        let hidden = ("hidden_size", AttrValue::Int(2));
        type Case<'a> = (&'a str, Vec<(&'a str, AttrValue)>, &'a str);
        let cases: Vec<Case> = vec![
            ("GRU", vec![hidden.clone(), ("linear_before_reset", AttrValue::Int(2))], "attribute 'linear_before_reset': must be 0 or 1, got 2"),
            ("GRU", vec![], "attribute 'hidden_size': is required"),
            ("GRU", vec![hidden.clone(), ("direction", string("sideways"))], "unknown direction 'sideways'"),
            ("GRU", vec![hidden.clone(), ("activations", AttrValue::Strings(vec![b"Sigmoid".to_vec()]))], "attribute 'activations': needs 2 names"),
            ("GRU", vec![hidden.clone(), ("activations", AttrValue::Strings(vec![b"Sigmoid".to_vec(), b"Gauss".to_vec()]))], "unknown activation 'Gauss'"),
            ("RNN", vec![hidden.clone(), ("layout", AttrValue::Int(3))], "attribute 'layout': must be 0 or 1"),
            ("LSTM", vec![hidden.clone(), ("clip", AttrValue::Float(-1.0))], "attribute 'clip'"),
        ];
        for (op, attrs, want) in cases {
            let err = run("", op, &attrs, 22, &[&x, &w, &r]).unwrap_err().to_string();
            assert!(err.contains(want), "{op}: {err}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn wrong_shapes_are_errors() {
        let x = f32s(&[1, 1, 2], &[0.5, -0.5]);
        let hidden = [("hidden_size", AttrValue::Int(2))];
        let (w, r) = (f32s(&[1, 6, 2], &[0.1; 12]), f32s(&[1, 6, 2], &[0.1; 12]));
        let err = run("", "GRU", &hidden, 22, &[&x, &f32s(&[1, 4, 2], &[0.0; 8]), &r]).unwrap_err().to_string();
        assert!(err.contains("W has shape [1, 4, 2], expected [1, 6, 2]"), "{err}");
        let err = run("", "GRU", &hidden, 22, &[&f32s(&[2], &[0.0; 2]), &w, &r]).unwrap_err().to_string();
        assert!(err.contains("X must be 3-D"), "{err}");
        let lens = crate::tensor::Tensor::from_vec(&[1], vec![5i32]).unwrap();
        let b = f32s(&[1, 12], &[0.0; 12]);
        let err = run("", "GRU", &hidden, 22, &[&x, &w, &r, &b, &lens]).unwrap_err().to_string();
        assert!(err.contains("sequence_lens [5] must hold 1 values in 0..=1"), "{err}");
        let h0 = f32s(&[1, 2, 2], &[0.0; 4]);
        let none = crate::tensor::Tensor::from_vec(&[1], vec![1i32]).unwrap();
        let err = run("", "GRU", &hidden, 22, &[&x, &w, &r, &b, &none, &h0]).unwrap_err().to_string();
        assert!(err.contains("initial_h has shape [1, 2, 2], expected [1, 1, 2]"), "{err}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn gru_reset_gate_forms_differ_only_through_the_recurrence() {
        // With a zero initial state and one step, both forms give the same output.
        let x = f32s(&[1, 1, 2], &[0.5, -0.5]);
        let (w, r) = (f32s(&[1, 6, 2], &[0.3; 12]), f32s(&[1, 6, 2], &[0.2; 12]));
        let lbr = |v: i64| run("", "GRU", &[("hidden_size", AttrValue::Int(2)), ("linear_before_reset", AttrValue::Int(v))], 22, &[&x, &w, &r]).unwrap();
        assert_eq!(lbr(0)[0].to_f64_vec(), lbr(1)[0].to_f64_vec());
    }
}
