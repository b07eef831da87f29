//! `ModelStore`: spec resolution, listing and removal on a temporary home.

use crucible_model::{
    DEFAULT_MODEL, Error, HfParams, ModelHome, ModelSpec, ModelStore, PipFetcher,
};

use crate::support::{temp_dir, toy_gguf};

fn store(home: &ModelHome) -> ModelStore {
    let hf = HfParams {
        endpoint: "http://127.0.0.1:9".into(),
        token: None,
    };
    let fetcher = PipFetcher {
        python: "/nonexistent/python3".into(),
        find_links: None,
    };
    ModelStore::new(home.clone(), hf, Box::new(fetcher))
}

#[test]
fn no_model_yet_says_how_to_get_one() {
    let dir = temp_dir();
    let store = store(&ModelHome::new(dir.path()));
    let err = store.resolve(None, &mut |_| {}).unwrap_err();
    assert!(matches!(&err, Error::NotInstalled { name, .. } if name == DEFAULT_MODEL));
    assert!(err.to_string().starts_with(&format!(
        "model `{DEFAULT_MODEL}` is not installed (looked for `"
    )));
    assert_eq!(
        err.hint().unwrap(),
        format!(
            "run `crucible model pull {DEFAULT_MODEL}` to download it, or pass `--model PATH` to use a local GGUF file"
        )
    );
}

#[test]
fn specs_resolve_to_known_models_paths_and_installed_files() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let store = store(&home);
    std::fs::create_dir_all(home.models_dir()).unwrap();
    std::fs::write(home.model_path(DEFAULT_MODEL), toy_gguf(8)).unwrap();
    std::fs::write(home.model_path("my-model"), toy_gguf(8)).unwrap();

    let default = store.resolve(None, &mut |_| {}).unwrap();
    assert_eq!(default.name, DEFAULT_MODEL);
    assert_eq!(default.path, home.model_path(DEFAULT_MODEL));

    let mine = store.resolve(Some("my-model"), &mut |_| {}).unwrap();
    assert_eq!(mine.path, home.model_path("my-model"));

    let by_path = home.model_path("my-model").display().to_string();
    let resolved = store.resolve(Some(&by_path), &mut |_| {}).unwrap();
    assert_eq!(resolved.spec, ModelSpec::Path(home.model_path("my-model")));

    let missing = dir.path().join("nope.gguf");
    let err = store
        .resolve(Some(&missing.display().to_string()), &mut |_| {})
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("model file `{}` does not exist", missing.display())
    );

    let err = store
        .resolve(Some(&dir.path().display().to_string()), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, Error::IsDirectory { .. }), "{err}");

    let err = store.resolve(Some("llama-9000"), &mut |_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown model `llama-9000` (known models: `qwen2.5-coder-0.5b-instruct`, `qwen2.5-coder-1.5b-instruct`)"
    );

    let err = store
        .resolve(Some("hf:acme/model.gguf"), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, Error::InvalidHfRef { .. }), "{err}");
}

#[test]
fn list_shows_known_models_other_files_and_hf_downloads() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let store = store(&home);

    let empty = store.list().unwrap();
    let rows: Vec<(&str, bool, bool)> = empty
        .iter()
        .map(|e| (e.name.as_str(), e.installed, e.is_default))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("qwen2.5-coder-0.5b-instruct", false, true),
            ("qwen2.5-coder-1.5b-instruct", false, false)
        ]
    );

    std::fs::create_dir_all(home.hf_dir().join("acme/coder/v2/sub")).unwrap();
    std::fs::write(home.hf_dir().join("acme/coder/v2/sub/m.gguf"), b"12345").unwrap();
    std::fs::write(
        home.hf_dir().join("acme/coder/v2/sub/.m2.gguf.partial"),
        b"1",
    )
    .unwrap();
    std::fs::write(home.model_path("mine"), b"123").unwrap();
    std::fs::write(home.models_dir().join(".mine2.gguf.partial-1"), b"1").unwrap();
    std::fs::write(home.model_path(DEFAULT_MODEL), b"1234").unwrap();
    let listed = store.list().unwrap();
    let rows: Vec<(&str, bool, Option<u64>)> = listed
        .iter()
        .map(|e| (e.name.as_str(), e.installed, e.size))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("qwen2.5-coder-0.5b-instruct", true, Some(4)),
            ("qwen2.5-coder-1.5b-instruct", false, None),
            ("mine", true, Some(3)),
            ("hf:acme/coder@v2/sub/m.gguf", true, Some(5)),
        ]
    );
}

#[test]
fn rm_removes_installed_models_and_refuses_others() {
    let dir = temp_dir();
    let home = ModelHome::new(dir.path());
    let store = store(&home);

    let err = store.remove(DEFAULT_MODEL).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "model `{DEFAULT_MODEL}` is not installed, so there is nothing to remove"
        )),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("crucible model list"));

    std::fs::create_dir_all(home.models_dir()).unwrap();
    let path = home.model_path(DEFAULT_MODEL);
    std::fs::write(&path, b"x").unwrap();
    let stamp = home
        .models_dir()
        .join(format!(".{DEFAULT_MODEL}.gguf.verified"));
    std::fs::write(&stamp, b"x").unwrap();
    assert_eq!(store.remove(DEFAULT_MODEL).unwrap(), path);
    assert!(!path.exists() && !stamp.exists());

    std::fs::create_dir_all(home.hf_dir().join("acme/coder/main")).unwrap();
    let cached = home.hf_dir().join("acme/coder/main/m.gguf");
    std::fs::write(&cached, b"x").unwrap();
    assert_eq!(store.remove("hf:acme/coder/m.gguf").unwrap(), cached);
    assert!(!cached.exists());

    let err = store.remove("../../etc/passwd").unwrap_err();
    assert!(matches!(err, Error::UnknownModel { .. }), "{err}");
}
