//! Reading Spark properties from files and layering them, later layers winning: the
//! built-in defaults < `$SPINDLE_CONF_DIR/spindle-defaults.conf` < `--properties-file` <
//! `--conf` (the dedicated flags then go on top, as spark-submit does).

use am_core::sparkconf::{SparkConf, SparkConfError};
use std::path::{Path, PathBuf};

/// Loads a spark-defaults.conf-format file.
pub fn load_file(path: &Path) -> Result<SparkConf, SparkConfError> {
    let text = std::fs::read_to_string(path).map_err(|e| SparkConfError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    SparkConf::parse(&text, path)
}

/// `conf_dir/spindle-defaults.conf`.
pub fn defaults_file(conf_dir: &Path) -> PathBuf {
    conf_dir.join(common::clientconf::DEFAULTS_FILE)
}

/// The layers in precedence order, later winning: [`SparkConf::builtin_defaults`] <
/// `conf_dir/spindle-defaults.conf` (skipped when `conf_dir` is `None` or the file does not
/// exist) < `properties_file` (must exist) < `overrides` (`--conf`, in order).
pub fn load_layered(
    conf_dir: Option<&Path>,
    properties_file: Option<&Path>,
    overrides: &[(String, String)],
) -> Result<SparkConf, SparkConfError> {
    let mut conf = SparkConf::builtin_defaults();
    if let Some(dir) = conf_dir {
        let path = defaults_file(dir);
        if path.exists() {
            conf.merge(&load_file(&path)?);
        }
    }
    if let Some(path) = properties_file {
        conf.merge(&load_file(path)?);
    }
    for (k, v) in overrides {
        conf.set(k.clone(), v.clone());
    }
    Ok(conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_later_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            defaults_file(dir.path()),
            "spark.executor.memory 2g\nspark.executor.cores 2\nspark.yarn.queue fromdefaults\n\
             spark.master spindle://defaults:1\n",
        )
        .unwrap();
        let props = dir.path().join("my.conf");
        std::fs::write(&props, "spark.executor.cores=3\nspark.task.cpus 1\n").unwrap();
        let c = load_layered(
            Some(dir.path()),
            Some(&props),
            &[("spark.task.cpus".into(), "3".into())],
        )
        .unwrap();
        assert_eq!(c.get("spark.executor.memory"), Some("2g"));
        assert_eq!(c.get("spark.executor.cores"), Some("3"));
        assert_eq!(c.get("spark.task.cpus"), Some("3"));
        assert_eq!(c.queue(), "fromdefaults");
        assert_eq!(c.master(), "spindle://defaults:1");
        assert_eq!(c.deploy_mode(), "cluster");
        // No defaults file, no properties file: just the built-in layer.
        let empty = tempfile::tempdir().unwrap();
        let c = load_layered(Some(empty.path()), None, &[]).unwrap();
        assert_eq!(c, SparkConf::builtin_defaults());
        // A named properties file must exist.
        let e = load_layered(None, Some(&empty.path().join("nope")), &[]).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
