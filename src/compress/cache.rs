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

    /// The value under `key`, made by `make` the first time.
    pub fn get_or_try<T: Any + Send + Sync>(&self, key: &str, make: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        if let Some(v) = self.get::<T>(key) {
            return Ok(v);
        }
        let v = Arc::new(make()?);
        self.put(key, Arc::clone(&v));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_per_scope_and_none_keeps_nothing() {
        let c = Cache::keeping();
        let (a, b) = (c.scoped("step0"), c.scoped("step1"));
        let mut made = 0;
        let mut make = |v: u32| {
            made += 1;
            Ok(v)
        };
        assert_eq!(*a.get_or_try("k", || make(1)).unwrap(), 1);
        assert_eq!(*a.get_or_try("k", || make(2)).unwrap(), 1, "kept");
        assert_eq!(*b.get_or_try("k", || make(3)).unwrap(), 3, "another scope");
        assert!(a.get::<String>("k").is_none(), "another type is a miss");
        let none = Cache::none();
        assert_eq!(*none.get_or_try("k", || make(4)).unwrap(), 4);
        assert_eq!(*none.get_or_try("k", || make(5)).unwrap(), 5);
        assert_eq!(made, 4);
    }
}
