//! The sparsity scan for structured pruning (`channels`, `heads`): each
//! dependency group is cut alone at each share of `LEVELS` and the whole
//! cut model runs on every input set. A cut changes shapes through several
//! layers, so there is no single downstream part to run as the unstructured
//! scan does; the cut model is smaller than the original, which keeps this
//! affordable (mobilenetv2: see README, "The sparsity scan").

use std::sync::Arc;

use super::sensitivity::outcome;
use super::sparsity_scan::{Base, LayerCurve, LEVELS};
use crate::compress::prune::structured::GroupSet;
use crate::error::{Result, SquishError};
use crate::runtime::Session;

pub struct GroupScan {
    pub(super) base: Base,
    groups: GroupSet,
    done: Vec<Option<LayerCurve>>,
}

impl GroupScan {
    pub(super) fn new(base: Base) -> Result<GroupScan> {
        let groups = GroupSet::new(&base.original, &base.section, &base.feeds)?;
        let done = groups.info.iter().map(|_| None).collect();
        Ok(GroupScan { base, groups, done })
    }

    /// Each group named by its first producing layer.
    pub fn layers(&self) -> Vec<String> {
        self.groups.info.iter().map(|g| g.producers.first().cloned().unwrap_or_default()).collect()
    }

    /// The error curve of group `i`.
    pub fn measure(&mut self, i: usize) -> Result<&LayerCurve> {
        let info =
            self.groups.info.get(i).ok_or_else(|| SquishError::Recipe(format!("the scan has {} groups, not {}", self.groups.info.len(), i + 1)))?.clone();
        let mut outcomes = Vec::with_capacity(LEVELS.len());
        for level in LEVELS {
            let cut = self.groups.cut(&self.base.original, i, level)?;
            let session = Session::for_comparison(Arc::new(cut))?;
            let mut got = Vec::with_capacity(self.base.feeds.len());
            for feed in &self.base.feeds {
                got.push(session.run(feed.clone())?.outputs.into_iter().map(|(_, t)| t).collect());
            }
            outcomes.push(outcome(&self.base.reference, &got, self.base.class_output));
        }
        let mut producers = info.producers.into_iter();
        let node = producers.next().unwrap_or_default();
        let curve = LayerCurve { node, coupled: producers.collect(), op_type: info.op_type, weights: info.weights, outcomes };
        Ok(self.done[i].insert(curve))
    }

    pub(super) fn curves(&self) -> Vec<LayerCurve> {
        self.done.iter().flatten().cloned().collect()
    }
}
