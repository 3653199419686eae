//! Figures read from `/proc`: a process's peak resident set (`VmHWM`) and proportional set size
//! (`Pss` from `smaps_rollup`), the descendants of a process, the CPU of a process tree and of
//! the whole machine.

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

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

/// Every live process as `(pid, parent pid)`.
fn process_table() -> Vec<(u32, u32)> {
    let mut table = Vec::new();
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
                table.push((pid, ppid));
            }
        }
    }
    table
}

/// `root`'s live descendants (children, their children, ...) in `table`.
fn subtree(table: &[(u32, u32)], root: u32) -> Vec<u32> {
    let mut found = BTreeSet::from([root]);
    loop {
        let before = found.len();
        for &(pid, ppid) in table {
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

/// Every live descendant of `root`, found by scanning `/proc` for parent links, so it works
/// whatever spawned them.
pub fn descendants(root: u32) -> Vec<u32> {
    subtree(&process_table(), root)
}

/// The workers of a Ridge server: each child of the server whose process tree runs Python
/// (a sandboxed worker is bubblewrap, its init and the interpreter), as the list of that tree's
/// processes. A worker a zygote forked is the zygote's child, not bubblewrap's: it joins the
/// tree of the bubblewrap whose PID namespace it runs in, and the zygote is a tree of its own
/// (what it holds is shared by its workers). Helpers without Python (such as a namespace
/// holder) are left out.
pub fn worker_trees(server: u32) -> Vec<Vec<u32>> {
    let host = pid_namespace(server);
    group_workers(&process_table(), server, is_zygote, |pid| {
        pid_namespace(pid).filter(|ns| Some(ns) != host.as_ref())
    })
    .into_iter()
    .filter(|tree| tree.iter().any(|&p| is_python(p)))
    .collect()
}

/// [`worker_trees`] over `table`, before the filter: `zygote` says which processes are
/// zygotes, `sandbox` the PID namespace of a process outside the server's.
fn group_workers(
    table: &[(u32, u32)],
    server: u32,
    zygote: impl Fn(u32) -> bool,
    sandbox: impl Fn(u32) -> Option<String>,
) -> Vec<Vec<u32>> {
    let children = |parent: u32| {
        table
            .iter()
            .filter(move |&&(_, ppid)| ppid == parent)
            .map(|&(pid, _)| pid)
    };
    let (zygotes, others): (Vec<u32>, Vec<u32>) = children(server).partition(|&p| zygote(p));
    let mut trees: Vec<Vec<u32>> = others
        .into_iter()
        .map(|child| {
            let mut tree = subtree(table, child);
            tree.push(child);
            tree
        })
        .collect();
    let mut by_namespace = std::collections::HashMap::new();
    for (i, tree) in trees.iter().enumerate() {
        for &pid in tree {
            if let Some(ns) = sandbox(pid) {
                by_namespace.insert(ns, i);
            }
        }
    }
    for z in zygotes {
        trees.push(vec![z]);
        for worker in children(z) {
            let mut tree = subtree(table, worker);
            tree.push(worker);
            match sandbox(worker).and_then(|ns| by_namespace.get(&ns)) {
                Some(&i) => trees[i].extend(tree),
                None => trees.push(tree),
            }
        }
    }
    trees
}

/// Whether `pid` is a runtime's zygote (its command line's last argument names it; a worker
/// it forks writes its own name there).
fn is_zygote(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.windows(12).any(|w| w == b"ridge-zygote"))
}

/// The PID namespace of `pid`, as `/proc/<pid>/ns/pid` names it.
fn pid_namespace(pid: u32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

fn is_python(pid: u32) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|b| {
            let first = b.split(|&c| c == 0).next()?.to_vec();
            String::from_utf8(first).ok()
        })
        .is_some_and(|exe| {
            exe.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with("python"))
        })
}

/// Summed PSS of each worker tree, in bytes.
pub fn worker_pss(server: u32) -> Vec<u64> {
    worker_trees(server)
        .iter()
        .map(|tree| tree.iter().filter_map(|&p| pss(p)).sum())
        .collect()
}

/// CPU time (user + system) used so far by `root` and its live descendants. `/proc` counts in
/// USER_HZ, which Linux fixes at 100 per second for user space.
pub fn tree_cpu(root: u32) -> Duration {
    let ticks: u64 = std::iter::once(root)
        .chain(descendants(root))
        .filter_map(|pid| cpu_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// The whole machine's busy CPU time so far (every CPU's user, nice, system, irq, softirq and
/// steal time from `/proc/stat`): what everything running costs, processes that have ended and
/// the kernel's own threads included, in USER_HZ ticks (10 ms).
pub fn machine_busy() -> Duration {
    let ticks = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| busy_ticks(stat.lines().next()?))
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Waits, for at most `limit`, until the machine is quiet: less than a tenth of its CPU busy
/// over 100 ms (what a step before left running, such as a store's checkpoint or the kernel
/// writing files back, is not measured as the next step's). Returns how long it waited.
pub async fn settle(limit: Duration) -> Duration {
    const WINDOW: Duration = Duration::from_millis(100);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        let before = machine_busy();
        tokio::time::sleep(WINDOW).await;
        // Ticks are 10 ms: a quiet window reads at most one tick per tenth of the CPUs' time.
        if machine_busy().saturating_sub(before) * 10 <= WINDOW * cpus {
            break;
        }
    }
    started.elapsed()
}

/// The busy ticks of a `/proc/stat` `cpu` line: all of its first eight fields (user, nice,
/// system, idle, iowait, irq, softirq, steal) but idle and iowait.
fn busy_ticks(line: &str) -> Option<u64> {
    let fields: Vec<u64> = line
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (fields.len() == 8).then(|| fields.iter().sum::<u64>() - fields[3] - fields[4])
}

/// utime + stime from a `/proc/<pid>/stat` line.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name, state is field 3 of stat(5), so utime (14) and stime (15) are at 11
    // and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
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
        let stat = "12 (a) b) S 7 12 12 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(281));
        assert_eq!(busy_ticks("cpu  1 2 3 4 5 6 7 8 9 10"), Some(27));
        assert_eq!(busy_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(busy_ticks("cpu  1 2 3"), None);
    }

    /// Server 1 has bubblewrap 10 (its sandbox's init 11 and, started without a zygote, worker
    /// 12), bubblewrap 20 (init 21, in namespace "b"), and zygote 30, which forked worker 31
    /// (in "b", with a child 32) and worker 33 (in no sandbox bubblewrap made).
    #[test]
    fn a_zygotes_workers_join_their_sandboxes() {
        let table = [
            (10, 1),
            (11, 10),
            (12, 11),
            (20, 1),
            (21, 20),
            (30, 1),
            (31, 30),
            (32, 31),
            (33, 30),
            (40, 2),
        ];
        let namespace = |pid: u32| match pid {
            11 | 12 => Some("a".to_owned()),
            21 | 31 | 32 => Some("b".to_owned()),
            33 => Some("c".to_owned()),
            _ => None,
        };
        let mut trees = group_workers(&table, 1, |p| p == 30, namespace);
        for tree in &mut trees {
            tree.sort_unstable();
        }
        trees.sort();
        assert_eq!(
            trees,
            [vec![10, 11, 12], vec![20, 21, 31, 32], vec![30], vec![33]]
        );
    }

    #[test]
    fn this_process_has_memory_figures() {
        let me = std::process::id();
        assert!(peak_rss(me).is_some_and(|b| b > 0));
        assert!(rss(me).is_some_and(|b| b > 0));
    }
}
