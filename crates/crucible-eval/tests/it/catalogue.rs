//! The catalogue against the shared data folder: every file passes its own checksum, and the
//! CodeNet parse of the shipped upstream files gives the shipped records byte for byte.

use crucible_eval::catalog::{CODENET_UPSTREAM, Checked, DATASETS};
use crucible_eval::fetch;

fn shared_data() -> std::path::PathBuf {
    crate::data_dirs()
        .primary
        .expect("the shared data folder (set CRUCIBLE_DATA)")
}

#[test]
fn every_shared_file_passes_its_catalogue_checksum() {
    let data = shared_data();
    let mut by_content = 0;
    for file in DATASETS.iter().flat_map(|set| set.files) {
        let path = data.join(file.relative);
        let bytes = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        assert_eq!(bytes.len() as u64, file.bytes, "{}", file.relative);
        fetch::verify(&bytes, file, &path.display().to_string()).unwrap();
        if file.checked() == Checked::Gunzipped {
            by_content += 1;
            // A recompressed copy (as `data pull` makes from upstream) passes too.
            let content = fetch::gunzip(&bytes).unwrap();
            fetch::verify(&fetch::gzip(&content), file, "recompressed").unwrap();
        }
    }
    assert_eq!(by_content, 7, "MBPP x2, MBPP+, MultiPL-E x2, APPS, CodeNet");
    for upstream in &CODENET_UPSTREAM {
        let name = upstream.path.rsplit('/').next().unwrap();
        let bytes = std::fs::read(data.join("codenet").join(name)).unwrap();
        fetch::verify_upstream(&bytes, upstream, name).unwrap();
    }
}

#[test]
fn the_codenet_parse_of_the_upstream_files_is_the_shipped_file() {
    let data = shared_data().join("codenet");
    let tarball = std::fs::read(data.join("problem_descriptions.tar.gz")).unwrap();
    let list = std::fs::read(data.join("problem_list.csv")).unwrap();
    let built = crucible_eval::codenet::build(&tarball, &list).unwrap();
    let shipped =
        fetch::gunzip(&std::fs::read(data.join("codenet_problems.jsonl.gz")).unwrap()).unwrap();
    if built != shipped {
        let built = String::from_utf8_lossy(&built);
        let shipped = String::from_utf8_lossy(&shipped);
        let differing: Vec<&str> = built
            .lines()
            .zip(shipped.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.get(..24).unwrap_or(a))
            .take(5)
            .collect();
        panic!(
            "{} built lines vs {} shipped; first differing: {differing:?}",
            built.lines().count(),
            shipped.lines().count()
        );
    }
}
