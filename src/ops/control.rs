//! Control flow: If, Loop and Scan. Each subgraph (branch or body) is
//! planned once by the runtime (a `Subgraph`) and reads the node's captured
//! outer values; loop bodies also get their iteration values as inputs.

use ndarray::{ArrayD, Axis, IxDyn};

use super::{norm_axis, required, BuildCtx, Op, Registry, Subgraph};
use crate::error::{Result, SquishError};
use crate::ir::Graph;
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "If", build_if);
    r.insert("", "Loop", build_loop);
    r.insert("", "Scan", build_scan);
}

struct If {
    then_branch: Box<dyn Subgraph>,
    else_branch: Box<dyn Subgraph>,
}

/// The graph attribute `name`, planned with the node's captures.
fn subgraph<'a>(ctx: &BuildCtx<'a>, name: &str) -> Result<(&'a Graph, Box<dyn Subgraph>)> {
    let a = ctx.attrs();
    let g = a.opt_graph(name)?.ok_or_else(|| a.error(name, "is required"))?;
    Ok((g, ctx.planner.plan(g, ctx.captures).map_err(|e| a.error(name, e.to_string()))?))
}

fn build_if(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    Ok(Box::new(If { then_branch: subgraph(ctx, "then_branch")?.1, else_branch: subgraph(ctx, "else_branch")?.1 }))
}

impl Op for If {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let cond = required(inputs, 0)?;
        if cond.len() != 1 {
            return Err(SquishError::op(format!("condition must hold one value, has shape {:?}", cond.shape())));
        }
        let take_then = cond.to_f64_vec()[0] != 0.0;
        let branch = if take_then { &self.then_branch } else { &self.else_branch };
        branch.run(&inputs[1..])
    }
}

/// Slice `i` of `t` along `axis`, the axis removed.
fn slice_at(t: &Tensor, axis: usize, i: usize) -> Tensor {
    crate::map_tensor!(t, a => a.index_axis(Axis(axis), i).to_owned())
}

/// `ts` (one shape and type) stacked along a new axis `axis`; an empty
/// `[0]` tensor of `empty` when there are none.
fn stack(ts: &[Tensor], axis: i64, empty: DType, what: &str) -> Result<Tensor> {
    let Some(first) = ts.first() else { return crate::tensor::cast::cast(&Tensor::F32(ArrayD::zeros(IxDyn(&[0]))), empty) };
    if let Some(t) = ts.iter().find(|t| t.shape() != first.shape() || t.dtype() != first.dtype()) {
        return Err(SquishError::op(format!("{what} changes between iterations: {} {:?} then {} {:?}", first.dtype(), first.shape(), t.dtype(), t.shape())));
    }
    let axis = norm_axis(axis, first.shape().len() + 1)?;
    let grown: Vec<Tensor> = ts.iter().map(|t| crate::map_tensor!(t, a => a.view().insert_axis(Axis(axis)).to_owned())).collect();
    super::index::concat(&grown.iter().collect::<Vec<_>>(), axis)
}

/// The declared element type of the body's output `i` (float32 when not declared).
fn output_dtype(g: &Graph, i: usize) -> DType {
    g.outputs.get(i).and_then(|o| o.ty.dtype()).unwrap_or(DType::F32)
}

/// A one-value input read as an integer (`Loop`'s M, `Scan`'s lengths).
fn scalar_int(t: &Tensor, what: &str) -> Result<i64> {
    match t.to_i64_vec() {
        Some(v) if v.len() == 1 => Ok(v[0]),
        _ => Err(SquishError::op(format!("{what} must be one integer, got {} {:?}", t.dtype(), t.shape()))),
    }
}

struct Loop {
    body: Box<dyn Subgraph>,
    /// Loop-carried values (N) and scan outputs (K).
    carried: usize,
    scans: usize,
    scan_types: Vec<DType>,
}

fn build_loop(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let (g, body) = subgraph(ctx, "body")?;
    let carried = ctx.node.inputs.len().saturating_sub(2);
    if g.inputs.len() != carried + 2 || g.outputs.len() < carried + 1 {
        let detail = format!(
            "the body has {} inputs and {} outputs; with {carried} loop-carried values it needs {} inputs (iteration, condition, values) and at least {} outputs",
            g.inputs.len(),
            g.outputs.len(),
            carried + 2,
            carried + 1
        );
        return Err(ctx.attrs().error("body", detail));
    }
    let scans = g.outputs.len() - 1 - carried;
    let scan_types = (0..scans).map(|k| output_dtype(g, 1 + carried + k)).collect();
    Ok(Box::new(Loop { body, carried, scans, scan_types }))
}

impl Op for Loop {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let own = self.carried + 2;
        let outer = inputs.get(own..).unwrap_or(&[]);
        let trip = inputs.first().copied().flatten().map(|t| scalar_int(t, "M (trip count, input 0)")).transpose()?;
        let cond_in = inputs.get(1).copied().flatten().map(|t| scalar_int(&crate::tensor::cast::cast(t, DType::I64)?, "cond (input 1)")).transpose()?;
        if trip.is_none() && cond_in.is_none() {
            return Err(SquishError::op("Loop without M (input 0) and cond (input 1) would never end"));
        }
        let mut carried: Vec<Tensor> = (2..own).map(|i| required(inputs, i).cloned()).collect::<Result<_>>()?;
        let mut scans: Vec<Vec<Tensor>> = vec![Vec::new(); self.scans];
        let (mut cond, mut i) = (cond_in.is_none_or(|c| c != 0), 0i64);
        while cond && trip.is_none_or(|m| i < m) {
            let mut args = vec![Tensor::scalar(i), Tensor::scalar(cond)];
            args.append(&mut carried);
            let outs = self.body.run_with(args, outer)?;
            if outs.len() != 1 + self.carried + self.scans {
                return Err(SquishError::op(format!("the body returned {} values, expected {}", outs.len(), 1 + self.carried + self.scans)));
            }
            let mut outs = outs.into_iter();
            let c = outs.next().expect("counted");
            // Without a cond input the body's condition is ignored (a for loop).
            if cond_in.is_some() {
                cond = scalar_int(&crate::tensor::cast::cast(&c, DType::I64)?, "the body's condition output")? != 0;
            }
            carried = outs.by_ref().take(self.carried).collect();
            scans.iter_mut().zip(outs).for_each(|(s, t)| s.push(t));
            i += 1;
        }
        let mut out = carried;
        for (k, s) in scans.iter().enumerate() {
            out.push(stack(s, 0, self.scan_types[k], &format!("scan output {k}"))?);
        }
        Ok(out)
    }
}

struct Scan {
    body: Box<dyn Subgraph>,
    /// State values (N), scan inputs (M) and scan outputs (K).
    states: usize,
    inputs: usize,
    outputs: usize,
    in_axes: Vec<i64>,
    in_reverse: Vec<bool>,
    out_axes: Vec<i64>,
    out_reverse: Vec<bool>,
    out_types: Vec<DType>,
    /// Opset 8: a leading batch axis and an optional `sequence_lens` input.
    batched: bool,
}

fn build_scan(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let (g, body) = subgraph(ctx, "body")?;
    let m = a.required_int("num_scan_inputs")?;
    let batched = ctx.opset < 9;
    let given = ctx.node.inputs.len().saturating_sub(batched as usize);
    let m = usize::try_from(m).ok().filter(|&m| m >= 1 && m <= given).ok_or_else(|| a.error("num_scan_inputs", format!("must be in 1..={given}, got {m}")))?;
    let states = given - m;
    if g.inputs.len() != states + m || g.outputs.len() < states {
        return Err(a.error(
            "body",
            format!(
                "the body has {} inputs and {} outputs; expected {} inputs ({states} states, {m} scan slices)",
                g.inputs.len(),
                g.outputs.len(),
                states + m
            ),
        ));
    }
    let k = g.outputs.len() - states;
    let list = |name: &str, n: usize| -> Result<Vec<i64>> {
        match a.opt_ints(name)? {
            None => Ok(vec![0; n]),
            Some(v) if v.len() == n => Ok(v.to_vec()),
            Some(v) => Err(a.error(name, format!("has {} values, expected {n}", v.len()))),
        }
    };
    let directions = |name: &str, n: usize| -> Result<Vec<bool>> {
        let v = list(name, n)?;
        v.iter().map(|&d| if d == 0 || d == 1 { Ok(d == 1) } else { Err(a.error(name, format!("directions must be 0 or 1, got {d}"))) }).collect()
    };
    let (in_axes, in_reverse) =
        if batched { (vec![0; m], directions("directions", m)?) } else { (list("scan_input_axes", m)?, directions("scan_input_directions", m)?) };
    let (out_axes, out_reverse) = if batched { (vec![0; k], vec![false; k]) } else { (list("scan_output_axes", k)?, directions("scan_output_directions", k)?) };
    let out_types = (0..k).map(|i| output_dtype(g, states + i)).collect();
    Ok(Box::new(Scan { body, states, inputs: m, outputs: k, in_axes, in_reverse, out_axes, out_reverse, out_types, batched }))
}

impl Scan {
    /// One scan: final states and stacked scan outputs.
    fn run(&self, mut states: Vec<Tensor>, xs: &[&Tensor], outer: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let mut axes = Vec::new();
        for (j, x) in xs.iter().enumerate() {
            axes.push(norm_axis(self.in_axes[j], x.shape().len()).map_err(|e| SquishError::op(format!("scan input {j}: {e}")))?);
        }
        let len = xs[0].shape()[axes[0]];
        if let Some(j) = (1..xs.len()).find(|&j| xs[j].shape()[axes[j]] != len) {
            return Err(SquishError::op(format!("scan inputs 0 and {j} have {len} and {} steps", xs[j].shape()[axes[j]])));
        }
        let mut outs: Vec<Vec<Tensor>> = vec![Vec::new(); self.outputs];
        for t in 0..len {
            let mut args = std::mem::take(&mut states);
            args.extend(xs.iter().enumerate().map(|(j, x)| slice_at(x, axes[j], if self.in_reverse[j] { len - 1 - t } else { t })));
            let res = self.body.run_with(args, outer)?;
            if res.len() != self.states + self.outputs {
                return Err(SquishError::op(format!("the body returned {} values, expected {}", res.len(), self.states + self.outputs)));
            }
            let mut res = res.into_iter();
            states = res.by_ref().take(self.states).collect();
            outs.iter_mut().zip(res).for_each(|(o, r)| o.push(r));
        }
        for (k, mut o) in outs.into_iter().enumerate() {
            if self.out_reverse[k] {
                o.reverse();
            }
            states.push(stack(&o, self.out_axes[k], self.out_types[k], &format!("scan output {k}"))?);
        }
        Ok(states)
    }
}

impl Op for Scan {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let skip = self.batched as usize;
        let own = skip + self.states + self.inputs;
        let outer = inputs.get(own..).unwrap_or(&[]);
        let vals: Vec<&Tensor> = (skip..own).map(|i| required(inputs, i)).collect::<Result<_>>()?;
        let (states, xs) = vals.split_at(self.states);
        if !self.batched {
            return self.run(states.iter().map(|t| (*t).clone()).collect(), xs, outer);
        }
        // Opset 8: every value has a leading batch axis; the sequence axis is 1.
        let batch = vals.first().map_or(0, |t| t.shape().first().copied().unwrap_or(0));
        if let Some(t) = vals.iter().find(|t| t.shape().first() != Some(&batch)) {
            return Err(SquishError::op(format!("every state and scan input needs the batch axis {batch} first, got {:?}", t.shape())));
        }
        if let Some(lens) = inputs.first().copied().flatten() {
            let full = xs[0].shape().get(1).copied().unwrap_or(0) as i64;
            if lens.to_i64_vec().is_none_or(|v| v.iter().any(|&l| l != full)) {
                return Err(SquishError::op(format!("sequence_lens shorter than the sequence ({full}) are not supported")));
            }
        }
        let mut per_batch: Vec<Vec<Tensor>> = Vec::new();
        for b in 0..batch {
            let xb: Vec<Tensor> = xs.iter().map(|x| slice_at(x, 0, b)).collect();
            per_batch.push(self.run(states.iter().map(|s| slice_at(s, 0, b)).collect(), &xb.iter().collect::<Vec<_>>(), outer)?);
        }
        (0..self.states + self.outputs)
            .map(|i| {
                let col: Vec<Tensor> = per_batch.iter().map(|r| r[i].clone()).collect();
                stack(&col, 0, DType::F32, "a batch entry's output")
            })
            .collect()
    }
}
