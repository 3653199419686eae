//! Reading what a function printed. Framing it as Qinling's execution log is
//! `ridge_core::execution_log`.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::Path;

/// The captured stdout+stderr of one execution (or of the import), cut at the cap.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Captured {
    /// The first `cap` bytes, decoded as UTF-8 with replacement.
    pub text: String,
    /// How many bytes past the cap were dropped.
    pub dropped: u64,
    pub cap: usize,
}

impl Captured {
    /// The text, with a marker line if output was dropped.
    pub(crate) fn render(&self) -> String {
        let mut out = self.text.clone();
        if self.dropped > 0 {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "[ridge: output truncated, {} bytes over the {}-byte limit]",
                self.dropped, self.cap
            );
        }
        out
    }
}

/// Reads the capture file at `path` up to `cap` bytes, then empties it so that the next
/// execution starts from an empty file (the worker appends through a descriptor it inherited,
/// so the file itself stays). A missing file is an empty capture.
///
/// This is blocking file IO on the async path on purpose: the file is local, at most `cap`
/// bytes are read, and the read is short next to a process round trip.
pub(crate) fn take_capture(path: &Path, cap: usize) -> io::Result<Captured> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Captured {
                cap,
                ..Captured::default()
            });
        }
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    if size == 0 {
        return Ok(Captured {
            cap,
            ..Captured::default()
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(cap).min(cap));
    file.by_ref().take(cap as u64).read_to_end(&mut bytes)?;
    // Appends from the worker land at the new end of the file.
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(0))?;
    Ok(Captured {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        dropped: size.saturating_sub(bytes.len() as u64),
        cap,
    })
}

/// Appends `text` on a line of its own.
fn push_block(logs: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if !logs.is_empty() && !logs.ends_with('\n') {
        logs.push('\n');
    }
    logs.push_str(text);
}

/// The log of a failed load: what the import printed, then the traceback.
pub(crate) fn load_logs(captured: &Captured, traceback: &str) -> String {
    let mut logs = captured.render();
    push_block(&mut logs, traceback);
    logs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_logs_put_the_traceback_on_its_own_line() {
        let captured = Captured {
            text: "no newline".into(),
            dropped: 0,
            cap: 100,
        };
        assert_eq!(
            load_logs(&captured, "SyntaxError: x\n"),
            "no newline\nSyntaxError: x\n"
        );
        assert_eq!(load_logs(&Captured::default(), "E\n"), "E\n");
    }

    #[test]
    fn cuts_at_the_cap_and_says_how_much_was_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("capture");
        std::fs::write(&path, "0123456789abcdef").expect("write");
        let captured = take_capture(&path, 10).expect("read");
        assert_eq!(captured.text, "0123456789");
        assert_eq!(captured.dropped, 6);
        assert_eq!(
            captured.render(),
            "0123456789\n[ridge: output truncated, 6 bytes over the 10-byte limit]\n"
        );
        assert_eq!(
            std::fs::metadata(&path).expect("kept").len(),
            0,
            "the capture is emptied once read"
        );
        assert_eq!(take_capture(&path, 10).expect("empty").text, "");
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(take_capture(&path, 10).expect("missing").text, "");
    }

    #[test]
    fn decodes_invalid_utf8_with_replacement() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("capture");
        std::fs::write(&path, b"ok \xff\n").expect("write");
        assert_eq!(
            take_capture(&path, 100).expect("read").text,
            "ok \u{fffd}\n"
        );
    }
}
