//! Qinling's execution log: what a function printed, between a `Start execution: <id>` line and,
//! when the execution ran to its end, a `Finished execution: <id>` line. Clients read these
//! lines, so every runtime adapter and the engine frame logs with [`frame`] and nothing else.

use crate::ExecutionId;

/// How an execution ended, as far as its log tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEnd {
    /// The function returned, raised or failed to load: the log closes with
    /// `Finished execution: <id>`.
    Finished,
    /// The execution was cut short (its timeout, a resource limit, its worker died or was
    /// killed): the log stops after the last block, as Qinling's did.
    CutShort,
}

/// The log of execution `id`: the start line, then each non-empty block (the function's output,
/// a traceback, Ridge's own notes) starting on a line of its own, then the end line if the
/// execution [finished](LogEnd::Finished). Every line of the result ends with a newline.
pub fn frame(id: ExecutionId, blocks: &[&str], end: LogEnd) -> String {
    let mut log = format!("Start execution: {id}\n");
    for block in blocks.iter().filter(|b| !b.is_empty()) {
        log.push_str(block);
        if !log.ends_with('\n') {
            log.push('\n');
        }
    }
    if end == LogEnd::Finished {
        log.push_str(&format!("Finished execution: {id}\n"));
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_output_and_traceback_like_qinling() {
        let id = ExecutionId::new();
        assert_eq!(
            frame(
                id,
                &["hello", "Traceback...\nValueError: x\n"],
                LogEnd::Finished
            ),
            format!(
                "Start execution: {id}\nhello\nTraceback...\nValueError: x\nFinished execution: {id}\n"
            )
        );
    }

    #[test]
    fn empty_blocks_add_no_lines() {
        let id = ExecutionId::new();
        assert_eq!(
            frame(id, &["", ""], LogEnd::Finished),
            format!("Start execution: {id}\nFinished execution: {id}\n")
        );
        assert_eq!(
            frame(id, &[], LogEnd::CutShort),
            format!("Start execution: {id}\n")
        );
    }

    #[test]
    fn a_cut_short_log_has_no_end_line_and_still_ends_its_last_line() {
        let id = ExecutionId::new();
        assert_eq!(
            frame(id, &["about to exit"], LogEnd::CutShort),
            format!("Start execution: {id}\nabout to exit\n")
        );
        assert_eq!(
            frame(id, &["partial", "[ridge: note]\n"], LogEnd::CutShort),
            format!("Start execution: {id}\npartial\n[ridge: note]\n")
        );
    }
}
