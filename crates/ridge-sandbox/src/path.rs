//! Finding a program on this host: the sandbox's own tools (`bwrap`, `setpriv`) and the
//! interpreters the process adapter starts (`python3`, `node`) are looked up the same way.
//! And checking a host path before the sandbox shows it: [`shown_path`].

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

/// `path` with every symbolic link resolved, if the sandbox may show it to workers: not `/`
/// (the whole host), and neither one of the `hidden` directories (Ridge's data directory)
/// nor a directory that contains one. The error says which and why, for start-up messages.
/// `hidden` must be canonical already.
pub fn shown_path(path: &Path, hidden: &[PathBuf]) -> Result<PathBuf, String> {
    let real = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot resolve `{}`: {e}", path.display()))?;
    let named = if real == path {
        format!("`{}`", path.display())
    } else {
        format!("`{}` (`{}`)", path.display(), real.display())
    };
    if real == Path::new("/") {
        return Err(format!(
            "{named} is the host's root directory; workers would see the whole host"
        ));
    }
    if let Some(private) = hidden
        .iter()
        .find(|h| h.starts_with(&real) || real.starts_with(h))
    {
        return Err(format!(
            "{named} holds or lies in Ridge's data directory `{}`; workers would see the \
             database and every package",
            private.display()
        ));
    }
    Ok(real)
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
    fn the_root_and_the_data_directory_are_never_shown() {
        let data = tempfile::tempdir().expect("tempdir");
        let data = std::fs::canonicalize(data.path()).expect("canonical");
        let hidden = [data.join("ridge")];
        std::fs::create_dir(&hidden[0]).expect("mkdir");
        let err = shown_path(Path::new("/"), &hidden).expect_err("the root");
        assert!(err.contains("the host's root directory"), "{err}");
        // Through a link, as `python = "/bin/python3"` made the prefix `/`.
        let link = data.join("up");
        std::os::unix::fs::symlink("/", &link).expect("symlink");
        let err = shown_path(&link, &hidden).expect_err("the root through a link");
        assert!(err.contains("(`/`)"), "{err}");
        let err = shown_path(&data, &hidden).expect_err("holds the data directory");
        assert!(err.contains("Ridge's data directory"), "{err}");
        let inside = hidden[0].join("unpacked");
        std::fs::create_dir(&inside).expect("mkdir");
        assert!(shown_path(&inside, &hidden).is_err(), "lies in it");
        assert_eq!(
            shown_path(Path::new("/usr/bin/../lib"), &hidden),
            Ok(std::fs::canonicalize("/usr/lib").expect("canonical"))
        );
        assert!(shown_path(Path::new("/nonexistent/dir"), &hidden).is_err());
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
