//! Compatibility with the official `openai` Python client, against the real default model:
//! models, chat (whole and streamed, with usage), completions, fill-in-the-middle, errors.
//!
//! The test makes a virtual environment under the target directory and installs `openai` into
//! it with pip (once; later runs reuse it). It needs the default model (`scripts/test.sh` pulls
//! it), python3 with venv (`scripts/setup.sh` installs it) and a reachable package index for
//! the first run; without any of them it fails and says which is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crucible_core::{ConfigFile, Settings, backend};
use crucible_server::{ApiKey, GeneratorFactory, ServerConfig};

/// The `openai` versions the script is written for.
const OPENAI: &str = "openai>=1.40,<3";

fn default_model() -> PathBuf {
    let home = std::env::var_os("CRUCIBLE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("crucible")))
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share/crucible")
        });
    let path = home.join("models/qwen2.5-coder-0.5b-instruct.gguf");
    assert!(
        path.is_file(),
        "the default model is not installed at {}; run `crucible model pull` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A venv with `openai` installed; its python.
fn venv_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openai-venv");
    let python = venv.join("bin/python");
    let marker = venv.join(".openai-installed");
    if marker.is_file() {
        return python;
    }
    let made = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status();
    match made {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "`python3 -m venv` failed ({status}); install python3-venv (scripts/setup.sh does)"
        ),
        Err(err) => panic!("python3 is missing ({err}); install it (scripts/setup.sh does)"),
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", OPENAI])
        .status()
        .expect("the venv's python runs");
    assert!(
        installed.success(),
        "`pip install '{OPENAI}'` failed ({installed}); the first run needs the package index"
    );
    std::fs::write(&marker, OPENAI).unwrap();
    python
}

#[test]
fn the_official_openai_client_works_against_the_default_model() {
    default_model();
    let python = venv_python();
    let settings = Settings::resolve(ConfigFile {
        threads: Some(2),
        context_length: Some(2048),
        ..ConfigFile::default()
    })
    .expect("settings resolve");
    let loader =
        backend::prepare_for_serving(&settings, &mut |_| {}).expect("the default model resolves");
    let factory: GeneratorFactory = Box::new(move || loader().map_err(|err| err.to_string()));
    let mut config = ServerConfig::new();
    config.max_batch = 2;
    config.api_key = ApiKey::new("sk-openai-test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(crucible_server::serve(
        listener,
        config,
        factory,
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let health = ureq::get(&format!("http://{addr}/health")).call();
        if health.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline && !server.is_finished(),
            "the server did not become ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py");
    let output = Command::new(&python)
        .arg(&script)
        .env("OPENAI_BASE_URL", format!("http://{addr}/v1"))
        .env("OPENAI_API_KEY", "sk-openai-test")
        .output()
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let _ = stop.send(());
    runtime.block_on(server).unwrap().unwrap();
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "the openai client script failed:\n{stdout}\n{stderr}"
    );
}
