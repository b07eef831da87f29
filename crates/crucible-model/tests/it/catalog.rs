//! The catalogue: `pull NAME` of a hub GGUF downloads it from a loopback server with the hub's
//! `resolve` layout (a small stand-in file) and `--model NAME` then finds it; an endpoint-only
//! model is a clear error.

use crucible_model::{
    CATALOG, Error, HfParams, ModelHome, ModelStore, PipFetcher, PullOutcome, Runtime,
};

use crate::support::{FakeHub, Route, sha256_hex, temp_dir, toy_gguf};

fn store(home: &ModelHome, endpoint: &str) -> ModelStore {
    let hf = HfParams {
        endpoint: endpoint.into(),
        token: None,
    };
    let fetcher = PipFetcher {
        python: "/nonexistent/python3".into(),
        find_links: None,
    };
    ModelStore::new(home.clone(), hf, Box::new(fetcher))
}

#[test]
fn every_hub_gguf_is_pulled_by_name_from_a_loopback_hub() {
    let hub_entries: Vec<_> = CATALOG.iter().filter(|e| e.hf_ref().is_some()).collect();
    assert!(hub_entries.len() >= 10, "{}", hub_entries.len());
    let body = toy_gguf(64);
    let paths: Vec<String> = hub_entries
        .iter()
        .map(|entry| {
            let hf_ref = entry.hf_ref().unwrap();
            format!(
                "/{}/{}/resolve/{}/{}",
                hf_ref.org, hf_ref.repo, hf_ref.revision, hf_ref.file
            )
        })
        .collect();
    let routes = paths
        .iter()
        .map(|path| {
            let route = Route::File {
                body: body.clone(),
                etag: Some(sha256_hex(&body)),
            };
            (path.as_str(), route)
        })
        .collect();
    let hub = FakeHub::start(routes, hub_entries.len() + 4);
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let store = store(&home, &hub.endpoint);
    for entry in &hub_entries {
        let outcome = store.pull(Some(entry.name), &mut |_| {}).unwrap();
        let PullOutcome::Installed { path } = outcome else {
            panic!("{}: {outcome:?}", entry.name)
        };
        assert_eq!(std::fs::read(&path).unwrap(), body, "{}", entry.name);
        let resolved = store.resolve(Some(entry.name), &mut |_| {}).unwrap();
        assert_eq!(resolved.path, path);
        assert!(matches!(
            store.pull(Some(entry.name), &mut |_| {}).unwrap(),
            PullOutcome::AlreadyInstalled { .. }
        ));
    }
    assert_eq!(hub.seen().len(), hub_entries.len(), "one request per model");
}

#[test]
fn endpoint_models_say_how_to_run_them() {
    let entry = CATALOG
        .iter()
        .find(|e| matches!(e.runtime, Runtime::Endpoint(_)))
        .unwrap();
    let dir = temp_dir();
    let store = store(&ModelHome::new(dir.path()), "http://127.0.0.1:9");
    let err = store.pull(Some(entry.name), &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::EndpointOnly { .. }), "{err}");
    assert!(
        err.to_string().contains("runs through an endpoint"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("--endpoint"));
    let err = store.resolve(Some(entry.name), &mut |_| {}).unwrap_err();
    assert!(matches!(err, Error::EndpointOnly { .. }), "{err}");
}
