//! The README's one-command install of the Python package (`pip install
//! ./python`, maturin as the build backend) into a fresh virtual
//! environment, and a job with the installed package. The build is the dev
//! profile in the workspace's target directory, so it reuses what the
//! workspace build compiled. Skipped, saying why, only when there is no
//! python3 with venv, or maturin cannot be installed from the package index.

use spindle_tests::{bin_dir, text};
use std::path::Path;
use std::process::Command;

#[test]
fn readme_install_command_builds_a_working_package() {
    let dir = tempfile::Builder::new()
        .prefix("spindle-pyinstall-")
        .tempdir()
        .expect("tempdir");
    let venv = dir.path().join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED: python3 cannot make a virtual environment (apt-get install python3-venv)"
        );
        return;
    }
    let python = venv.join("bin/python");
    let tools = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "maturin>=1.5,<2",
            "cloudpickle",
        ])
        .output()
        .expect("run pip");
    if !tools.status.success() {
        eprintln!(
            "SKIPPED: maturin cannot be installed from the package index:\n{}",
            text(&tools)
        );
        return;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("python");
    let target = bin_dir().parent().expect("target dir").to_path_buf();
    let install = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--no-build-isolation"])
        .arg(&source)
        .env("CARGO_TARGET_DIR", &target)
        .env("MATURIN_PEP517_ARGS", "--profile dev")
        .output()
        .expect("run pip install ./python");
    assert!(
        install.status.success(),
        "pip install ./python failed:\n{}",
        text(&install)
    );
    // Run from the temp dir: the source tree's package must not be what imports.
    let run = Command::new(&python)
        .current_dir(dir.path())
        .args([
            "-c",
            "import spindle\n\
             from spindle import SparkSession\n\
             assert 'site-packages' in spindle.__file__, spindle.__file__\n\
             s = SparkSession.builder.master('local[2]').getOrCreate()\n\
             print('sum', s.sparkContext.range(0, 1000).map(lambda x: x * 2).sum())\n\
             s.stop()\n",
        ])
        .output()
        .expect("run the installed package");
    let out = text(&run);
    assert!(run.status.success(), "the installed package failed:\n{out}");
    assert!(out.contains("sum 999000"), "{out}");
}
