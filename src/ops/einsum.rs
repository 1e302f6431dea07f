//! Einsum: the equation is parsed once at load (letters, one `...` per term,
//! implicit or explicit output). At run time each operand first loses its
//! repeated labels (diagonals) and the labels no one else reads (sums); the
//! operands are then contracted left to right, each pair as a batched matrix
//! product of permuted operands (`batch × left × contracted` by
//! `batch × contracted × right`): float32 through the GEMM kernel, other
//! types through a plain loop. Dimensions of size 1 broadcast, as in numpy.
//! float16 and bfloat16 are computed in float32 and rounded once.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

use super::facts::{input, Facts};
use super::{required, BuildCtx, Op, Registry};
use crate::error::{Result, SquishError};
use crate::ir::{AttrValue, Dim, Node};
use crate::kernels::active as k;
use crate::tensor::{checked_numel, Tensor};

pub fn register(r: &mut Registry) {
    r.insert("", "Einsum", build_einsum);
    r.facts("", &["Einsum"], einsum_facts);
}

/// One term's subscripts: letters, and where the ellipsis sits among them.
#[derive(Clone, Debug, PartialEq)]
struct Term {
    letters: Vec<u8>,
    ellipsis: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
struct Equation {
    inputs: Vec<Term>,
    /// `None`: implicit (numpy's rule).
    output: Option<Term>,
}

fn parse_term(s: &str) -> std::result::Result<Term, String> {
    let (mut letters, mut ellipsis, b) = (Vec::new(), None, s.as_bytes());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_alphabetic() => {
                letters.push(c);
                i += 1;
            }
            b'.' if s[i..].starts_with("...") => {
                if ellipsis.is_some() {
                    return Err(format!("term '{s}' has more than one '...'"));
                }
                ellipsis = Some(letters.len());
                i += 3;
            }
            b'.' => return Err(format!("term '{s}' has a '.' that is not part of '...'")),
            _ => return Err(format!("term '{s}' has '{}', which is not a letter", s[i..].chars().next().unwrap_or('?'))),
        }
    }
    Ok(Term { letters, ellipsis })
}

fn parse(equation: &str) -> std::result::Result<Equation, String> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((_, r)) if r.contains("->") => return Err("has more than one '->'".into()),
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let inputs = lhs.split(',').map(parse_term).collect::<std::result::Result<Vec<_>, _>>()?;
    let output = rhs.map(parse_term).transpose()?;
    if let Some(o) = &output {
        for (i, c) in o.letters.iter().enumerate() {
            if o.letters[..i].contains(c) {
                return Err(format!("output label '{}' appears twice", *c as char));
            }
            if !inputs.iter().any(|t| t.letters.contains(c)) {
                return Err(format!("output label '{}' does not appear in any input term", *c as char));
            }
        }
    }
    Ok(Equation { inputs, output })
}

/// Labels: letters are their ASCII code; ellipsis axis `e` of `E` is `ELLIPSIS + e`.
type Label = u16;
const ELLIPSIS: Label = 256;

impl Term {
    /// The labels of an operand of `rank` axes whose ellipsis spans
    /// `rank - letters` axes, aligned to the right of `max_e` ellipsis axes.
    fn labels(&self, rank: usize, max_e: usize) -> Vec<Label> {
        let e = rank.saturating_sub(self.letters.len());
        let letters = self.letters.iter().map(|&c| c as Label);
        match self.ellipsis {
            None => letters.collect(),
            Some(at) => {
                let mut v: Vec<Label> = letters.clone().take(at).collect();
                v.extend((max_e - e..max_e).map(|i| ELLIPSIS + i as Label));
                v.extend(letters.skip(at));
                v
            }
        }
    }

    /// Ellipsis axes of an operand of `rank`, or why the rank does not fit.
    fn ellipsis_rank(&self, rank: usize) -> std::result::Result<usize, String> {
        let n = self.letters.len();
        match self.ellipsis {
            None if rank != n => Err(format!("has rank {rank} but its term names {n} axes")),
            None => Ok(0),
            Some(_) if rank < n => Err(format!("has rank {rank} but its term names at least {n} axes")),
            Some(_) => Ok(rank - n),
        }
    }
}

impl Equation {
    /// The output labels for operands whose ellipses span up to `max_e` axes.
    fn output_labels(&self, max_e: usize) -> Vec<Label> {
        let ell = (0..max_e).map(|i| ELLIPSIS + i as Label);
        match &self.output {
            Some(o) => {
                let mut v: Vec<Label> = o.letters.iter().map(|&c| c as Label).collect();
                // Without '...' in the output, the broadcast axes are summed.
                if let Some(at) = o.ellipsis {
                    v.splice(at..at, ell);
                }
                v
            }
            None => {
                let mut once: Vec<u8> =
                    (0u8..128).filter(|c| self.inputs.iter().map(|t| t.letters.iter().filter(|l| *l == c).count()).sum::<usize>() == 1).collect();
                once.sort_unstable();
                ell.chain(once.into_iter().map(Label::from)).collect()
            }
        }
    }
}

struct Einsum {
    eq: Equation,
}

fn build_einsum(ctx: &BuildCtx) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let text = a.opt_string("equation")?.ok_or_else(|| a.error("equation", "is required but missing"))?;
    let eq = parse(&text).map_err(|e| a.error("equation", format!("'{text}' {e}")))?;
    let n = ctx.node.inputs.len();
    if eq.inputs.len() != n {
        return Err(a.error("equation", format!("'{text}' has {} operand terms but the node has {n} inputs", eq.inputs.len())));
    }
    Ok(Box::new(Einsum { eq }))
}

/// The output shape from the inputs' (symbolic dimensions flow through).
fn einsum_facts(node: &Node, ins: &[Facts]) -> Vec<Facts> {
    let dtype = input(ins, 0).dtype;
    let eq = match node.attr("equation") {
        Some(AttrValue::String(s)) => parse(&String::from_utf8_lossy(s)).ok(),
        _ => None,
    };
    let shape = eq.filter(|eq| eq.inputs.len() == ins.len()).and_then(|eq| {
        let shapes: Vec<Vec<Dim>> = ins.iter().map(|f| f.shape.clone()).collect::<Option<_>>()?;
        let max_e = eq.inputs.iter().zip(&shapes).map(|(t, s)| t.ellipsis_rank(s.len()).ok()).collect::<Option<Vec<_>>>()?.into_iter().max().unwrap_or(0);
        let mut sizes: Vec<(Label, Dim)> = Vec::new();
        for (t, s) in eq.inputs.iter().zip(&shapes) {
            for (l, d) in t.labels(s.len(), max_e).into_iter().zip(s) {
                match sizes.iter_mut().find(|(m, _)| *m == l) {
                    Some((_, have)) if *have == Dim::Fixed(1) || (!matches!(have, Dim::Fixed(_)) && matches!(d, Dim::Fixed(v) if *v != 1)) => *have = d.clone(),
                    Some(_) => {}
                    None => sizes.push((l, d.clone())),
                }
            }
        }
        eq.output_labels(max_e).iter().map(|l| sizes.iter().find(|(m, _)| m == l).map(|(_, d)| d.clone())).collect()
    });
    vec![Facts::with(dtype, shape)]
}

/// Element arithmetic; integers wrap, as ONNX integer arithmetic does.
trait Num: Copy + Default + 'static {
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;

    /// `c = a · b` for dense row-major `a` (m×k) and `b` (k×n).
    fn gemm(m: usize, kk: usize, n: usize, a: &[Self], b: &[Self], c: &mut [Self]) {
        c.fill(Self::default());
        for i in 0..m {
            for p in 0..kk {
                let av = a[i * kk + p];
                for (cv, &bv) in c[i * n..(i + 1) * n].iter_mut().zip(&b[p * n..(p + 1) * n]) {
                    *cv = cv.add(av.mul(bv));
                }
            }
        }
    }
}

impl Num for f32 {
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn gemm(m: usize, kk: usize, n: usize, a: &[Self], b: &[Self], c: &mut [Self]) {
        if kk == 0 {
            c.fill(0.0);
        } else if m > 0 && n > 0 {
            k::gemm_f32(m, kk, n, a, b, c);
        }
    }
}

impl Num for f64 {
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
}

macro_rules! int_num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
        }
    )*};
}
int_num!(i32, i64, u32, u64);

/// An operand with one axis per distinct label, dense in row-major order.
struct Operand<T> {
    labels: Vec<Label>,
    dims: Vec<usize>,
    data: Vec<T>,
}

fn row_strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for d in (0..dims.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * dims[d + 1];
    }
    s
}

/// The elements at `Σ index·stride` over `dims` in row-major order (a stride
/// of 0 broadcasts; summed strides walk a diagonal).
fn gather<T: Copy>(src: &[T], dims: &[usize], strides: &[usize]) -> Vec<T> {
    let n: usize = dims.iter().product();
    let mut out = Vec::with_capacity(n);
    let (mut idx, mut off) = (vec![0usize; dims.len()], 0usize);
    for _ in 0..n {
        out.push(src[off]);
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            off += strides[d];
            if idx[d] < dims[d] {
                break;
            }
            off -= strides[d] * dims[d];
            idx[d] = 0;
        }
    }
    out
}

/// The size of each label over all operands (1 broadcasts against any size).
struct Sizes(Vec<(Label, usize)>);

impl Sizes {
    fn of(&self, l: Label) -> usize {
        self.0.iter().find(|(m, _)| *m == l).map_or(1, |(_, d)| *d)
    }

    fn dims(&self, labels: &[Label]) -> Vec<usize> {
        labels.iter().map(|&l| self.of(l)).collect()
    }
}

fn label_name(l: Label) -> String {
    if l >= ELLIPSIS {
        format!("'...' axis {}", l - ELLIPSIS)
    } else {
        format!("'{}'", l as u8 as char)
    }
}

impl<T: Num> Operand<T> {
    /// Operand `i` with its repeated labels reduced to their diagonal.
    fn new(i: usize, labels: &[Label], shape: &[usize], data: &[T]) -> Result<Operand<T>> {
        let st = row_strides(shape);
        let (mut uniq, mut dims, mut strides) = (Vec::new(), Vec::new(), Vec::new());
        for (a, &l) in labels.iter().enumerate() {
            match uniq.iter().position(|&u| u == l) {
                Some(j) if dims[j] != shape[a] => {
                    return Err(SquishError::op(format!(
                        "input {i}: label {} repeats with sizes {} and {} (shape {shape:?})",
                        label_name(l),
                        dims[j],
                        shape[a]
                    )))
                }
                Some(j) => strides[j] += st[a],
                None => {
                    uniq.push(l);
                    dims.push(shape[a]);
                    strides.push(st[a]);
                }
            }
        }
        let data = if uniq.len() == labels.len() { data.to_vec() } else { gather(data, &dims, &strides) };
        Ok(Operand { labels: uniq, dims, data })
    }

    /// Strides of this operand for `labels` of sizes `dims`: 0 where it
    /// broadcasts (size 1, or a label it does not have).
    fn strides_for(&self, labels: &[Label], dims: &[usize]) -> Vec<usize> {
        let own = row_strides(&self.dims);
        labels
            .iter()
            .zip(dims)
            .map(|(l, &d)| self.labels.iter().position(|m| m == l).map_or(0, |a| if self.dims[a] == 1 && d != 1 { 0 } else { own[a] }))
            .collect()
    }

    /// Sums over every label for which `drop` holds.
    fn sum_out(self, drop: impl Fn(Label) -> bool) -> Operand<T> {
        let (gone, kept): (Vec<usize>, Vec<usize>) = (0..self.labels.len()).partition(|&a| drop(self.labels[a]));
        if gone.is_empty() {
            return self;
        }
        let order: Vec<usize> = kept.iter().chain(&gone).copied().collect();
        let dims: Vec<usize> = order.iter().map(|&a| self.dims[a]).collect();
        let st = row_strides(&self.dims);
        let moved = gather(&self.data, &dims, &order.iter().map(|&a| st[a]).collect::<Vec<_>>());
        let inner: usize = gone.iter().map(|&a| self.dims[a]).product();
        let outer: usize = kept.iter().map(|&a| self.dims[a]).product();
        let data = (0..outer).map(|o| moved[o * inner..(o + 1) * inner].iter().fold(T::default(), |s, &v| s.add(v))).collect();
        Operand { labels: kept.iter().map(|&a| self.labels[a]).collect(), dims: kept.iter().map(|&a| self.dims[a]).collect(), data }
    }

    /// This operand laid out as `labels` (broadcast where it lacks one).
    fn arranged(&self, labels: &[Label], sizes: &Sizes) -> Result<Vec<T>> {
        let dims = sizes.dims(labels);
        checked_numel(&dims, "an Einsum operand")?;
        Ok(gather(&self.data, &dims, &self.strides_for(labels, &dims)))
    }

    /// The product of `self` and `b`, keeping the labels for which `keep`
    /// holds: a batched matrix product over the labels both share.
    fn contract(self, b: Operand<T>, keep: &dyn Fn(Label) -> bool, sizes: &Sizes) -> Result<Operand<T>> {
        let (a_labels, b_labels) = (self.labels.clone(), b.labels.clone());
        let a = self.sum_out(|l| !keep(l) && !b_labels.contains(&l));
        let b = b.sum_out(|l| !keep(l) && !a_labels.contains(&l));
        let shared: Vec<Label> = a.labels.iter().copied().filter(|l| b.labels.contains(l)).collect();
        let (batch, inner): (Vec<Label>, Vec<Label>) = shared.into_iter().partition(|&l| keep(l));
        let left: Vec<Label> = a.labels.iter().copied().filter(|l| !b.labels.contains(l)).collect();
        let right: Vec<Label> = b.labels.iter().copied().filter(|l| !a.labels.contains(l)).collect();
        let a_data = a.arranged(&[&batch[..], &left, &inner].concat(), sizes)?;
        let b_data = b.arranged(&[&batch[..], &inner, &right].concat(), sizes)?;
        let size = |ls: &[Label]| sizes.dims(ls).iter().product::<usize>();
        let (nb, m, kk, n) = (size(&batch), size(&left), size(&inner), size(&right));
        let labels: Vec<Label> = [&batch[..], &left, &right].concat();
        let dims = sizes.dims(&labels);
        checked_numel(&dims, "an Einsum intermediate")?;
        let mut data = vec![T::default(); nb * m * n];
        for bi in 0..nb {
            T::gemm(m, kk, n, &a_data[bi * m * kk..(bi + 1) * m * kk], &b_data[bi * kk * n..(bi + 1) * kk * n], &mut data[bi * m * n..(bi + 1) * m * n]);
        }
        Ok(Operand { labels, dims, data })
    }
}

impl Einsum {
    /// Labels of each operand, their sizes and the output labels.
    fn labels(&self, shapes: &[&[usize]]) -> Result<(Vec<Vec<Label>>, Sizes, Vec<Label>)> {
        let mut max_e = 0;
        for (i, (t, s)) in self.eq.inputs.iter().zip(shapes).enumerate() {
            max_e = max_e.max(t.ellipsis_rank(s.len()).map_err(|e| SquishError::op(format!("input {i} (shape {s:?}) {e} in 'equation'")))?);
        }
        let labels: Vec<Vec<Label>> = self.eq.inputs.iter().zip(shapes).map(|(t, s)| t.labels(s.len(), max_e)).collect();
        let mut sizes: Vec<(Label, usize, usize)> = Vec::new();
        for (i, (ls, s)) in labels.iter().zip(shapes).enumerate() {
            for (&l, &d) in ls.iter().zip(s.iter()) {
                match sizes.iter_mut().find(|(m, _, _)| *m == l) {
                    Some((_, have, from)) if *from == i && *have != d => {
                        return Err(SquishError::op(format!("input {i}: label {} repeats with sizes {have} and {d} (shape {s:?})", label_name(l))));
                    }
                    Some((_, have, _)) if *have == d || d == 1 => {}
                    Some((_, have, _)) if *have == 1 => *have = d,
                    Some((_, have, from)) => {
                        return Err(SquishError::op(format!("label {} has size {have} in input {from} but {d} in input {i}", label_name(l))));
                    }
                    None => sizes.push((l, d, i)),
                }
            }
        }
        Ok((labels, Sizes(sizes.into_iter().map(|(l, d, _)| (l, d)).collect()), self.eq.output_labels(max_e)))
    }

    fn compute<T: Num>(&self, arrays: &[&ArrayD<T>]) -> Result<ArrayD<T>> {
        let shapes: Vec<&[usize]> = arrays.iter().map(|a| a.shape()).collect();
        let (labels, sizes, out) = self.labels(&shapes)?;
        let needed = |from: usize, l: Label| out.contains(&l) || labels[from..].iter().any(|ls| ls.contains(&l));
        let mut acc: Option<Operand<T>> = None;
        for (i, a) in arrays.iter().enumerate() {
            let data = super::linalg::contiguous(a);
            let op = Operand::new(i, &labels[i], a.shape(), &data)?;
            // Labels no other operand and not the output reads are summed first.
            let op = op.sum_out(|l| !out.contains(&l) && labels.iter().enumerate().all(|(j, ls)| j == i || !ls.contains(&l)));
            acc = Some(match acc {
                None => op,
                Some(prev) => prev.contract(op, &|l| needed(i + 1, l), &sizes)?,
            });
        }
        let last = acc.ok_or_else(|| SquishError::op("Einsum needs at least one input"))?.sum_out(|l| !out.contains(&l));
        let data = last.arranged(&out, &sizes)?;
        Ok(ArrayD::from_shape_vec(IxDyn(&sizes.dims(&out)), data).expect("one value per output element"))
    }
}

/// The inputs as arrays of one element type.
fn arrays<'t, T: crate::tensor::Element>(inputs: &[&'t Tensor]) -> Option<Vec<&'t ArrayD<T>>> {
    inputs.iter().map(|t| t.as_array::<T>()).collect()
}

fn to_f32<T: Copy + Into<f32>>(a: &ArrayD<T>) -> ArrayD<f32> {
    a.mapv(Into::into)
}

impl Op for Einsum {
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let ts: Vec<&Tensor> = (0..self.eq.inputs.len()).map(|i| required(inputs, i)).collect::<Result<_>>()?;
        let dtype = ts[0].dtype();
        if let Some((i, t)) = ts.iter().enumerate().find(|(_, t)| t.dtype() != dtype) {
            return Err(SquishError::op(format!("input {i} is {} but input 0 is {dtype}; Einsum needs one element type", t.dtype())));
        }
        let out = match ts[0] {
            Tensor::F32(_) => Tensor::F32(self.compute(&arrays::<f32>(&ts).expect("one type"))?),
            Tensor::F64(_) => Tensor::F64(self.compute(&arrays::<f64>(&ts).expect("one type"))?),
            Tensor::F16(_) => {
                let wide: Vec<ArrayD<f32>> = arrays::<f16>(&ts).expect("one type").into_iter().map(to_f32).collect();
                Tensor::F16(self.compute(&wide.iter().collect::<Vec<_>>())?.mapv(f16::from_f32))
            }
            Tensor::BF16(_) => {
                let wide: Vec<ArrayD<f32>> = arrays::<bf16>(&ts).expect("one type").into_iter().map(to_f32).collect();
                Tensor::BF16(self.compute(&wide.iter().collect::<Vec<_>>())?.mapv(bf16::from_f32))
            }
            Tensor::I32(_) => Tensor::I32(self.compute(&arrays::<i32>(&ts).expect("one type"))?),
            Tensor::I64(_) => Tensor::I64(self.compute(&arrays::<i64>(&ts).expect("one type"))?),
            Tensor::U32(_) => Tensor::U32(self.compute(&arrays::<u32>(&ts).expect("one type"))?),
            Tensor::U64(_) => Tensor::U64(self.compute(&arrays::<u64>(&ts).expect("one type"))?),
            other => return Err(SquishError::op(format!("Einsum does not support {} inputs", other.dtype()))),
        };
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::test_util::{f32s, run, string};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn einsum(eq: &str, inputs: &[&Tensor]) -> Result<Vec<f64>> {
        Ok(run("", "Einsum", &[("equation", string(eq))], 12, inputs)?[0].to_f64_vec())
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn bad_equations_name_the_attribute() {
        let x = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        for (eq, want) in [
            ("ij->ii", "appears twice"),
            ("ij->k", "'k' does not appear"),
            ("i.j", "not part of '...'"),
            ("...i...", "more than one '...'"),
            ("i1", "'1', which is not a letter"),
            ("ij->i->j", "more than one '->'"),
            ("ij,jk", "2 operand terms but the node has 1 inputs"),
        ] {
            let err = einsum(eq, &[&x]).unwrap_err().to_string();
            assert!(err.contains("attribute 'equation'") && err.contains(want), "{eq}: {err}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn wrong_shapes_are_errors() {
        let x = f32s(&[2, 3], &[0.0; 6]);
        let err = einsum("ijk", &[&x]).unwrap_err().to_string();
        assert!(err.contains("input 0") && err.contains("rank 2") && err.contains("names 3 axes"), "{err}");
        let err = einsum("ii->i", &[&x]).unwrap_err().to_string();
        assert!(err.contains("label 'i' repeats with sizes 2 and 3"), "{err}");
        let y = f32s(&[4, 2], &[0.0; 8]);
        let err = einsum("ij,jk->ik", &[&x, &y]).unwrap_err().to_string();
        assert!(err.contains("label 'j' has size 3 in input 0 but 4 in input 1"), "{err}");
        let i = Tensor::from_vec(&[2, 3], vec![0i64; 6]).unwrap();
        let err = einsum("ij,ij", &[&x, &i]).unwrap_err().to_string();
        assert!(err.contains("input 1 is int64 but input 0 is float32"), "{err}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn contractions_match_the_definition() {
        let a = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = f32s(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(einsum("ij,jk->ik", &[&a, &b]).unwrap(), vec![4.0, 5.0, 10.0, 11.0]);
        assert_eq!(einsum("ij,jk", &[&a, &b]).unwrap(), vec![4.0, 5.0, 10.0, 11.0]);
        assert_eq!(einsum("ij->", &[&a]).unwrap(), vec![21.0]);
        assert_eq!(einsum("ji", &[&a]).unwrap(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        // Trace, outer product, a three-operand chain and broadcast ellipses.
        let sq = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(einsum("ii", &[&sq]).unwrap(), vec![5.0]);
        let v = f32s(&[2], &[1.0, 2.0]);
        assert_eq!(einsum("i,j->ij", &[&v, &v]).unwrap(), vec![1.0, 2.0, 2.0, 4.0]);
        assert_eq!(einsum("i,ij,j->", &[&v, &sq, &v]).unwrap(), vec![1.0 + 2.0 * 2.0 + 2.0 * 3.0 + 4.0 * 4.0]);
        let batch = f32s(&[2, 1, 2], &[1.0, 1.0, 2.0, 2.0]);
        assert_eq!(einsum("...j,jk->...k", &[&batch, &sq]).unwrap(), vec![4.0, 6.0, 8.0, 12.0]);
        let ints = Tensor::from_vec(&[2, 2], vec![1i64, 2, 3, 4]).unwrap();
        assert_eq!(einsum("ij,jk", &[&ints, &ints]).unwrap(), vec![7.0, 10.0, 15.0, 22.0]);
    }
}
