//! The resource limits (`setrlimit`) a worker runs under.

/// Soft and hard rlimits for a worker process. Defaults deny what a function has no need for:
///
/// - `nofile` 1024 open files (Qinling's value),
/// - `core` 0: no core dumps,
/// - `fsize` 512 MiB: the largest file a worker may write (Qinling's is 500 MB); this also
///   bounds the per-execution capture of its output.
///
/// Each value is set as both the soft and the hard limit before the function's code loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    pub nofile: u64,
    pub core: u64,
    pub fsize: u64,
}

impl Rlimits {
    pub const DEFAULT_NOFILE: u64 = 1024;
    pub const DEFAULT_FSIZE: u64 = 512 * 1024 * 1024;
}

impl Default for Rlimits {
    fn default() -> Self {
        Self {
            nofile: Self::DEFAULT_NOFILE,
            core: 0,
            fsize: Self::DEFAULT_FSIZE,
        }
    }
}
