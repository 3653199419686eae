//! Memory figures read from `/proc`: a process's peak resident set (`VmHWM`) and proportional
//! set size (`Pss` from `smaps_rollup`), and the descendants of a process.

use std::collections::BTreeSet;
use std::fs;

/// A field of `/proc/<pid>/status` or `smaps_rollup` given in kB, in bytes.
fn kb_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Peak resident set size of `pid`, in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    kb_field(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmHWM",
    )
}

/// Current resident set size of `pid`, in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    kb_field(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        "VmRSS",
    )
}

/// Proportional set size of `pid`, in bytes.
pub fn pss(pid: u32) -> Option<u64> {
    kb_field(
        &fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?,
        "Pss",
    )
}

/// Every live descendant of `root` (children, their children, ...), found by scanning `/proc`
/// for parent links, so it works whatever spawned them.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parent_of(&s))
            {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = BTreeSet::from([root]);
    loop {
        let before = found.len();
        for &(pid, ppid) in &parents {
            if found.contains(&ppid) {
                found.insert(pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    found.remove(&root);
    found.into_iter().collect()
}

/// The parent pid from `/proc/<pid>/stat` (after the command name, which may contain spaces).
fn parent_of(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kb_fields_and_parents() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t1024 kB\n";
        assert_eq!(kb_field(status, "VmHWM"), Some(2 * 1024 * 1024));
        assert_eq!(kb_field(status, "VmPeak"), None);
        assert_eq!(parent_of("12 (a b) S 7 12 12 0"), Some(7));
    }

    #[test]
    fn this_process_has_memory_figures() {
        let me = std::process::id();
        assert!(peak_rss(me).is_some_and(|b| b > 0));
        assert!(rss(me).is_some_and(|b| b > 0));
    }
}
