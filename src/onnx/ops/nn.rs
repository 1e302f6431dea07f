//! Neural-network ops: Softmax (both the opset < 13 "flatten to 2-D" and
//! the opset ≥ 13 "one axis" semantics).

use ndarray::{ArrayD, IxDyn};

use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::kernels::active as k;
use crate::tensor::{into_flat, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "Softmax", build_softmax);
}

struct Softmax {
    axis: i64,
    /// Opset < 13: softmax over the flattened trailing axes from `axis` on.
    flatten: bool,
}

fn build_softmax(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let flatten = ctx.opset < 13;
    let axis = ctx.attrs().int("axis", if flatten { 1 } else { -1 })?;
    Ok(Box::new(Softmax { axis, flatten }))
}

impl Op for Softmax {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let t = required(inputs, 0)?;
        let x = t.as_f32().ok_or_else(|| SquishError::op(format!("input is {}, only float32 is supported", t.dtype())))?;
        let rank = x.ndim() as i64;
        if self.axis < -rank.max(1) || self.axis >= rank.max(1) {
            return Err(SquishError::op(format!("axis {} is out of range for rank {rank}", self.axis)));
        }
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis } as usize;
        let shape = x.shape().to_vec();
        if x.ndim() == 0 {
            return Ok(vec![Tensor::F32(x.mapv(|_| 1.0))]);
        }
        let out = if self.flatten || axis + 1 == x.ndim() {
            let row: usize = shape[axis..].iter().product();
            let mut v = into_flat(x.clone());
            k::softmax_f32(&mut v, row);
            ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same shape")
        } else {
            // Move the axis last, softmax contiguous rows, move it back.
            let last = x.ndim() - 1;
            let mut moved = x.view();
            moved.swap_axes(axis, last);
            let row = shape[axis];
            let mut v: Vec<f32> = moved.iter().copied().collect();
            k::softmax_f32(&mut v, row);
            let mut moved_shape = shape.clone();
            moved_shape.swap(axis, last);
            let mut y = ArrayD::from_shape_vec(IxDyn(&moved_shape), v).expect("same count");
            y.swap_axes(axis, last);
            y.as_standard_layout().into_owned()
        };
        Ok(vec![Tensor::F32(out)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Node;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn node(axis: Option<i64>) -> Node {
        Node {
            name: "sm".into(),
            op_type: "Softmax".into(),
            domain: String::new(),
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            attributes: axis
                .map(|a| vec![crate::graph::Attribute { name: "axis".into(), value: crate::graph::AttrValue::Int(a) }])
                .unwrap_or_default(),
            doc_string: String::new(),
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn opset_semantics_differ_as_specified() {
        let x = Tensor::from_vec(&[2, 2], vec![0.0f32, 0.0, 0.0, 0.0]).unwrap();
        let n = node(Some(0));
        // Opset 13: along axis 0 only → every entry 0.5.
        let op13 = build_softmax(&BuildCtx { node: &n, opset: 13 }).unwrap();
        assert_eq!(op13.eval(&[Some(&x)]).unwrap()[0].to_f64_vec(), vec![0.5; 4]);
        // Opset 11: axis 0 flattens everything into one row → 0.25.
        let op11 = build_softmax(&BuildCtx { node: &n, opset: 11 }).unwrap();
        assert_eq!(op11.eval(&[Some(&x)]).unwrap()[0].to_f64_vec(), vec![0.25; 4]);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn middle_axis_is_normalised() {
        let x = Tensor::from_vec(&[1, 2, 2], vec![0.0f32, 10.0, 0.0, -10.0]).unwrap();
        let n = node(Some(1));
        let op = build_softmax(&BuildCtx { node: &n, opset: 13 }).unwrap();
        let y = op.eval(&[Some(&x)]).unwrap()[0].to_f64_vec();
        assert!((y[0] - 0.5).abs() < 1e-6 && (y[2] - 0.5).abs() < 1e-6);
        assert!((y[1] + y[3] - 1.0).abs() < 1e-6 && y[1] > 0.999);
        let bad = node(Some(3));
        let op = build_softmax(&BuildCtx { node: &bad, opset: 13 }).unwrap();
        assert!(op.eval(&[Some(&x)]).unwrap_err().to_string().contains("out of range"));
    }
}
