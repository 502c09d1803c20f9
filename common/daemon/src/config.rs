//! A daemon's configuration file as the runtime uses it: load and validate
//! at start and on SIGHUP, compare, and read the log level. The file format
//! itself (one-line errors naming file, key and reason) is
//! [`common::configfile`].

use common::configfile::{self, ConfigError};
use common::tls::TlsFiles;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::path::Path;

/// Why a configuration is refused: the key at fault and the reason.
pub type Invalid = (&'static str, String);

/// A daemon's configuration: TOML with a default for every key.
pub trait DaemonConfig: Serialize + DeserializeOwned + Default {
    /// The keys every daemon has: `log-level`, a tracing filter ([`check_log_level`]
    /// checks it), and `keep-alive-interval` and `idle-timeout`, how fast the daemon's
    /// connections notice a dead peer (set process-wide at start).
    fn basics(&self) -> (&str, common::transport::Liveness);

    /// Checks what the types cannot (ranges, addresses, readable files).
    fn check(&self) -> Result<(), Invalid>;

    /// The `log-level` key.
    fn log_level(&self) -> &str {
        self.basics().0
    }

    /// The `keep-alive-interval` and `idle-timeout` keys.
    fn liveness(&self) -> common::transport::Liveness {
        self.basics().1
    }

    /// [`Self::check`], the error naming `path` too.
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.check().map_err(|(key, reason)| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            reason,
        })
    }

    /// Reads, parses and validates `path`.
    fn load(path: &Path) -> Result<Self, ConfigError> {
        let c: Self = configfile::load(path)?;
        c.validate(path)?;
        Ok(c)
    }

    /// Parses `text` (the contents of `path`) without validating it; every
    /// error is one line naming the file, the key and the reason.
    fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        configfile::parse(path, text)
    }

    /// Every key with its default value, as the file would spell it.
    fn default_table() -> toml::Table {
        configfile::default_table::<Self>()
    }

    /// Keys whose values differ between two configurations.
    fn changed_keys(&self, other: &Self) -> Vec<String> {
        configfile::changed_keys(self, other)
    }
}

/// Checks a `log-level` value: is it a tracing filter?
pub fn check_log_level(level: &str) -> Result<(), Invalid> {
    // Directives are ASCII (targets, levels, span and field names); tracing-subscriber's
    // parser panics on some multi-byte input instead of refusing it (found by fuzzing).
    if let Some(c) = level.chars().find(|c| !c.is_ascii()) {
        return Err((
            "log-level",
            format!("{level:?} is not a tracing filter: {c:?} is not ASCII"),
        ));
    }
    // A field filter (`target[span{field=value}]=level`) makes each value a regular
    // expression; a pathological one took tracing-subscriber longer than the fuzzer's
    // 10 s to compile (found by fuzzing). Daemons log by target and level only.
    if level.contains(['{', '}']) {
        return Err((
            "log-level",
            format!("{level:?}: field filters (`{{field=value}}`) are not accepted; give targets and levels, e.g. \"info,spindle_common=debug\""),
        ));
    }
    match tracing_subscriber::EnvFilter::try_new(level) {
        Ok(_) => Ok(()),
        Err(e) => Err((
            "log-level",
            format!("{level:?} is not a tracing filter: {e}"),
        )),
    }
}

/// Checks that the cluster CA, certificate and key files (the keys `ca`,
/// `cert` and `key`) can be read.
pub fn check_tls_files(files: &TlsFiles) -> Result<(), Invalid> {
    for (key, p) in [
        ("ca", &files.ca),
        ("cert", &files.cert),
        ("key", &files.key),
    ] {
        configfile::readable_file(p).map_err(|reason| (key, reason))?;
    }
    Ok(())
}

/// Checks an `admin-acl` value: user names (the POSIX portable set) or `*` (everyone).
pub fn check_admin_acl(users: &[String]) -> Result<(), Invalid> {
    for u in users.iter().filter(|u| *u != "*") {
        common::identity::check_user_name(u).map_err(|e| ("admin-acl", e.to_string()))?;
    }
    Ok(())
}

/// The drift test of a daemon's commented config template, `name` in this
/// repository's `deploy/conf/` (e.g. `nodemanager.toml`): as shipped (all
/// commented out) it means the defaults, and it lists every key, each with
/// its default value and a description line above it. Panics with what
/// drifted.
pub fn assert_template_documents<C: DaemonConfig + PartialEq + Debug>(name: &str) {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/conf");
    assert_template_at::<C>(&conf.join(name));
}

fn assert_template_at<C: DaemonConfig + PartialEq + Debug>(template: &Path) {
    let text =
        std::fs::read_to_string(template).unwrap_or_else(|e| panic!("{}: {e}", template.display()));
    let parsed = C::parse(Path::new("template"), &text).unwrap();
    assert_eq!(parsed, C::default());
    let listed = template_keys(&text);
    let defaults = C::default_table();
    let names = |t: &toml::Table| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&listed), names(&defaults), "template keys drifted");
    assert_eq!(listed, defaults, "template defaults drifted");
    let lines: Vec<&str> = text.lines().collect();
    for key in defaults.keys() {
        let i = lines
            .iter()
            .position(|l| l.starts_with(&format!("# {key} = ")))
            .unwrap();
        assert!(
            i > 0 && lines[i - 1].starts_with("# ") && !lines[i - 1].contains(" = "),
            "{key} has no description above it"
        );
    }
}

/// What every daemon's config file must do: the template documents each key with its
/// default ([`assert_template_documents`]), and bad keys are refused
/// ([`assert_refuses_bad_keys`]).
pub fn assert_config_basics<C: DaemonConfig + PartialEq + Debug>(
    template: &str,
    path: &str,
    number: &str,
    duration: &str,
) {
    assert_template_documents::<C>(template);
    assert_refuses_bad_keys::<C>(path, number, duration);
}

/// The refusals every daemon's config makes, each one line naming the file and the key:
/// an unknown key, a string for the number key `number`, a bad duration for `duration`.
pub fn assert_refuses_bad_keys<C: DaemonConfig + Debug>(path: &str, number: &str, duration: &str) {
    assert_refused::<C>(
        path,
        "address = \"a:1\"\nbogus = 1\n",
        &format!("{path}: key `bogus`: unknown key"),
    );
    assert_refused::<C>(
        path,
        &format!("{number} = \"lots\"\n"),
        &format!("key `{number}` (line 1): invalid type: string \"lots\""),
    );
    assert_refused::<C>(
        path,
        &format!("{duration} = \"3x\"\n"),
        &format!("key `{duration}`"),
    );
}

/// Parses `text` as the contents of `path` and asserts that it is refused
/// with one line that starts with the path and contains `expected` (the key
/// and the reason).
pub fn assert_refused<C: DaemonConfig + Debug>(path: &str, text: &str, expected: &str) {
    let e = C::parse(Path::new(path), text).unwrap_err().to_string();
    assert!(e.starts_with(path) && e.contains(expected), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

/// The template's `# key = value` lines, uncommented.
fn template_keys(text: &str) -> toml::Table {
    let body: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    body.parse().expect("template values are TOML")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::Deserialize;

    /// A small daemon configuration.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
    pub(crate) struct Conf {
        pub(crate) log_level: String,
        pub(crate) max_things: u32,
    }

    impl Default for Conf {
        fn default() -> Self {
            Self {
                log_level: "info".into(),
                max_things: 3,
            }
        }
    }

    impl DaemonConfig for Conf {
        fn basics(&self) -> (&str, common::transport::Liveness) {
            (&self.log_level, Default::default())
        }

        fn check(&self) -> Result<(), Invalid> {
            check_log_level(&self.log_level)
        }
    }

    #[test]
    fn load_validates_and_changed_keys_compares() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        std::fs::write(&p, "max-things = 5\n").unwrap();
        let c = Conf::load(&p).unwrap();
        assert_eq!(c.max_things, 5);
        assert_eq!(Conf::default().changed_keys(&c), vec!["max-things"]);
        std::fs::write(&p, "log-level = \"[\"\n").unwrap();
        let e = Conf::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("key `log-level`: \"[\" is not a tracing filter"),
            "{e}"
        );
    }

    #[test]
    fn a_non_ascii_log_level_is_refused_not_a_panic() {
        // The fuzzer's find: this value made tracing-subscriber's parser slice inside a
        // multi-byte character and panic.
        let level = "2detect-\t\t\t,\t\t\t\t\t\t\t\u{755}l#`l  =0#al=0\u{755}ntail =00\u{755}web-addliil\u{755}liilall al =0\u{755}ntai=0\u{755}\t\t\t\t\t\t\t,\t\tpm\t\t(07/";
        let e = check_log_level(level).unwrap_err();
        assert_eq!(e.0, "log-level");
        assert!(e.1.contains("is not ASCII"), "{}", e.1);
    }

    #[test]
    fn a_log_level_with_field_filters_is_refused_before_it_is_compiled() {
        // The fuzzer's find: its field value is a regular expression that took longer
        // than 10 s to compile.
        let level = format!(
            "2dete[t/muuuujjnjjjjjju {{-s \"6 \"re= \"\"\"\"\"{}*ddd{}{}\"\"}}u5/",
            "d".repeat(40),
            ".".repeat(100),
            "d".repeat(100)
        );
        let e = check_log_level(&level).unwrap_err();
        assert_eq!(e.0, "log-level");
        assert!(e.1.contains("field filters"), "{}", e.1);
        assert!(check_log_level("info,spindle_common=debug").is_ok());
        assert!(check_log_level("warn,[conn]=debug").is_ok());
    }

    #[test]
    fn template_check_accepts_a_documented_template_and_finds_drift() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.toml");
        let good = "# The log level.\n# log-level = \"info\"\n\n# How many.\n# max-things = 3\n";
        std::fs::write(&p, good).unwrap();
        assert_template_at::<Conf>(&p);
        for bad in [
            good.replace("max-things = 3", "max-things = 4"),
            good.replace("# How many.\n", ""),
            good.replace("# max-things = 3\n", ""),
        ] {
            std::fs::write(&p, bad).unwrap();
            let r = std::panic::catch_unwind(|| assert_template_at::<Conf>(&p));
            assert!(r.is_err());
        }
    }
}
