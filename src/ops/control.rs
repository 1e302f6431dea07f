//! Control flow: If. Each branch is planned once by the runtime (a
//! `Subgraph`) and reads the node's captured outer values.

use super::{required, BuildCtx, Op, Registry, Subgraph};
use crate::error::{Result, SquishError};
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    r.insert("", "If", build_if);
}

struct If {
    then_branch: Box<dyn Subgraph>,
    else_branch: Box<dyn Subgraph>,
}

fn build_if(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let branch = |name: &str| -> Result<Box<dyn Subgraph>> {
        let g = a.opt_graph(name)?.ok_or_else(|| a.error(name, "is required"))?;
        ctx.planner.plan(g, ctx.captures).map_err(|e| a.error(name, e.to_string()))
    };
    Ok(Box::new(If { then_branch: branch("then_branch")?, else_branch: branch("else_branch")? }))
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
