//! The embedding model for real (feature `embed`): all-MiniLM-L6-v2 as
//! `scripts/embedding-model.sh` installs it under `CRUCIBLE_HOME`. Its vectors are checked
//! against an independent implementation's (`bench/embeddings/reference.py`), related code and
//! text against unrelated, and hybrid search and incremental embedding on the fixture
//! repository.
//!
//! Without the model these tests fail with the command that installs it, rather than passing
//! without having checked anything.

use std::path::PathBuf;
use std::sync::OnceLock;

use crucible_index::Filters;
use crucible_index::embed::{Embedder, cosine};

use crate::Repo;

/// The model, loaded once for the tests of this binary.
fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        let dir = crucible_home().join("models/all-minilm-l6-v2");
        assert!(
            dir.join("model.safetensors").is_file(),
            "the embedding model all-MiniLM-L6-v2 is not installed at {}; run scripts/embedding-model.sh (scripts/setup.sh does)",
            dir.display()
        );
        Embedder::load(&dir).unwrap()
    })
}

/// `CRUCIBLE_HOME`, or its XDG default.
fn crucible_home() -> PathBuf {
    std::env::var_os("CRUCIBLE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("crucible")))
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share/crucible")
        })
}

#[test]
fn vectors_match_an_independent_implementation_of_the_model() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/embeddings/reference.json");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let sentences = reference["sentences"].as_array().unwrap();
    assert_eq!(sentences.len(), 3);
    let texts: Vec<&str> = sentences
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    // Together (padded to the longest) and one at a time: padding must change nothing.
    let together = embedder().embed(&texts).unwrap();
    for (at, sentence) in sentences.iter().enumerate() {
        let expected: Vec<f32> = sentence["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let alone = embedder().embed(&[texts[at]]).unwrap().pop().unwrap();
        assert_eq!(alone.len(), 384);
        for vector in [&alone, &together[at]] {
            let worst = vector
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{:?}: max difference {worst}", texts[at]);
            let norm: f32 = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "unit length: {norm}");
        }
    }
}

#[test]
fn related_code_and_text_are_closer_than_unrelated() {
    // Each description with the code it describes; every other code is unrelated to it.
    let pairs = [
        (
            "parse a raw HTTP request into method, path and headers",
            "def parse_http_request(raw):\n    head, _, body = raw.partition(b'\\r\\n\\r\\n')\n    method, path, _ = head.split(b' ', 2)\n    return method, path, body",
        ),
        (
            "retry a failing call with exponential backoff",
            "func Retry(attempts int, wait time.Duration, fn func() error) error {\n\tfor i := 0; i < attempts; i++ {\n\t\tif err := fn(); err == nil { return nil }\n\t\ttime.Sleep(wait)\n\t\twait *= 2\n\t}\n\treturn errors.New(\"gave up\")\n}",
        ),
        (
            "compute the determinant of a 2x2 matrix",
            "double determinant2x2(const double m[4]) {\n  return m[0] * m[3] - m[1] * m[2];\n}",
        ),
        (
            "total price of the items in a shopping cart",
            "function cartTotal(items) {\n  return items.reduce((sum, item) => sum + item.price * item.quantity, 0);\n}",
        ),
    ];
    let texts: Vec<&str> = pairs.iter().map(|(text, _)| *text).collect();
    let codes: Vec<&str> = pairs.iter().map(|(_, code)| *code).collect();
    let text_vectors = embedder().embed(&texts).unwrap();
    let code_vectors = embedder().embed(&codes).unwrap();
    let mut related = Vec::new();
    let mut unrelated = Vec::new();
    for (i, text) in text_vectors.iter().enumerate() {
        let similarities: Vec<f32> = code_vectors.iter().map(|c| cosine(text, c)).collect();
        let best = (0..similarities.len())
            .max_by(|a, b| similarities[*a].total_cmp(&similarities[*b]))
            .unwrap();
        assert_eq!(best, i, "{:?}: {similarities:?}", texts[i]);
        for (j, similarity) in similarities.into_iter().enumerate() {
            if i == j {
                related.push(similarity);
            } else {
                unrelated.push(similarity);
            }
        }
    }
    let least_related = related.iter().copied().fold(f32::MAX, f32::min);
    let most_unrelated = unrelated.iter().copied().fold(f32::MIN, f32::max);
    assert!(
        least_related > most_unrelated + 0.1,
        "related {related:?}, unrelated {unrelated:?}"
    );
}

#[test]
fn hybrid_search_finds_by_meaning_and_only_new_chunks_are_embedded() {
    let repo = Repo::new();
    let mut index = repo.open();
    index.update().unwrap();
    let chunks = index.stats().chunks;
    let mut calls = 0;
    let report = index
        .embed_chunks(embedder(), &mut |_, _| calls += 1)
        .unwrap();
    assert_eq!(report.embedded, chunks as usize);
    assert_eq!(report.reused, 0);
    assert!(calls > 0);
    assert_eq!(index.embedded_chunks().unwrap(), chunks as usize);

    // The words of this query are in no chunk of the cart; its meaning is. Each ranking's
    // first is fused first (a tie, broken for BM25's).
    let query = "goods in a customer basket";
    let none = Filters::default();
    let bm25: Vec<String> = index
        .search(query, 3, &none)
        .unwrap()
        .into_iter()
        .map(|hit| hit.path)
        .collect();
    assert!(!bm25.contains(&"web/cart.js".to_string()), "{bm25:?}");
    let hits = index.search_hybrid(query, 3, &none, embedder()).unwrap();
    let cart = hits
        .iter()
        .find(|hit| hit.path == "web/cart.js")
        .unwrap_or_else(|| panic!("{hits:?}"));
    let embedding = cart.why.embedding.expect("found by its embedding");
    assert_eq!(embedding.rank, 1, "{hits:?}");
    assert!(cart.why.bm25.is_none(), "{:?}", cart.why);
    // Fused scores are 1/(60 + rank) summed over the rankings, best first.
    assert!((cart.score - 1.0 / 61.0).abs() < 1e-6, "{}", cart.score);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));

    // Filters hold for the embedding ranking too.
    let go_only = Filters {
        languages: vec!["go".into()],
        ..Filters::default()
    };
    let hits = index.search_hybrid(query, 5, &go_only, embedder()).unwrap();
    assert!(hits.iter().all(|hit| hit.language == "go"), "{hits:?}");

    // Nothing new: nothing embedded, and a reopened index finds the vectors on disk.
    let again = index.embed_chunks(embedder(), &mut |_, _| {}).unwrap();
    assert_eq!((again.embedded, again.reused), (0, chunks as usize));
    let generation = index.generation();
    drop(index);
    let mut index = repo.open();
    assert_eq!(index.embedded_chunks().unwrap(), chunks as usize);

    // A changed file: only its new chunks are embedded, its old ones' vectors dropped.
    repo.write(
        "web/cart.js",
        b"export function emptyCart(cart) {\n  cart.items = [];\n}\n",
    );
    index.update().unwrap();
    let report = index.embed_chunks(embedder(), &mut |_, _| {}).unwrap();
    assert_eq!(report.embedded, 1, "{report:?}");
    assert!(report.dropped >= 1, "{report:?}");
    assert_eq!(report.reused, index.stats().chunks as usize - 1);
    assert_ne!(index.generation(), generation);
    let hits = index
        .search_hybrid("remove every product from the basket", 3, &none, embedder())
        .unwrap();
    let empty = hits
        .iter()
        .find(|hit| hit.symbol.as_deref() == Some("emptyCart"))
        .unwrap_or_else(|| panic!("{hits:?}"));
    assert_eq!(empty.why.embedding.map(|e| e.rank), Some(1), "{hits:?}");
}

#[test]
fn a_long_query_keeps_its_end_and_a_long_chunk_its_start() {
    // 600 words: well over the 256 word pieces the model reads.
    let filler = "lorem ipsum dolor sit amet ".repeat(120);
    let head = "def parse_http_request(raw):\n    return raw.split()\n";
    let tail = "def compute_determinant(matrix):\n    return matrix[0] * matrix[3] - matrix[1] * matrix[2]\n";
    let similarity = |a: &str, b: &str, query: bool| {
        let a = if query {
            embedder().embed_query(a).unwrap()
        } else {
            embedder().embed(&[a]).unwrap().pop().unwrap()
        };
        cosine(&a, &embedder().embed(&[b]).unwrap()[0])
    };
    // A query is cut at its start: what is near its end (the cursor) counts.
    let query = format!("{filler}\n{tail}");
    let kept_end = similarity(&query, tail, true);
    let kept_start = similarity(&query, tail, false);
    assert!(kept_end > kept_start + 0.2, "{kept_end} {kept_start}");
    // A chunk is cut at its end: its path, symbol and signature come first.
    let chunk = format!("{head}\n{filler}");
    let kept_start = similarity(&chunk, head, false);
    let kept_end = similarity(&chunk, head, true);
    assert!(kept_start > kept_end + 0.2, "{kept_start} {kept_end}");
}

/// A stop check that lets `batches` batches through, then says stop.
fn stop_after(batches: usize) -> impl FnMut() -> bool {
    let mut asked = 0;
    move || {
        asked += 1;
        asked > batches
    }
}

#[test]
fn an_embedding_stopped_between_batches_keeps_its_vectors_and_resumes() {
    let repo = Repo::new();
    let mut index = repo.open();
    index.update().unwrap();
    let chunks = index.stats().chunks as usize;
    assert!(chunks > 2, "the fixture has {chunks} chunks");
    // Two one-chunk batches, then stop.
    let report = index
        .embed_chunks_until(embedder(), 1, &mut |_, _| {}, &mut stop_after(2))
        .unwrap();
    assert_eq!((report.embedded, report.remaining), (2, chunks - 2));
    assert_eq!(index.embedded_chunks().unwrap(), 2, "the two are saved");
    // The same index goes on from where it stopped: one more chunk.
    let more = index
        .embed_chunks_until(embedder(), 1, &mut |_, _| {}, &mut stop_after(1))
        .unwrap();
    assert_eq!(
        (more.embedded, more.reused, more.remaining),
        (1, 2, chunks - 3)
    );
    // An update in between: the chunks are read again, the new file's with them.
    repo.write(
        "notes/extra.py",
        b"def extra_helper(x):\n    return x * 2\n",
    );
    index.update().unwrap();
    let chunks = index.stats().chunks as usize;
    let after_update = index
        .embed_chunks_until(embedder(), 1, &mut |_, _| {}, &mut || true)
        .unwrap();
    assert_eq!(
        (after_update.embedded, after_update.remaining),
        (0, chunks - 3),
        "{after_update:?}"
    );
    drop(index);
    // A later call, in another process as well, embeds only the rest.
    let mut index = repo.open();
    let rest = index
        .embed_chunks_until(embedder(), 4, &mut |_, _| {}, &mut || false)
        .unwrap();
    assert_eq!(
        (rest.embedded, rest.reused, rest.remaining),
        (chunks - 3, 3, 0)
    );
    assert_eq!(index.embedded_chunks().unwrap(), chunks);
}
