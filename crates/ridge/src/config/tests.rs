use super::*;

#[test]
fn flags_win_over_the_file() {
    let file: FileConfig =
        toml::from_str("listen = \"127.0.0.1:9000\"\ndata_dir = \"/f\"").expect("valid toml");
    let over = Overrides {
        listen: Some("127.0.0.1:9001".into()),
        ..Overrides::default()
    };
    let s = Settings::merge(over, file).expect("valid");
    assert_eq!(s.listen.port(), 9001);
    assert_eq!(s.data_dir, PathBuf::from("/f"));
    assert_eq!(s.max_package_size, DEFAULT_MAX_PACKAGE_SIZE);
    let tiny: FileConfig = toml::from_str("unpack_cache_size = 4096").expect("valid toml");
    assert!(Settings::merge(Overrides::default(), tiny).is_err());
}

#[test]
fn the_sandbox_table_denies_by_default_and_grants_explicitly() {
    let over = || Overrides {
        data_dir: Some("/d".into()),
        ..Overrides::default()
    };
    let s = Settings::merge(over(), FileConfig::default()).expect("valid");
    assert_eq!(s.sandbox.enforcement, ridge_sandbox::Enforcement::Refuse);
    assert_eq!(s.sandbox.network, ridge_sandbox::Network::Loopback);
    assert_eq!(s.sandbox.pids, 128);
    assert_eq!(s.sandbox.tmp_size, 64 * 1024 * 1024);
    assert_eq!(s.sandbox.startup_cpu, 1000);
    let file: FileConfig = toml::from_str(
        "[sandbox]\nmode = \"degraded\"\nnetwork = \"host\"\npids = 64\ntmp_size = 2097152\nstartup_cpu = 0",
    )
    .expect("valid toml");
    let s = Settings::merge(over(), file).expect("valid");
    assert_eq!(s.sandbox.enforcement, ridge_sandbox::Enforcement::Degraded);
    assert_eq!(s.sandbox.network, ridge_sandbox::Network::Host);
    assert_eq!((s.sandbox.pids, s.sandbox.tmp_size), (64, 2 * 1024 * 1024));
    assert_eq!(s.sandbox.startup_cpu, 0);
    let typo = toml::from_str::<FileConfig>("[sandbox]\nmode = \"lenient\"");
    assert!(typo.is_err());
    let root: FileConfig = toml::from_str("[sandbox]\nuid = 0").expect("valid toml");
    assert!(Settings::merge(over(), root).is_err());
}

#[test]
fn the_sandbox_can_be_turned_off_and_an_unknown_mode_names_the_three() {
    let over = || Overrides {
        data_dir: Some("/d".into()),
        ..Overrides::default()
    };
    let file: FileConfig = toml::from_str("[sandbox]\nmode = \"off\"").expect("valid toml");
    let s = Settings::merge(over(), file).expect("valid");
    assert_eq!(s.sandbox.enforcement, ridge_sandbox::Enforcement::Off);
    assert_eq!(s.sandbox.enforcement.name(), "off");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ridge.toml");
    std::fs::write(&path, "[sandbox]\nmode = \"disabled\"\n").expect("write");
    let error = format!("{:#}", FileConfig::load(&path).expect_err("refused"));
    assert!(error.contains("unknown variant `disabled`"), "{error}");
    assert!(
        error.contains("expected one of `refuse`, `degraded`, `off`"),
        "{error}"
    );
}

#[test]
fn the_keep_alive_policy_is_adaptive_by_default_and_can_be_fixed() {
    let over = || Overrides {
        data_dir: Some("/d".into()),
        ..Overrides::default()
    };
    let s = Settings::merge(over(), FileConfig::default()).expect("valid");
    assert_eq!(s.keep_alive, ridge_engine::KeepAlive::Adaptive);
    assert_eq!(s.keep_alive_bucket, Duration::from_secs(60));
    let file: FileConfig =
        toml::from_str("[keep_alive]\npolicy = \"fixed\"\nbucket = 5").expect("valid toml");
    let s = Settings::merge(over(), file).expect("valid");
    assert_eq!(s.keep_alive, ridge_engine::KeepAlive::Fixed);
    assert_eq!(s.keep_alive_bucket, Duration::from_secs(5));
    let paper: FileConfig =
        toml::from_str("[keep_alive]\npolicy = \"histogram\"").expect("valid toml");
    let s = Settings::merge(over(), paper).expect("valid");
    assert_eq!(s.keep_alive, ridge_engine::KeepAlive::Histogram);
    let zero: FileConfig = toml::from_str("[keep_alive]\nbucket = 0").expect("valid toml");
    let err = format!(
        "{:#}",
        Settings::merge(over(), zero).expect_err("zero bucket")
    );
    assert!(err.contains("bucket 0"), "{err}");
    assert!(toml::from_str::<FileConfig>("[keep_alive]\npolicy = \"learned\"").is_err());
}

#[test]
fn the_pasta_of_outbound_network_can_be_named() {
    let over = || Overrides {
        data_dir: Some("/d".into()),
        ..Overrides::default()
    };
    let s = Settings::merge(over(), FileConfig::default()).expect("valid");
    assert_eq!(s.sandbox.pasta, None);
    let file: FileConfig =
        toml::from_str("[sandbox]\npasta = \"/opt/passt/pasta\"").expect("valid toml");
    let s = Settings::merge(over(), file).expect("valid");
    assert_eq!(s.sandbox.pasta, Some(PathBuf::from("/opt/passt/pasta")));
}

#[test]
fn runtime_kinds_are_checked_at_start_up() {
    let over = || Overrides {
        data_dir: Some("/d".into()),
        ..Overrides::default()
    };
    let file: FileConfig = toml::from_str(
        "[[runtime_kinds]]\nname = \"shell\"\ncommand = [\"/bin/sh\", \"-c\", \"exit 0\"]",
    )
    .expect("valid toml");
    let s = Settings::merge(over(), file).expect("valid");
    assert_eq!(s.runtime_kinds.len(), 1);
    assert_eq!(s.runtime_kinds[0].name().as_str(), "shell");
    for (toml, expected) in [
        (
            "[[runtime_kinds]]\nname = \"perl\"\ncommand = [\"/nonexistent/perl\"]",
            "is not an executable file",
        ),
        (
            "[[runtime_kinds]]\nname = \"python3\"\ncommand = [\"/bin/sh\"]",
            "built-in kind",
        ),
        (
            "[[runtime_kinds]]\nname = \"sh\"\ncommand = [\"/bin/sh\"]\n\
             [[runtime_kinds]]\nname = \"sh\"\ncommand = [\"/bin/sh\"]",
            "declared twice",
        ),
    ] {
        let file: FileConfig = toml::from_str(toml).expect("valid toml");
        let err = format!("{:#}", Settings::merge(over(), file).expect_err(toml));
        assert!(err.contains(expected), "{err}");
    }
    assert!(toml::from_str::<FileConfig>("[[runtime_kinds]]\nname = \"x\"\ncmd = []").is_err());
}

#[test]
fn runtime_kinds_may_not_show_the_root_or_the_data_directory() {
    let data = tempfile::tempdir().expect("tempdir");
    let over = || Overrides {
        data_dir: Some(data.path().join("ridge")),
        ..Overrides::default()
    };
    let shown = data.path().display();
    for (read_only, expected) in [
        ("/".to_owned(), "the host's root directory"),
        (format!("{shown}"), "Ridge's data directory"),
    ] {
        let toml = format!(
            "[[runtime_kinds]]\nname = \"sh\"\ncommand = [\"/bin/sh\"]\nread_only = [\"{read_only}\"]"
        );
        let file: FileConfig = toml::from_str(&toml).expect("valid toml");
        let err = format!("{:#}", Settings::merge(over(), file).expect_err(&toml));
        assert!(err.contains(expected), "{err}");
        assert!(err.contains("runtime_kinds[0] (`sh`)"), "{err}");
    }
}

#[test]
fn the_worker_uids_exclude_root_and_fit_in_a_uid() {
    let over = || Overrides {
        data_dir: Some("/d".into()),
        ..Overrides::default()
    };
    let s = Settings::merge(over(), FileConfig::default()).expect("valid");
    assert_eq!(s.sandbox.uids, ridge_sandbox::UidRange::DEFAULT);
    let file: FileConfig =
        toml::from_str("[sandbox]\nuid = 200000\nuid_count = 100").expect("valid toml");
    let s = Settings::merge(over(), file).expect("valid");
    assert_eq!((s.sandbox.uids.first, s.sandbox.uids.count), (200_000, 100));
    let past: FileConfig =
        toml::from_str("[sandbox]\nuid = 4294967290\nuid_count = 100").expect("valid toml");
    let err = format!(
        "{:#}",
        Settings::merge(over(), past).expect_err("overflows")
    );
    assert!(err.contains("sandbox.uid_count"), "{err}");
}

#[test]
fn the_store_defaults_to_sqlite_in_the_data_dir_and_flags_win() {
    let over = |store: Option<&str>| Overrides {
        data_dir: Some("/d".into()),
        store: store.map(str::to_owned),
        ..Overrides::default()
    };
    let s = Settings::merge(over(None), FileConfig::default()).expect("valid");
    assert_eq!(s.store, ridge_store::StoreUrl::Sqlite("/d/ridge.db".into()));
    let file = || -> FileConfig {
        toml::from_str("[store]\nurl = \"postgres://ridge:pw@db/ridge\"").expect("valid toml")
    };
    let s = Settings::merge(over(None), file()).expect("valid");
    assert_eq!(s.store.redacted(), "postgres://ridge@db/ridge");
    let s = Settings::merge(over(Some("sqlite:///x/y.db")), file()).expect("valid");
    assert_eq!(s.store, ridge_store::StoreUrl::Sqlite("/x/y.db".into()));
    let err = Settings::merge(over(Some("mysql://u:pw@h/d")), FileConfig::default())
        .expect_err("unknown scheme");
    let err = format!("{err:#}");
    assert!(err.contains("postgres://") && !err.contains("pw@"), "{err}");
    assert!(toml::from_str::<FileConfig>("[store]\nuri = \"x\"").is_err());
}

#[test]
fn unknown_keys_are_errors() {
    let err = toml::from_str::<FileConfig>("lisen = \"x\"").expect_err("typo");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn bad_values_are_explained() {
    let over = Overrides {
        listen: Some("nope".into()),
        data_dir: Some("/d".into()),
        ..Overrides::default()
    };
    let err = Settings::merge(over, FileConfig::default()).expect_err("bad listen");
    assert!(
        err.to_string().contains("invalid listen address `nope`"),
        "{err}"
    );
    let file: FileConfig =
        toml::from_str("[resource_limits.timeout]\ndefault = 500\nmin = 1\nmax = 300")
            .expect("valid toml");
    let over = Overrides {
        data_dir: Some("/d".into()),
        ..Overrides::default()
    };
    assert!(Settings::merge(over, file).is_err());
}

/// The Debian package's `/etc/ridge/ridge.toml`.
const DEBIAN_CONFIG: &str = include_str!("../../../../deploy/debian/ridge.toml");

/// A commented-out setting or table (`#key = value`, `#[table]`): prose has a space after `#`.
fn is_setting(line: &str) -> bool {
    line.strip_prefix('#')
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c == '[' || c.is_ascii_lowercase())
}

/// The file with its settings uncommented: all of them, or only those that show a default
/// (not the paragraphs that give example values, which run from a line saying "Example" to the
/// next blank line).
fn uncommented(text: &str, examples: bool) -> String {
    let mut in_example = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            in_example = false;
        } else if line.starts_with("# ") && line.contains("Example") {
            in_example = true;
        }
        let shown = if is_setting(line) && (examples || !in_example) {
            &line[1..]
        } else {
            line
        };
        out.push_str(shown);
        out.push('\n');
    }
    out
}

/// The keys the file format accepts in the table at `path` of `doc`, as serde names them when
/// it refuses an unknown one there (every table of the format denies unknown fields).
fn accepted_keys(doc: &toml::Table, path: &[String]) -> Vec<String> {
    let mut probe = doc.clone();
    let mut table = &mut probe;
    for key in path {
        table = match table.get_mut(key) {
            Some(toml::Value::Table(t)) => t,
            Some(toml::Value::Array(a)) => match a.first_mut() {
                Some(toml::Value::Table(t)) => t,
                _ => panic!("`{key}` is not an array of tables"),
            },
            _ => panic!("`{key}` is not a table"),
        };
    }
    table.insert("zz_probe".to_owned(), toml::Value::Integer(0));
    let err = toml::from_str::<FileConfig>(&probe.to_string())
        .expect_err("an unknown key is refused")
        .to_string();
    let expected = err
        .split_once("expected")
        .unwrap_or_else(|| panic!("serde names the accepted keys: {err}"))
        .1;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Fails on the first key of the format that `doc` leaves unset, in any table.
fn assert_every_key_is_set(doc: &toml::Table, path: &mut Vec<String>) {
    for key in accepted_keys(doc, path) {
        let mut table = doc;
        for step in path.iter() {
            table = match &table[step] {
                toml::Value::Array(a) => a[0].as_table(),
                v => v.as_table(),
            }
            .expect("walked by accepted_keys");
        }
        let Some(value) = table.get(&key) else {
            panic!(
                "deploy/debian/ridge.toml does not show `{key}` in `[{}]`",
                path.join(".")
            );
        };
        let nested = match value {
            toml::Value::Table(_) => true,
            toml::Value::Array(a) => a.first().is_some_and(toml::Value::is_table),
            _ => false,
        };
        if nested {
            path.push(key);
            assert_every_key_is_set(doc, path);
            path.pop();
        }
    }
}

#[test]
fn the_debian_config_loads_lists_every_setting_and_shows_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let load = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    // As shipped, through the loader `ridge serve --config` uses.
    let shipped = Settings::resolve(Overrides {
        config: Some(load("ridge.toml", DEBIAN_CONFIG)),
        ..Overrides::default()
    })
    .expect("the shipped ridge.toml is valid");
    assert_eq!(shipped.data_dir, PathBuf::from("/var/lib/ridge"));

    // Every setting shown is a real key of the right type, and every key is shown: uncommented,
    // the file sets every key the format has, in every table (a new setting must be added).
    let all = uncommented(DEBIAN_CONFIG, true);
    FileConfig::load(&load("all.toml", &all)).expect("every setting, uncommented, is valid");
    let doc: toml::Table = toml::from_str(&all).expect("toml");
    assert_every_key_is_set(&doc, &mut Vec::new());

    // The values shown as defaults are the defaults: uncommenting them changes nothing.
    let defaults = Settings::resolve(Overrides {
        config: Some(load("defaults.toml", &uncommented(DEBIAN_CONFIG, false))),
        ..Overrides::default()
    })
    .expect("ridge.toml's defaults, uncommented, are valid");
    assert_eq!(format!("{defaults:?}"), format!("{shipped:?}"));
}

#[test]
fn python_workers_are_forked_unless_the_operator_says_no() {
    let merge = |text: &str| {
        let file: FileConfig = toml::from_str(text).expect("valid toml");
        Settings::merge(Overrides::default(), file).expect("valid")
    };
    assert!(merge("").python_zygote);
    assert!(!merge("python_zygote = false").python_zygote);
    assert!(toml::from_str::<FileConfig>("python_zygote = \"no\"").is_err());
}

#[test]
fn the_runtime_pool_sizes_are_bounded() {
    let merge = |text: &str| {
        let file: FileConfig = toml::from_str(text).expect("valid toml");
        Settings::merge(Overrides::default(), file)
    };
    let defaults = merge("").expect("valid");
    assert_eq!(defaults.prestart, ridge_engine::PrestartConfig::default());
    let set = merge("runtime_pool_size = 4\nmax_runtime_pool_size = 8").expect("valid");
    assert_eq!((set.prestart.default_size, set.prestart.max_size), (4, 8));
    let over = merge("runtime_pool_size = 9\nmax_runtime_pool_size = 8").expect_err("over");
    assert!(
        over.to_string().contains("invalid runtime_pool_size 9"),
        "{over}"
    );
    let huge = merge("max_runtime_pool_size = 257").expect_err("too large");
    assert!(huge.to_string().contains("at most 256"), "{huge}");
    assert!(toml::from_str::<FileConfig>("runtime_pool_size = -1").is_err());
}
