//! Creating, changing and deleting a function: the rules, the quota checks, the package
//! writes and the undo when the row cannot be written, so that the API's handlers only parse,
//! call and map.
//!
//! Every check runs before anything is written (a package is measured by decompressing it, and
//! what it unpacks to counts against the `package_bytes` quota), and a package is stored before the row that
//! names it; if the row cannot be written the package is removed again, so a client mistake
//! never leaves a half-made function or an orphan package. Packages are content-addressed by
//! md5 and shared with the function's versions: one is removed only when neither the function
//! nor a version uses it.

use bytes::Bytes;
use ridge_core::{
    Code, Entry, Function, FunctionId, FunctionPatch, Limits, NetworkAccess, ProjectId, RuntimeId,
};
use ridge_package::PackageStore;
use ridge_store::Store;

use crate::admission::Admission;
use crate::error::EngineError;

/// A package sent with a create or an update.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The zip archive or WebAssembly module, as sent.
    pub bytes: Bytes,
    /// The md5 the client says it has, checked against the bytes.
    pub md5sum: Option<String>,
}

/// A function to create, parsed and validated at the edge.
#[derive(Debug, Clone)]
pub struct NewFunction {
    pub project: ProjectId,
    pub name: Option<String>,
    pub description: Option<String>,
    pub runtime_id: RuntimeId,
    pub entry: Entry,
    pub limits: Limits,
    pub network: NetworkAccess,
}

/// What the engine needs to change functions.
pub(crate) struct Functions<'a> {
    pub store: &'a dyn Store,
    pub packages: &'a dyn PackageStore,
    pub admission: &'a Admission,
}

/// A function changed by [`Functions::update`], and what the caller must tidy up after.
pub(crate) struct Updated {
    pub function: Function,
    /// Its workers were started for what it no longer is: release them.
    pub runs_differently: bool,
    /// The package the update replaced, to remove once nothing uses it.
    pub replaced: Option<String>,
}

impl Functions<'_> {
    pub async fn create(&self, new: NewFunction, upload: Upload) -> Result<Function, EngineError> {
        let package = self
            .packages
            .check(upload.bytes, upload.md5sum.as_deref())
            .await?;
        self.admission
            .admit_function(self.store, self.packages, &new.project, package.footprint())
            .await?;
        let id = FunctionId::new();
        let md5sum = self.packages.store(&new.project, id, package).await?;
        let function = Function {
            id,
            project_id: new.project,
            name: new.name,
            description: new.description,
            runtime_id: new.runtime_id,
            code: Code::Package { md5sum },
            entry: new.entry,
            limits: new.limits,
            count: 0,
            latest_version: 0,
            network: new.network,
            created_at: ridge_core::time::now(),
            updated_at: None,
        };
        if let Err(e) = self.store.create_function(&function).await {
            self.remove_all(&function).await;
            return Err(e.into());
        }
        Ok(function)
    }

    /// Applies `patch` (and a new package) to `function`, as read by the caller.
    pub async fn update(
        &self,
        function: Function,
        patch: FunctionPatch,
        upload: Option<Upload>,
    ) -> Result<Updated, EngineError> {
        let now = ridge_core::time::now();
        if patch.changes_code(&function, upload.is_some(), now)
            && self.store.function_usage(function.id).await?.running_jobs > 0
        {
            return Err(EngineError::FunctionHasRunningJobs { id: function.id });
        }
        let old_md5 = function.code.md5sum().to_owned();
        if upload
            .as_ref()
            .and_then(|u| u.md5sum.as_deref())
            .is_some_and(|expected| expected == old_md5)
        {
            return Err(EngineError::ChecksumUnchanged { id: function.id });
        }
        let new_md5 = match upload {
            Some(upload) => {
                let package = self
                    .packages
                    .check(upload.bytes, upload.md5sum.as_deref())
                    .await?;
                self.admission
                    .admit_package(
                        self.store,
                        self.packages,
                        &function.project_id,
                        package.footprint(),
                    )
                    .await?;
                let md5 = self
                    .packages
                    .store(&function.project_id, function.id, package)
                    .await?;
                Some(md5).filter(|md5| *md5 != old_md5)
            }
            None => None,
        };
        let code = new_md5.clone().map(|md5sum| Code::Package { md5sum });
        let changed = patch.apply(&function, code, now);
        if let Err(e) = self.store.update_function(&changed).await {
            if let Some(md5) = &new_md5
                && !self.package_in_use(&changed, md5).await.unwrap_or(true)
            {
                let _ = self
                    .packages
                    .delete(&changed.project_id, changed.id, md5)
                    .await;
            }
            return Err(e.into());
        }
        Ok(Updated {
            runs_differently: changed.run_shape() != function.run_shape(),
            replaced: new_md5.map(|_| old_md5),
            function: changed,
        })
    }

    /// Removes the package `md5` of `function` unless its current code or a version uses it.
    pub async fn remove_if_unused(
        &self,
        function: &Function,
        md5: &str,
    ) -> Result<(), EngineError> {
        if !self.package_in_use(function, md5).await?
            && let Err(e) = self
                .packages
                .delete(&function.project_id, function.id, md5)
                .await
        {
            tracing::warn!(function = %function.id, md5, error = %e, "cannot remove an unused package");
        }
        Ok(())
    }

    /// Whether the function's current code or any of its versions uses the package `md5`.
    async fn package_in_use(&self, function: &Function, md5: &str) -> Result<bool, EngineError> {
        let current = self.store.get_function(function.id).await?;
        if current.code.md5sum() == md5 {
            return Ok(true);
        }
        let versions = self.store.list_versions(function.id).await?;
        Ok(versions.iter().any(|v| v.code.md5sum() == md5))
    }

    /// Removes every package of the function (after its row was deleted); failures are logged.
    pub async fn remove_all(&self, function: &Function) {
        if let Err(e) = self
            .packages
            .delete_all(&function.project_id, function.id)
            .await
        {
            tracing::error!(function = %function.id, error = %e, "cannot remove the function's packages");
        }
    }
}
