//! Work a method may reuse when the same model is compressed many times with
//! the same calibration inputs and different per-layer settings (a target
//! search does this dozens of times): input Hessians, calibrated ranges,
//! rounded weights. Keys carry a scope that names everything the value
//! depends on beyond the key itself (the step, and the steps before it).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Result;

type Store = Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>;

/// A shared store; `Cache::none()` (the default) keeps nothing, so a plain
/// compression holds no extra memory.
#[derive(Clone, Default)]
pub struct Cache {
    store: Option<Arc<Store>>,
    scope: String,
}

impl Cache {
    /// Keeps nothing: every lookup computes.
    pub fn none() -> Cache {
        Cache::default()
    }

    /// Keeps every value until dropped.
    pub fn keeping() -> Cache {
        Cache { store: Some(Arc::default()), scope: String::new() }
    }

    pub fn is_keeping(&self) -> bool {
        self.store.is_some()
    }

    /// The same store, with `part` added to the scope of every key.
    pub fn scoped(&self, part: &str) -> Cache {
        Cache { store: self.store.clone(), scope: format!("{}/{part}", self.scope) }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}|{key}", self.scope)
    }

    /// The value under `key`, if kept.
    pub fn get<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        let store = self.store.as_ref()?;
        let found = store.lock().ok()?.get(&self.full_key(key)).cloned();
        found.and_then(|v| v.downcast::<T>().ok())
    }

    pub fn put<T: Any + Send + Sync>(&self, key: &str, value: Arc<T>) {
        if let Some(store) = &self.store {
            if let Ok(mut map) = store.lock() {
                map.insert(self.full_key(key), value);
            }
        }
    }

    /// A value for each of `items`: the kept ones, and those `compute`
    /// makes for the rest in one call (kept from then on). `compute` may
    /// leave an item out; it is then asked again next time.
    pub fn fill<K, T: Any + Send + Sync>(
        &self,
        items: Vec<K>,
        key: impl Fn(&K) -> String,
        compute: impl FnOnce(Vec<K>) -> Result<Vec<(K, T)>>,
    ) -> Result<Vec<(K, Arc<T>)>> {
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for k in items {
            match self.get::<T>(&key(&k)) {
                Some(v) => found.push((k, v)),
                None => missing.push(k),
            }
        }
        if !missing.is_empty() {
            for (k, v) in compute(missing)? {
                let v = Arc::new(v);
                self.put(&key(&k), Arc::clone(&v));
                found.push((k, v));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_per_scope_and_none_keeps_nothing() {
        let c = Cache::keeping();
        let (a, b) = (c.scoped("step0"), c.scoped("step1"));
        let mut asked: Vec<Vec<u32>> = Vec::new();
        let mut fill = |cache: &Cache, items: Vec<u32>| {
            let got = cache.fill(
                items,
                |k| k.to_string(),
                |missing| {
                    asked.push(missing.clone());
                    Ok(missing.into_iter().map(|k| (k, k * 10)).collect())
                },
            );
            got.unwrap().into_iter().map(|(k, v)| (k, *v)).collect::<Vec<_>>()
        };
        assert_eq!(fill(&a, vec![1, 2]), [(1, 10), (2, 20)]);
        assert_eq!(fill(&a, vec![2, 3]), [(2, 20), (3, 30)], "2 kept, 3 made");
        assert_eq!(fill(&b, vec![1]), [(1, 10)], "another scope");
        assert!(a.get::<String>("1").is_none(), "another type is a miss");
        assert_eq!(fill(&Cache::none(), vec![1]), [(1, 10)]);
        assert_eq!(asked, [vec![1, 2], vec![3], vec![1], vec![1]]);
    }
}
