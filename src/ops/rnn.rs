//! Recurrent ops: LSTM (f32; forward, reverse, bidirectional; peepholes,
//! clip, input_forget, sequence_lens, both layouts).

use ndarray::{ArrayD, IxDyn};

use super::{optional_f32, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::active as k;
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    r.insert("", "LSTM", build_lstm);
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

struct Lstm {
    hidden: usize,
    directions: Vec<bool>, // true = reverse
    /// Per direction: (f, g, h) activations.
    acts: Vec<[Act; 3]>,
    clip: Option<f32>,
    input_forget: bool,
    batch_major: bool,
}

fn build_lstm(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let hidden = a.required_int("hidden_size")?;
    if hidden < 1 {
        return Err(a.error("hidden_size", format!("must be ≥ 1, got {hidden}")));
    }
    let directions = match a.opt_string("direction")?.as_deref().unwrap_or("forward") {
        "forward" => vec![false],
        "reverse" => vec![true],
        "bidirectional" => vec![false, true],
        other => return Err(a.error("direction", format!("unknown direction '{other}'"))),
    };
    let names: Vec<String> = match ctx.node.attr("activations") {
        Some(crate::ir::AttrValue::Strings(v)) => v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect(),
        _ => vec![],
    };
    let alphas = a.opt_floats("activation_alpha")?.unwrap_or(&[]);
    let betas = a.opt_floats("activation_beta")?.unwrap_or(&[]);
    let mut acts = Vec::new();
    for d in 0..directions.len() {
        let mut trio = [Act::Sigmoid, Act::Tanh, Act::Tanh];
        if !names.is_empty() {
            for (j, slot) in trio.iter_mut().enumerate() {
                let i = d * 3 + j;
                let name = names.get(i).ok_or_else(|| a.error("activations", format!("needs {} names", 3 * directions.len())))?;
                *slot = Act::parse(name, alphas.get(i).copied(), betas.get(i).copied())
                    .ok_or_else(|| a.error("activations", format!("unknown activation '{name}'")))?;
            }
        }
        acts.push(trio);
    }
    let clip = a.opt_float("clip")?;
    Ok(Box::new(Lstm { hidden: hidden as usize, directions, acts, clip, input_forget: a.int("input_forget", 0)? != 0, batch_major: a.int("layout", 0)? != 0 }))
}

fn expect_shape(a: &ArrayD<f32>, want: &[usize], what: &str) -> Result<()> {
    if a.shape() != want {
        return Err(SquishError::op(format!("{what} has shape {:?}, expected {want:?}", a.shape())));
    }
    Ok(())
}

impl Op for Lstm {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = optional_f32(inputs, 0, "X")?.ok_or_else(|| SquishError::op("X is required"))?;
        let w = optional_f32(inputs, 1, "W")?.ok_or_else(|| SquishError::op("W is required"))?;
        let r = optional_f32(inputs, 2, "R")?.ok_or_else(|| SquishError::op("R is required"))?;
        let hs = self.hidden;
        let nd = self.directions.len();
        if x.ndim() != 3 {
            return Err(SquishError::op(format!("X must be 3-D, got {:?}", x.shape())));
        }
        let (seq, batch, isz) = if self.batch_major { (x.shape()[1], x.shape()[0], x.shape()[2]) } else { (x.shape()[0], x.shape()[1], x.shape()[2]) };
        expect_shape(w, &[nd, 4 * hs, isz], "W")?;
        expect_shape(r, &[nd, 4 * hs, hs], "R")?;
        let b = optional_f32(inputs, 3, "B")?;
        if let Some(b) = b {
            expect_shape(b, &[nd, 8 * hs], "B")?;
        }
        let lens: Vec<usize> = match inputs.get(4).copied().flatten() {
            None => vec![seq; batch],
            Some(t) => {
                let v = t.to_i64_vec().ok_or_else(|| SquishError::op("sequence_lens must be integers"))?;
                if v.len() != batch || v.iter().any(|&l| l < 0 || l as usize > seq) {
                    return Err(SquishError::op(format!("sequence_lens {v:?} must hold {batch} values in 0..={seq}")));
                }
                v.iter().map(|&l| l as usize).collect()
            }
        };
        // States are [dirs, batch, hidden] (or [batch, dirs, hidden] batch-major).
        let state = |i: usize, what: &str| -> Result<Vec<f32>> {
            let Some(s) = optional_f32(inputs, i, what)? else { return Ok(vec![0.0; nd * batch * hs]) };
            let want = if self.batch_major { [batch, nd, hs] } else { [nd, batch, hs] };
            expect_shape(s, &want, what)?;
            let mut v = s.iter().copied().collect::<Vec<_>>();
            if self.batch_major {
                v = (0..nd * batch * hs)
                    .map(|i| {
                        let (d, b, j) = (i / (batch * hs), (i / hs) % batch, i % hs);
                        v[(b * nd + d) * hs + j]
                    })
                    .collect();
            }
            Ok(v)
        };
        let h0 = state(5, "initial_h")?;
        let c0 = state(6, "initial_c")?;
        let p = optional_f32(inputs, 7, "P")?;
        if let Some(p) = p {
            expect_shape(p, &[nd, 3 * hs], "P")?;
        }
        // X as [seq, batch, input], contiguous.
        let xs: Vec<f32> = if self.batch_major { x.view().permuted_axes(IxDyn(&[1, 0, 2])).iter().copied().collect() } else { x.iter().copied().collect() };
        let ws: Vec<f32> = w.iter().copied().collect();
        let rs: Vec<f32> = r.iter().copied().collect();
        let mut y = vec![0.0f32; seq * nd * batch * hs];
        let mut yh = vec![0.0f32; nd * batch * hs];
        let mut yc = vec![0.0f32; nd * batch * hs];
        for (d, &reverse) in self.directions.iter().enumerate() {
            let [f, g, h] = self.acts[d];
            // Wᵀ and Rᵀ so that rows of X and H multiply them directly.
            let mut wt = vec![0.0f32; isz * 4 * hs];
            let mut rt = vec![0.0f32; hs * 4 * hs];
            for gte in 0..4 * hs {
                for i in 0..isz {
                    wt[i * 4 * hs + gte] = ws[(d * 4 * hs + gte) * isz + i];
                }
                for i in 0..hs {
                    rt[i * 4 * hs + gte] = rs[(d * 4 * hs + gte) * hs + i];
                }
            }
            let mut bias = vec![0.0f32; 4 * hs];
            if let Some(b) = b {
                let bs: Vec<f32> = b.iter().copied().collect();
                for j in 0..4 * hs {
                    bias[j] = bs[d * 8 * hs + j] + bs[d * 8 * hs + 4 * hs + j];
                }
            }
            let peep: Vec<f32> = p.map(|p| p.iter().skip(d * 3 * hs).take(3 * hs).copied().collect()).unwrap_or_else(|| vec![0.0; 3 * hs]);
            let mut xw = vec![0.0f32; seq * batch * 4 * hs];
            k::gemm_f32(seq * batch, isz, 4 * hs, &xs, &wt, &mut xw);
            let mut hcur = h0[d * batch * hs..(d + 1) * batch * hs].to_vec();
            let mut ccur = c0[d * batch * hs..(d + 1) * batch * hs].to_vec();
            let mut hr = vec![0.0f32; batch * 4 * hs];
            for step in 0..seq {
                k::gemm_f32(batch, hs, 4 * hs, &hcur, &rt, &mut hr);
                for bi in 0..batch {
                    if step >= lens[bi] {
                        continue;
                    }
                    let t = if reverse { lens[bi] - 1 - step } else { step };
                    let gx = &xw[(t * batch + bi) * 4 * hs..][..4 * hs];
                    let gh = &hr[bi * 4 * hs..][..4 * hs];
                    for j in 0..hs {
                        let pre = |gate: usize| {
                            let v = gx[gate * hs + j] + gh[gate * hs + j] + bias[gate * hs + j];
                            match self.clip {
                                Some(c) => v.clamp(-c, c),
                                None => v,
                            }
                        };
                        let c_prev = ccur[bi * hs + j];
                        // Gate order in W, R, B: input, output, forget, cell.
                        let i_g = f.apply(pre(0) + peep[j] * c_prev);
                        let f_g = if self.input_forget { 1.0 - i_g } else { f.apply(pre(2) + peep[2 * hs + j] * c_prev) };
                        let c_g = g.apply(pre(3));
                        let c_new = f_g * c_prev + i_g * c_g;
                        let o_g = f.apply(pre(1) + peep[hs + j] * c_new);
                        let h_new = o_g * h.apply(c_new);
                        ccur[bi * hs + j] = c_new;
                        hcur[bi * hs + j] = h_new;
                        y[((t * nd + d) * batch + bi) * hs + j] = h_new;
                    }
                }
            }
            yh[d * batch * hs..(d + 1) * batch * hs].copy_from_slice(&hcur);
            yc[d * batch * hs..(d + 1) * batch * hs].copy_from_slice(&ccur);
        }
        let to = |v: Vec<f32>, shape: &[usize]| Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), v).expect("sized"));
        if self.batch_major {
            let yt = ArrayD::from_shape_vec(IxDyn(&[seq, nd, batch, hs]), y).expect("sized").permuted_axes(IxDyn(&[2, 0, 1, 3]));
            let st = |v: Vec<f32>| {
                Tensor::F32(
                    ArrayD::from_shape_vec(IxDyn(&[nd, batch, hs]), v).expect("sized").permuted_axes(IxDyn(&[1, 0, 2])).as_standard_layout().into_owned(),
                )
            };
            return Ok(vec![Tensor::F32(yt.as_standard_layout().into_owned()), st(yh), st(yc)]);
        }
        Ok(vec![to(y, &[seq, nd, batch, hs]), to(yh, &[nd, batch, hs]), to(yc, &[nd, batch, hs])])
    }
}
