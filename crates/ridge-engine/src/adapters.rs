//! The runtime adapters this server has, one per runtime kind, and what each one's host check
//! found. The only module that names the adapter trait of `ridge-runtime`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ridge_core::{InvalidInput, Runtime, RuntimeKind, RuntimeStatus};
use ridge_runtime::RuntimeAdapter;

/// An adapter: starts workers of one runtime kind.
pub(crate) type Adapter = Arc<dyn RuntimeAdapter>;

pub(crate) struct Adapters {
    by_kind: HashMap<RuntimeKind, Adapter>,
    /// What each kind's check found on this host: a description, or why it cannot run.
    checks: Mutex<HashMap<RuntimeKind, Result<String, String>>>,
}

impl Adapters {
    pub fn new(adapters: Vec<Adapter>) -> Self {
        Self {
            by_kind: adapters.into_iter().map(|a| (a.kind(), a)).collect(),
            checks: Mutex::new(HashMap::new()),
        }
    }

    /// The adapter for a runtime's image, if this server has its kind.
    pub fn for_runtime(&self, runtime: &Runtime) -> Option<Adapter> {
        runtime.kind().and_then(|k| self.by_kind.get(&k).cloned())
    }

    /// Stops every adapter's pre-started workers.
    pub async fn stop_prestarted(&self) {
        for adapter in self.by_kind.values() {
            adapter.stop_prestarted().await;
        }
    }

    /// Checks every kind on this host and remembers what was found.
    pub async fn check_all(&self) {
        for (kind, adapter) in &self.by_kind {
            let found = adapter.check().await.map_err(|e| e.to_string());
            match &found {
                Ok(detail) => tracing::info!(runtime = %kind, %detail, "runtime ready"),
                Err(why) => {
                    tracing::warn!(runtime = %kind, %why, "runtime cannot run on this host")
                }
            }
            lock(&self.checks).insert(kind.clone(), found);
        }
    }

    /// Each kind's check, sorted by kind.
    pub fn checks(&self) -> Vec<(RuntimeKind, Result<String, String>)> {
        let checks = lock(&self.checks);
        let mut all: Vec<_> = self
            .by_kind
            .keys()
            .map(|k| {
                let found = checks
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| Err("not checked yet".to_owned()));
                (k.clone(), found)
            })
            .collect();
        all.sort_by(|(a, _), (b, _)| a.cmp(b));
        all
    }

    /// The kind an `image` names, if this server has it.
    pub fn kind(&self, image: &str) -> Result<RuntimeKind, InvalidInput> {
        let kind = RuntimeKind::from_image(image)?;
        if self.by_kind.contains_key(&kind) {
            return Ok(kind);
        }
        let mut known: Vec<&str> = self.by_kind.keys().map(RuntimeKind::as_str).collect();
        known.sort_unstable();
        Err(InvalidInput::new(format!(
            "unknown runtime image `{image}`: known runtime kinds are {}",
            known.join(", ")
        )))
    }

    /// What a runtime's status should be on this host: `available` when its kind passed the
    /// check, `error` otherwise.
    /// Why this host cannot run `runtime`, when it cannot.
    pub fn problem(&self, runtime: &Runtime) -> Option<String> {
        let kind = runtime.kind();
        if let Some(kind) = &kind
            && let Some(found) = lock(&self.checks).get(kind)
        {
            return found.as_ref().err().cloned();
        }
        let mut kinds: Vec<String> = self.by_kind.keys().map(ToString::to_string).collect();
        kinds.sort();
        Some(format!(
            "image `{}` is no runtime kind of this server (it has: {})",
            runtime.image,
            kinds.join(", ")
        ))
    }

    pub fn status(&self, runtime: &Runtime) -> RuntimeStatus {
        match runtime.kind() {
            Some(kind) => match lock(&self.checks).get(&kind) {
                Some(Ok(_)) => RuntimeStatus::Available,
                _ => RuntimeStatus::Error,
            },
            None => RuntimeStatus::Error,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only bookkeeping happens under this lock; a poisoned one still holds consistent data.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
