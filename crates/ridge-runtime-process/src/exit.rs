//! How a worker process ended, in words for messages and logs.

use std::process::ExitStatus;

/// How a worker ended, once it has been reaped.
pub(crate) enum End {
    /// It exited by itself (or was killed by someone other than Ridge).
    Exited(ExitStatus),
    /// It closed its pipe but kept running, so Ridge killed it.
    KilledHung,
    /// Reaping failed (should not happen for our own child).
    Unknown(String),
}

/// SIGKILL's number on Linux.
pub(crate) const SIGKILL: i32 = 9;

/// "exit code 3" or "killed by SIGSEGV", and whether the signal was SIGKILL.
pub(crate) fn describe_exit(status: ExitStatus) -> (String, bool) {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return (format!("exit code {code}"), false);
    }
    match status.signal() {
        Some(signal) => {
            let name = ridge_sandbox::signal_name(signal);
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            let sigkill = name == "SIGKILL";
            (format!("killed by {name}{core}"), sigkill)
        }
        None => (status.to_string(), false),
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Exited(status) => f.write_str(&describe_exit(*status).0),
            End::KilledHung => f.write_str("it closed its pipe but kept running, and was killed"),
            End::Unknown(detail) => f.write_str(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn describes_exits_and_spots_sigkill() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8)),
            ("exit code 3".to_owned(), false)
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(9)),
            ("killed by SIGKILL".to_owned(), true)
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(11 | 0x80)),
            ("killed by SIGSEGV (core dumped)".to_owned(), false)
        );
    }
}
