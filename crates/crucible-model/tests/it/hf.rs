//! `hf:` downloads against a loopback server with the hub's `resolve` layout: success, cache,
//! auth, 404, truncation and resumption, checksum and non-GGUF bodies.

use crucible_model::{Error, HfParams, HfRef, ModelHome, fetch_hf_model};

use crate::support::{FakeHub, Route, sha256_hex, temp_dir, toy_gguf};

fn params(hub: &FakeHub, token: Option<&str>) -> HfParams {
    HfParams {
        endpoint: hub.endpoint.clone(),
        token: token.map(str::to_owned),
    }
}

fn fetch(
    home: &ModelHome,
    hub: &FakeHub,
    spec: &str,
    token: Option<&str>,
) -> crucible_model::Result<std::path::PathBuf> {
    let hf_ref = HfRef::parse(spec).unwrap();
    fetch_hf_model(home, &hf_ref, &params(hub, token), &mut |_| {})
}

#[test]
fn downloads_verifies_and_caches() {
    let body = toy_gguf(1000);
    let route = Route::File {
        body: body.clone(),
        etag: Some(sha256_hex(&body)),
    };
    let hub = FakeHub::start(vec![("/acme/coder/resolve/v2/sub/model.gguf", route)], 4);
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());

    let path = fetch(&home, &hub, "hf:acme/coder@v2/sub/model.gguf", None).unwrap();
    assert_eq!(
        path,
        dir.path().join("models/hf/acme/coder/v2/sub/model.gguf")
    );
    assert_eq!(std::fs::read(&path).unwrap(), body);
    let partials: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(partials, vec!["model.gguf"]);

    // Cached: no second request.
    fetch(&home, &hub, "hf:acme/coder@v2/sub/model.gguf", None).unwrap();
    let seen = hub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/acme/coder/resolve/v2/sub/model.gguf");
    assert_eq!(seen[0].headers.get("authorization"), None);
    assert_eq!(seen[0].headers.get("range"), None);
}

#[test]
fn sends_the_token_and_explains_401_and_404() {
    let body = toy_gguf(10);
    let route = Route::Private {
        body: body.clone(),
        token: "secret".into(),
    };
    let hub = FakeHub::start(vec![("/acme/private/resolve/main/model.gguf", route)], 4);
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());

    let err = fetch(&home, &hub, "hf:acme/private/model.gguf", None).unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 401, .. }),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("HF_TOKEN"));

    let path = fetch(&home, &hub, "hf:acme/private/model.gguf", Some("secret")).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert_eq!(
        hub.seen()[1]
            .headers
            .get("authorization")
            .map(String::as_str),
        Some("Bearer secret")
    );

    let err = fetch(&home, &hub, "hf:acme/private/missing.gguf", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GET `{}/acme/private/resolve/main/missing.gguf` returned HTTP 404",
            hub.endpoint
        )
    );
    assert!(
        err.hint()
            .unwrap()
            .contains("/ORG/REPO/resolve/REVISION/FILE")
    );
    assert!(
        !home
            .hf_dir()
            .join("acme/private/main/missing.gguf")
            .exists()
    );
}

#[test]
fn a_truncated_download_fails_then_resumes() {
    let body = toy_gguf(50_000);
    let half = body.len() / 2;
    let route = Route::Cut {
        body: body.clone(),
        send: half,
        times: 1,
    };
    let hub = FakeHub::start(vec![("/acme/coder/resolve/main/big.gguf", route)], 4);
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());

    let err = fetch(&home, &hub, "hf:acme/coder/big.gguf", None).unwrap_err();
    assert!(
        matches!(err, Error::DownloadTruncated { received, expected, .. } if received == half as u64 && expected == body.len() as u64),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("resume"));
    let final_path = home.hf_dir().join("acme/coder/main/big.gguf");
    assert!(
        !final_path.exists(),
        "a truncated download must not look complete"
    );
    let partial = home.hf_dir().join("acme/coder/main/.big.gguf.partial");
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), half as u64);

    let mut resumed_from = None;
    let hf_ref = HfRef::parse("hf:acme/coder/big.gguf").unwrap();
    let path = fetch_hf_model(&home, &hf_ref, &params(&hub, None), &mut |event| {
        if let crucible_model::PullEvent::Resuming { from } = event {
            resumed_from = Some(*from);
        }
    })
    .unwrap();
    assert_eq!(resumed_from, Some(half as u64));
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert_eq!(
        hub.seen()[1].headers.get("range"),
        Some(&format!("bytes={half}-"))
    );
    assert!(!partial.exists());
}

#[test]
fn a_wrong_checksum_or_a_non_gguf_body_is_refused() {
    let body = toy_gguf(100);
    let wrong = Route::File {
        body: body.clone(),
        etag: Some("ab".repeat(32)),
    };
    let html = Route::File {
        body: b"<!doctype html><p>Sign in to continue</p>".to_vec(),
        etag: None,
    };
    let cut_gguf = Route::File {
        body: body[..body.len() - 40].to_vec(),
        etag: None,
    };
    let hub = FakeHub::start(
        vec![
            ("/acme/coder/resolve/main/wrong.gguf", wrong),
            ("/acme/coder/resolve/main/login.gguf", html),
            ("/acme/coder/resolve/main/cut.gguf", cut_gguf),
        ],
        6,
    );
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());

    let err = fetch(&home, &hub, "hf:acme/coder/wrong.gguf", None).unwrap_err();
    assert!(matches!(err, Error::ShaMismatch { .. }), "{err}");

    let err = fetch(&home, &hub, "hf:acme/coder/login.gguf", None).unwrap_err();
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(chain.contains("is not a valid GGUF model"), "{chain}");

    let err = fetch(&home, &hub, "hf:acme/coder/cut.gguf", None).unwrap_err();
    assert!(
        matches!(&err, Error::Gguf(inner) if inner.is_truncated()),
        "{err}"
    );

    let left: Vec<_> = std::fs::read_dir(home.hf_dir().join("acme/coder/main"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_unreachable_hub_is_a_transport_error() {
    // Bind then drop a listener to get a loopback port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let params = HfParams {
        endpoint: format!("http://127.0.0.1:{port}"),
        token: None,
    };
    let hf_ref = HfRef::parse("hf:acme/coder/x.gguf").unwrap();
    let err = fetch_hf_model(&home, &hf_ref, &params, &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::HttpTransport { .. }), "{err}");
    assert!(err.hint().unwrap().contains("HF_ENDPOINT"));
}

#[test]
fn a_download_in_progress_elsewhere_is_reported_not_joined() {
    let body = toy_gguf(1000);
    let route = Route::File {
        body: body.clone(),
        etag: Some(sha256_hex(&body)),
    };
    let hub = FakeHub::start(vec![("/acme/coder/resolve/main/model.gguf", route)], 4);
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    // Another download holds the partial file's lock.
    let partial = dir
        .path()
        .join("models/hf/acme/coder/main/.model.gguf.partial");
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    let other = std::fs::File::create(&partial).unwrap();
    other.lock().unwrap();
    let err = fetch(&home, &hub, "hf:acme/coder/model.gguf", None).unwrap_err();
    assert!(matches!(err, Error::DownloadInProgress { .. }), "{err}");
    assert!(hub.seen().is_empty(), "nothing was requested");
    // Once it is gone, the download goes ahead.
    drop(other);
    let path = fetch(&home, &hub, "hf:acme/coder/model.gguf", None).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), body);
}
