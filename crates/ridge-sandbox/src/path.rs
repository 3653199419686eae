//! Finding a program on this host: the sandbox's own tools (`bwrap`, `setpriv`) and the
//! interpreters the process adapter starts (`python3`, `node`) are looked up the same way.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The usual system directories: searched when Ridge runs without `PATH` (a service manager may
/// start it with an empty environment), and the `PATH` every worker starts with.
pub const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The first executable file called `name` in the directories of `PATH`, or of [`SYSTEM_PATH`]
/// when `PATH` is unset.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    find_in(name, std::env::var_os("PATH").as_deref())
}

fn find_in(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    let path = path.unwrap_or(OsStr::new(SYSTEM_PATH));
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|file| is_executable(file))
}

/// Whether `file` is a regular file (or a link to one) that someone may execute.
pub fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn finds_the_first_executable_file_of_that_name() {
        let first = tempfile::tempdir().expect("tempdir");
        let second = tempfile::tempdir().expect("tempdir");
        let write = |dir: &Path, mode: u32| {
            let file = dir.join("tool");
            std::fs::write(&file, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            file
        };
        write(first.path(), 0o644);
        let executable = write(second.path(), 0o755);
        std::fs::create_dir(first.path().join("dir")).expect("mkdir");
        let path = std::env::join_paths([first.path(), second.path()]).expect("join");
        assert_eq!(find_in("tool", Some(&path)), Some(executable));
        assert_eq!(
            find_in("dir", Some(&path)),
            None,
            "a directory is no program"
        );
        assert_eq!(find_in("missing", Some(&path)), None);
    }

    #[test]
    fn an_unset_path_searches_the_system_directories() {
        let found = find_in("sh", None).expect("every Linux host has sh in /bin or /usr/bin");
        assert!(
            std::env::split_paths(SYSTEM_PATH).any(|dir| found == dir.join("sh")),
            "{}",
            found.display()
        );
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(find_in("sh", Some(empty.path().as_os_str())), None);
    }
}
