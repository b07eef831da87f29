//! Searching the index: a query's code terms against chunk bodies, symbols and paths (BM25),
//! filters by language and path, and hits that say why they matched.

use std::collections::BTreeSet;

use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, Searcher, TantivyDocument, Term};

use crate::index::Index;
use crate::tokenize::code_terms;
use crate::{Error, Result};

/// The file of embedding vectors in an index directory (feature `embed`).
pub(crate) const VECTORS_FILE: &str = "vectors.bin";

/// Most distinct query terms used; a longer query (a code window, as iterative retrieval sends)
/// keeps its first ones.
pub const MAX_QUERY_TERMS: usize = 256;

/// A query with more distinct terms than this (a code window, as completion and iterative
/// retrieval send) is searched by its rarest ones only, by document frequency: the common terms
/// (`self`, `let`, `return`) add little to BM25 ranking, since their idf is low, but each one is
/// a posting list over most of the index, which made a 15-line window cost half a second on a
/// large tree. Lucene's MoreLikeThis keeps the top terms for the same reason.
pub const LONG_QUERY_TERMS: usize = 32;

/// Weight of a match in the symbol name, relative to one in the body.
const SYMBOL_BOOST: f32 = 2.0;
/// Weight of a match in the path.
const PATH_BOOST: f32 = 0.5;
/// Weight of a name in a chunk's symbol in [`Index::mentioning`]: large enough that a chunk
/// defining the name outranks any number of chunks using it.
const DEFINES_BOOST: f32 = 100.0;

/// Which chunks a search may return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only chunks of these languages (canonical names as crucible-syntax gives them, or
    /// `text` for files without a grammar); empty: all.
    pub languages: Vec<String>,
    /// Only chunks of files under this repository-relative prefix (`src/`).
    pub path_prefix: Option<String>,
    /// Never chunks of these files (the file being completed, whose text the prompt has).
    pub exclude_paths: Vec<String>,
}

/// A ranking a hit took part in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// 1-based rank in that ranking.
    pub rank: usize,
    /// The score there (BM25, or cosine similarity for embeddings).
    pub score: f32,
}

/// Why a hit was returned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Why {
    /// Its place in the BM25 ranking.
    pub bm25: Option<Ranked>,
    /// Its place in the embedding ranking.
    pub embedding: Option<Ranked>,
    /// Query terms found in the chunk (its text, symbol or path), in query order.
    pub matched_terms: Vec<String>,
}

/// A chunk a search returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Repository-relative path.
    pub path: String,
    /// First line, 1-based.
    pub start_line: usize,
    /// Last line, 1-based, inclusive.
    pub end_line: usize,
    /// Language name (`text` without a grammar).
    pub language: String,
    /// Chunk kind ([`crate::ChunkKind::name`]).
    pub kind: String,
    /// Qualified symbol name, if the chunk is (in) a definition.
    pub symbol: Option<String>,
    /// Signatures around the chunk, outermost first.
    pub context: Vec<String>,
    /// The chunk's text.
    pub text: String,
    /// The final score: BM25 for a BM25 search, the fused score for a hybrid one.
    pub score: f32,
    /// Why it was returned.
    pub why: Why,
    /// The chunk's content id.
    pub chunk_id: u64,
}

impl Index {
    /// The `k` chunks that best match `query` by BM25, best first.
    ///
    /// The query is tokenized like the chunks (identifier parts and whole identifiers), so
    /// `parseHttpRequest`, `parse_http_request` and `http request parse` all match the same
    /// function. A query with no term is [`Error::EmptyQuery`].
    pub fn search(&self, query: &str, k: usize, filters: &Filters) -> Result<Vec<Hit>> {
        let terms = query_terms(query);
        if terms.is_empty() {
            return Err(Error::EmptyQuery {
                query: query.to_string(),
            });
        }
        let searcher = self.reader.searcher();
        let ranked = self.bm25(&searcher, &terms, k, filters)?;
        self.ranked_hits(&searcher, ranked, &terms)
    }

    /// The `k` chunks that mention the identifier `name` (whole, as the tokenizer keeps it:
    /// `HeaderTypes` and not `header` or `types`), those that define it first: a chunk whose
    /// symbol is `name` outranks every chunk that only uses it. `path_words` (the module an
    /// import names: `_types` for `from ._types import HeaderTypes`) rank chunks of files whose
    /// path has them above the others. This finds a definition where a BM25 search of the name
    /// finds its many users: a class that subclasses and calls crowd out of the top, or a
    /// global (`HeaderTypes = Union[...]`), which no chunk has as its symbol. A name without a
    /// term is [`Error::EmptyQuery`].
    pub fn mentioning(
        &self,
        name: &str,
        path_words: &[String],
        k: usize,
        filters: &Filters,
    ) -> Result<Vec<Hit>> {
        // The whole identifier is the last term the tokenizer gives for it.
        let Some(whole) = code_terms(name).pop() else {
            return Err(Error::EmptyQuery {
                query: name.to_string(),
            });
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        let fields = &self.fields;
        let mentions: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (
                Occur::Should,
                boosted_term(fields.symbol, &whole, DEFINES_BOOST),
            ),
            (Occur::Should, boosted_term(fields.body, &whole, 1.0)),
        ]));
        let mut clauses = vec![(Occur::Must, mentions)];
        let path_terms: BTreeSet<String> = path_words.iter().flat_map(|w| code_terms(w)).collect();
        for term in &path_terms {
            clauses.push((
                Occur::Should,
                boosted_term(fields.path_terms, term, PATH_BOOST),
            ));
        }
        let query = self.filtered(Box::new(BooleanQuery::new(clauses)), filters)?;
        let searcher = self.reader.searcher();
        let ranked = searcher
            .search(&*query, &TopDocs::with_limit(k).order_by_score())
            .map_err(Error::tantivy(&self.dir))?;
        let terms = [whole];
        self.ranked_hits(&searcher, ranked, &terms)
    }

    /// The stored chunks of a BM25 ranking, as hits with their rank and score.
    fn ranked_hits(
        &self,
        searcher: &Searcher,
        ranked: Vec<(f32, DocAddress)>,
        terms: &[String],
    ) -> Result<Vec<Hit>> {
        ranked
            .into_iter()
            .enumerate()
            .map(|(at, (score, address))| {
                let mut hit = self.hit(searcher, address, terms)?;
                hit.score = score;
                hit.why.bm25 = Some(Ranked {
                    rank: at + 1,
                    score,
                });
                Ok(hit)
            })
            .collect()
    }

    /// The BM25 top `k` as (score, address).
    pub(crate) fn bm25(
        &self,
        searcher: &Searcher,
        terms: &[String],
        k: usize,
        filters: &Filters,
    ) -> Result<Vec<(f32, DocAddress)>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let fields = &self.fields;
        let terms = self.rarest_terms(searcher, terms)?;
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * 3);
        for term in terms {
            for (field, boost) in [
                (fields.body, 1.0),
                (fields.symbol, SYMBOL_BOOST),
                (fields.path_terms, PATH_BOOST),
            ] {
                should.push((Occur::Should, boosted_term(field, term, boost)));
            }
        }
        let text_query: Box<dyn Query> = Box::new(BooleanQuery::new(should));
        let query = self.filtered(text_query, filters)?;
        searcher
            .search(&*query, &TopDocs::with_limit(k).order_by_score())
            .map_err(Error::tantivy(&self.dir))
    }

    /// `terms` when there are at most [`LONG_QUERY_TERMS`]; else the [`LONG_QUERY_TERMS`] with
    /// the fewest chunks containing them (in the body, symbol or path; terms in none are
    /// dropped), in query order.
    pub(crate) fn rarest_terms<'t>(
        &self,
        searcher: &Searcher,
        terms: &'t [String],
    ) -> Result<Vec<&'t String>> {
        if terms.len() <= LONG_QUERY_TERMS {
            return Ok(terms.iter().collect());
        }
        let fields = &self.fields;
        let mut counted = Vec::with_capacity(terms.len());
        for (at, term) in terms.iter().enumerate() {
            let mut chunks = 0;
            for field in [fields.body, fields.symbol, fields.path_terms] {
                chunks += searcher
                    .doc_freq(&Term::from_field_text(field, term))
                    .map_err(Error::tantivy(&self.dir))?;
            }
            if chunks > 0 {
                counted.push((chunks, at));
            }
        }
        counted.sort_unstable();
        counted.truncate(LONG_QUERY_TERMS);
        counted.sort_unstable_by_key(|&(_, at)| at);
        Ok(counted.into_iter().map(|(_, at)| &terms[at]).collect())
    }

    /// `query` restricted by `filters` (the filters add nothing to the score).
    pub(crate) fn filtered(
        &self,
        query: Box<dyn Query>,
        filters: &Filters,
    ) -> Result<Box<dyn Query>> {
        let no_filters = filters.languages.is_empty()
            && filters.path_prefix.is_none()
            && filters.exclude_paths.is_empty();
        if no_filters {
            return Ok(query);
        }
        let fields = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, query)];
        if !filters.languages.is_empty() {
            let any_language: Vec<(Occur, Box<dyn Query>)> = filters
                .languages
                .iter()
                .map(|language| {
                    let term = Term::from_field_text(fields.language, language);
                    let query: Box<dyn Query> =
                        Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                    (Occur::Should, query)
                })
                .collect();
            clauses.push((
                Occur::Must,
                zero_score(Box::new(BooleanQuery::new(any_language))),
            ));
        }
        if let Some(prefix) = &filters.path_prefix {
            let pattern = format!("{}.*", regex_escape(prefix));
            let query = RegexQuery::from_pattern(&pattern, fields.path)
                .map_err(Error::tantivy(&self.dir))?;
            clauses.push((Occur::Must, zero_score(Box::new(query))));
        }
        for path in &filters.exclude_paths {
            let term = Term::from_field_text(fields.path, path);
            clauses.push((
                Occur::MustNot,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// The stored chunk at `address`, as a hit without scores.
    pub(crate) fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        terms: &[String],
    ) -> Result<Hit> {
        let doc: TantivyDocument = searcher.doc(address).map_err(Error::tantivy(&self.dir))?;
        let fields = &self.fields;
        let text = |field| {
            doc.get_first(field)
                .and_then(|value| value.as_str())
                .map(str::to_string)
        };
        let number = |field| {
            doc.get_first(field)
                .and_then(|value| value.as_u64())
                .unwrap_or(0)
        };
        let path = text(fields.path).unwrap_or_default();
        let body = text(fields.body).unwrap_or_default();
        let symbol = text(fields.symbol);
        let found: BTreeSet<String> = code_terms(&body)
            .into_iter()
            .chain(symbol.iter().flat_map(|symbol| code_terms(symbol)))
            .chain(code_terms(&path))
            .collect();
        let matched_terms = terms
            .iter()
            .filter(|term| found.contains(*term))
            .cloned()
            .collect();
        Ok(Hit {
            start_line: usize::try_from(number(fields.start_line)).unwrap_or(0),
            end_line: usize::try_from(number(fields.end_line)).unwrap_or(0),
            language: text(fields.language).unwrap_or_default(),
            kind: text(fields.kind).unwrap_or_default(),
            context: text(fields.context)
                .map(|context| context.lines().map(str::to_string).collect())
                .unwrap_or_default(),
            symbol,
            path,
            text: body,
            score: 0.0,
            why: Why {
                matched_terms,
                ..Why::default()
            },
            chunk_id: number(fields.chunk_id),
        })
    }
}

/// The distinct terms of a query, in order, at most [`MAX_QUERY_TERMS`].
pub(crate) fn query_terms(query: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    code_terms(query)
        .into_iter()
        .filter(|term| seen.insert(term.clone()))
        .take(MAX_QUERY_TERMS)
        .collect()
}

/// A query for `term` in `field` (with its frequencies, for BM25), its score times `boost`.
fn boosted_term(field: Field, term: &str, boost: f32) -> Box<dyn Query> {
    let query = TermQuery::new(
        Term::from_field_text(field, term),
        IndexRecordOption::WithFreqs,
    );
    Box::new(BoostQuery::new(Box::new(query), boost))
}

fn zero_score(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, 0.0))
}

/// `text` with the regular-expression metacharacters of tantivy's regex syntax escaped.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if "\\.+*?()|[]{}^$#&-~\"<>@".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexParams;

    /// 40 Python files that share most words, and one word only `rare.py` has.
    fn index(dir: &std::path::Path) -> Index {
        let root = dir.join("repo");
        std::fs::create_dir_all(&root).unwrap();
        for n in 0..40 {
            std::fs::write(
                root.join(format!("common{n}.py")),
                format!("def helper{n}(value):\n    return value + offset\n"),
            )
            .unwrap();
        }
        std::fs::write(
            root.join("rare.py"),
            "def stripes(value):\n    return value + zebra\n",
        )
        .unwrap();
        let mut index = Index::open(&root, &dir.join("index"), IndexParams::default()).unwrap();
        index.update().unwrap();
        index
    }

    #[test]
    fn a_long_query_keeps_its_rarest_terms_in_query_order() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path());
        let searcher = index.reader.searcher();
        // 3 common terms, 40 rare ones (one chunk each), 10 that are nowhere: 53 in all.
        let mut terms: Vec<String> = vec!["value".into(), "offset".into(), "return".into()];
        terms.extend((0..40).map(|n| format!("helper{n}")));
        terms.extend((0..10).map(|n| format!("nowhere{n}")));
        terms.swap(0, 50);
        let kept = index.rarest_terms(&searcher, &terms).unwrap();
        assert_eq!(kept.len(), LONG_QUERY_TERMS);
        for kept in &kept {
            assert!(kept.starts_with("helper"), "{kept} is common or nowhere");
        }
        let positions: Vec<usize> = kept
            .iter()
            .map(|k| terms.iter().position(|t| t == *k).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        // A short query is kept whole, terms found nowhere included.
        let short = vec!["value".to_string(), "nowhere".to_string()];
        assert_eq!(index.rarest_terms(&searcher, &short).unwrap().len(), 2);
    }

    #[test]
    fn a_long_query_still_finds_the_chunk_of_its_rare_term() {
        let dir = tempfile::tempdir().unwrap();
        let index = index(dir.path());
        let mut query: Vec<String> = (0..40).map(|n| format!("unknown{n}")).collect();
        query.extend(["value", "offset", "return", "zebra"].map(String::from));
        let hits = index
            .search(&query.join(" "), 3, &Filters::default())
            .unwrap();
        assert_eq!(hits[0].path, "rare.py", "{hits:?}");
        assert!(hits[0].why.matched_terms.contains(&"zebra".to_string()));
    }

    #[test]
    fn mentioning_a_name_puts_its_definition_above_its_many_users() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        // Twenty users of `ShellComplete`, each naming it three times, and its definition,
        // which names it once.
        for n in 0..20 {
            std::fs::write(
                root.join(format!("pkg/shell{n}.py")),
                format!(
                    "class Shell{n}(ShellComplete):
    base = ShellComplete
    other = ShellComplete
"
                ),
            )
            .unwrap();
        }
        std::fs::write(
            root.join("pkg/completion.py"),
            "class ShellComplete:
    name = 'shell'
",
        )
        .unwrap();
        // A global no chunk has as its symbol, in `pkg/_types.py`, and a user elsewhere that
        // names it more often.
        std::fs::write(
            root.join("pkg/_types.py"),
            "import typing

HeaderTypes = typing.Mapping[str, str]
",
        )
        .unwrap();
        std::fs::write(
            root.join("pkg/models.py"),
            "def headers(h: HeaderTypes, g: HeaderTypes) -> HeaderTypes:
    return h
",
        )
        .unwrap();
        let mut index =
            Index::open(&root, &dir.path().join("index"), IndexParams::default()).unwrap();
        index.update().unwrap();
        let none = Filters::default();
        let hits = index.mentioning("ShellComplete", &[], 5, &none).unwrap();
        assert_eq!(hits[0].path, "pkg/completion.py", "{hits:?}");
        assert_eq!(hits[0].symbol.as_deref(), Some("ShellComplete"));
        // Only chunks that name it whole: `Shell0` does not count as `shell`.
        assert!(
            hits.iter().all(|hit| hit.text.contains("ShellComplete")),
            "{hits:?}"
        );
        // The words of the module it is imported from rank that module's chunk first.
        let hits = index
            .mentioning("HeaderTypes", &["_types".to_string()], 5, &none)
            .unwrap();
        assert_eq!(hits[0].path, "pkg/_types.py", "{hits:?}");
        let hits = index.mentioning("HeaderTypes", &[], 5, &none).unwrap();
        assert_eq!(
            hits[0].path, "pkg/models.py",
            "without the module's words, BM25 decides"
        );
        assert!(matches!(
            index.mentioning("_", &[], 5, &none),
            Err(Error::EmptyQuery { .. })
        ));
    }
}
