//! What tests of this crate and of the crates above it read from `/proc` to see which
//! processes a sandbox left behind. Tests only: built with `cfg(test)` or the `fixtures`
//! feature, which other crates enable from their dev-dependencies.

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone)]
pub struct ProcStat {
    pub pid: u32,
    /// The command name, which may hold spaces and parentheses.
    pub comm: String,
    /// The fields after `comm` (state, ppid, pgrp, ...): split after the last `)`.
    pub fields: Vec<String>,
}

impl ProcStat {
    /// A zombie: ended, not yet reaped.
    pub fn is_zombie(&self) -> bool {
        self.fields.first().is_some_and(|state| state == "Z")
    }

    pub fn ppid(&self) -> Option<u32> {
        self.fields.get(1)?.parse().ok()
    }

    pub fn pgrp(&self) -> Option<u32> {
        self.fields.get(2)?.parse().ok()
    }
}

/// Every process in `/proc` (one that ends while it is read is left out).
///
/// # Panics
/// When `/proc` cannot be listed.
pub fn proc_stats() -> Vec<ProcStat> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        found.push(ProcStat {
            pid,
            comm: stat[open + 1..close].to_owned(),
            fields: stat[close + 1..]
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        });
    }
    found
}

/// Live (not zombie) processes of process group `pgid`, as (pid, comm).
pub fn group_members(pgid: u32) -> Vec<(u32, String)> {
    proc_stats()
        .into_iter()
        .filter(|p| !p.is_zombie() && p.pgrp() == Some(pgid))
        .map(|p| (p.pid, p.comm))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_with_its_parent_and_group() {
        let me = proc_stats()
            .into_iter()
            .find(|p| p.pid == std::process::id())
            .expect("this process is listed");
        assert!(!me.is_zombie());
        assert_eq!(me.ppid(), Some(std::os::unix::process::parent_id()));
        let group = nix::unistd::getpgrp().as_raw().unsigned_abs();
        assert_eq!(me.pgrp(), Some(group));
        assert!(group_members(group).iter().any(|(pid, _)| *pid == me.pid));
    }
}
