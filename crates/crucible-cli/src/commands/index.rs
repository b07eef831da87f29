//! `crucible index` and `crucible search`: the flags and the output of indexing a repository
//! and searching it (the work is `crucible_core::repo_index`'s).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crucible_core::index::{Filters, Hit, UpdateReport};
use crucible_core::repo_index::{self, IndexRequest, Indexed};

use super::GlobalArgs;
use super::common::default_settings;
use crate::output;

/// Index a repository for search and retrieval (incremental)
///
/// The index lives in `$CRUCIBLE_HOME/index/` (or `--index-dir`), never inside the repository.
/// Running it again reads only files whose mtime or size changed and re-indexes only those
/// whose content changed; deleted files are removed. With --embed, the chunks are also embedded
/// with all-MiniLM-L6-v2 (on the CPU; only chunks without a vector, so a second run embeds
/// only what changed) for `crucible search --embed` and `crucible generate --repo --embed`.
///
/// Examples:
///   crucible index
///   crucible index ~/src/project --embed
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct IndexArgs {
    /// The repository (any directory; `.gitignore` applies inside git repositories).
    #[arg(default_value = ".")]
    path: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
    /// List every skipped file and every note (parse errors, invalid UTF-8), not only counts.
    #[arg(long)]
    verbose_report: bool,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Search a repository's index: ranked chunks with paths and line ranges
///
/// The repository's index is brought up to date first (only changed files are read), or
/// built if there is none.
///
/// Examples:
///   crucible search "parse http request"
///   crucible search "RingBuffer::push" --repo ~/src/project -k 5 --lang rust
///   crucible search "retry with backoff" --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub(crate) struct SearchArgs {
    /// What to look for: words, identifiers or a piece of code.
    query: String,
    /// The repository.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// How many chunks to print.
    #[arg(short = 'k', long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    k: u16,
    /// Only chunks in this language (python, c, cpp, java, javascript, typescript, go, rust,
    /// csharp, php, or `text` for files without a grammar); repeatable.
    #[arg(long = "lang", short = 'l', value_name = "LANG")]
    languages: Vec<String>,
    /// Only files under this repository-relative prefix, e.g. `src/`.
    #[arg(long, value_name = "PREFIX")]
    path_prefix: Option<String>,
    /// Never chunks of this repository-relative file; repeatable.
    #[arg(long, value_name = "FILE")]
    exclude: Vec<String>,
    /// Search the index as it is, without updating it first.
    #[arg(long)]
    no_update: bool,
    #[command(flatten)]
    common: CommonArgs,
    /// Print the hits as one JSON array on stdout.
    #[arg(long)]
    json: bool,
}

/// Flags of both commands.
#[derive(Debug, Args)]
struct CommonArgs {
    /// Where the index is kept. Default: `$CRUCIBLE_HOME/index/<name>-<hash>`.
    #[arg(long, value_name = "DIR")]
    index_dir: Option<PathBuf>,
    /// Use sentence embeddings too: `index` embeds the chunks, `search` embeds the chunks
    /// still without a vector and fuses BM25 with embedding similarity (reciprocal rank
    /// fusion, k = 60). Needs the model that `scripts/embedding-model.sh` installs.
    #[arg(long)]
    embed: bool,
}

pub(crate) fn run_index(args: IndexArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = default_settings()?;
    let request = IndexRequest {
        repo: args.path.clone(),
        index_dir: args.common.index_dir.clone(),
        embeddings: args.common.embed,
    };
    let bar = EmbedProgress::new(global.quiet);
    let indexed = repo_index::update(&settings, &request, &mut |done, total| bar.set(done, total))?;
    bar.finish();
    if args.json {
        output::data(&serde_json::to_string_pretty(&report_json(&indexed))?);
    } else {
        output::status(&summary(&indexed, args.verbose_report));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_search(args: SearchArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let settings = default_settings()?;
    let request = IndexRequest {
        repo: args.repo.clone(),
        index_dir: args.common.index_dir.clone(),
        embeddings: args.common.embed,
    };
    let index = if args.no_update {
        repo_index::open(&settings, &request)?
    } else {
        let bar = EmbedProgress::new(global.quiet);
        let indexed =
            repo_index::update(&settings, &request, &mut |done, total| bar.set(done, total))?;
        bar.finish();
        let report = &indexed.report;
        if report.files_indexed + report.files_removed > 0 {
            tracing::info!(
                "index updated: {} files indexed, {} removed",
                report.files_indexed,
                report.files_removed
            );
        }
        indexed.index
    };
    let filters = Filters {
        languages: args.languages.iter().map(|l| l.to_lowercase()).collect(),
        path_prefix: args.path_prefix.clone(),
        exclude_paths: args.exclude.clone(),
    };
    let hits = index.search(&args.query, usize::from(args.k), &filters)?;
    if args.json {
        let hits: Vec<serde_json::Value> = hits.iter().enumerate().map(hit_json).collect();
        output::data(&serde_json::to_string_pretty(&hits)?);
    } else if hits.is_empty() {
        output::status(&format!("no chunk matches `{}`", args.query));
    } else {
        output::data(&render_hits(&hits, index.is_hybrid()));
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar of the chunks being embedded, on a terminal only.
struct EmbedProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl EmbedProgress {
    fn new(quiet: bool) -> EmbedProgress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "embedding {bar:30} {pos}/{len} chunks [{elapsed_precise} < {eta_precise}]",
                )
                .expect("the progress template is valid"),
            );
            bar
        });
        EmbedProgress { bar }
    }

    fn set(&self, done: usize, total: usize) {
        if let Some(bar) = &self.bar {
            if bar.is_hidden() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Hits for people: a header line per hit (`path:start-end  symbol  kind, score`, and for a
/// hybrid search each ranking's place), the signatures around it and its text, indented.
fn render_hits(hits: &[Hit], hybrid: bool) -> String {
    let mut out = String::new();
    for (at, hit) in hits.iter().enumerate() {
        if at > 0 {
            out.push('\n');
        }
        let symbol = hit
            .symbol
            .as_deref()
            .map(|s| format!("  {s}"))
            .unwrap_or_default();
        // A hybrid hit says where each ranking put it.
        let ranks = if hybrid {
            let bm25 = hit
                .why
                .bm25
                .map_or_else(|| "-".to_string(), |bm25| format!("#{}", bm25.rank));
            let embedding = hit.why.embedding.map_or_else(
                || "-".to_string(),
                |e| format!("#{} cosine {:.3}", e.rank, e.score),
            );
            format!("; bm25 {bm25}, embedding {embedding}")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{}:{}-{}{symbol}  ({}, {}, score {:.3}{ranks})\n",
            hit.path, hit.start_line, hit.end_line, hit.kind, hit.language, hit.score
        ));
        for signature in &hit.context {
            out.push_str(&format!("    {signature} ...\n"));
        }
        for line in hit.text.lines() {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

fn hit_json((at, hit): (usize, &Hit)) -> serde_json::Value {
    let ranked = |ranked: Option<crucible_core::index::Ranked>| {
        ranked.map(|r| json!({"rank": r.rank, "score": r.score}))
    };
    json!({
        "rank": at + 1,
        "path": hit.path,
        "start_line": hit.start_line,
        "end_line": hit.end_line,
        "language": hit.language,
        "kind": hit.kind,
        "symbol": hit.symbol,
        "context": hit.context,
        "score": hit.score,
        "why": {
            "bm25": ranked(hit.why.bm25),
            "embedding": ranked(hit.why.embedding),
            "matched_terms": hit.why.matched_terms,
        },
        "text": hit.text,
    })
}

fn summary(indexed: &Indexed, verbose: bool) -> String {
    let report = &indexed.report;
    let stats = indexed.index.index().stats();
    let mut out = format!(
        "indexed {}: {} files, {} chunks (index at {})\n",
        indexed.index.index().root().display(),
        stats.files,
        stats.chunks,
        indexed.index.index().dir().display()
    );
    out.push_str(&format!(
        "this run: {} files seen, {} unchanged, {} re-read with the same content, {} indexed ({} chunks, {:.1} MB, {} without a grammar, windowed), {} removed, in {:.2} s\n",
        report.files_seen,
        report.files_unchanged,
        report.files_touched,
        report.files_indexed,
        report.chunks_indexed,
        report.bytes_indexed as f64 / 1e6,
        report.files_without_grammar,
        report.files_removed,
        report.elapsed.as_secs_f64()
    ));
    if let Some(embedded) = indexed.embedded {
        out.push_str(&format!(
            "embeddings: {} chunks embedded, {} kept from before, in {:.2} s\n",
            embedded.embedded,
            embedded.reused,
            embedded.elapsed.as_secs_f64()
        ));
    }
    if !report.skipped.is_empty() {
        out.push_str(&format!("skipped {} files", report.skipped.len()));
        out.push_str(&skip_counts(report));
        out.push('\n');
    }
    if !report.notes.is_empty() {
        out.push_str(&format!(
            "{} files indexed with notes (parse errors windowed, invalid UTF-8 replaced)\n",
            report.notes.len()
        ));
    }
    let listed_skips = if verbose { report.skipped.len() } else { 0 };
    for skip in report.skipped.iter().take(listed_skips) {
        out.push_str(&format!("  skipped {}: {}\n", skip.relative, skip.reason));
    }
    let listed_notes = if verbose { report.notes.len() } else { 0 };
    for (path, note) in report.notes.iter().take(listed_notes) {
        out.push_str(&format!("  note {path}: {note}\n"));
    }
    let hidden = (report.skipped.len() - listed_skips) + (report.notes.len() - listed_notes);
    if hidden > 0 {
        out.push_str("(--verbose-report lists them)\n");
    }
    out.trim_end().to_string()
}

/// ` (3 binary, 1 too large, ...)`: skips counted by reason.
fn skip_counts(report: &UpdateReport) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for skip in &report.skipped {
        let name = skip_name(&skip.reason);
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(name, count)| format!("{count} {name}"))
        .collect();
    format!(" ({})", parts.join(", "))
}

fn skip_name(reason: &crucible_core::index::SkipReason) -> &'static str {
    use crucible_core::index::SkipReason;
    match reason {
        SkipReason::TooLarge { .. } => "too large",
        SkipReason::Binary => "binary",
        SkipReason::LongLine { .. } => "long lines",
        SkipReason::Generated { .. } => "generated",
        SkipReason::Vendored { .. } => "vendored directories",
        SkipReason::DataFile { .. } => "data files",
        SkipReason::Unreadable { .. } => "unreadable",
    }
}

fn report_json(indexed: &Indexed) -> serde_json::Value {
    let report = &indexed.report;
    let stats = indexed.index.index().stats();
    json!({
        "root": indexed.index.index().root(),
        "index_dir": indexed.index.index().dir(),
        "files": stats.files,
        "chunks": stats.chunks,
        "files_seen": report.files_seen,
        "files_unchanged": report.files_unchanged,
        "files_touched": report.files_touched,
        "files_indexed": report.files_indexed,
        "files_removed": report.files_removed,
        "files_without_grammar": report.files_without_grammar,
        "chunks_indexed": report.chunks_indexed,
        "bytes_indexed": report.bytes_indexed,
        "seconds": report.elapsed.as_secs_f64(),
        "embedded": indexed.embedded.map(|e| json!({"embedded": e.embedded, "reused": e.reused, "seconds": e.elapsed.as_secs_f64()})),
        "skipped": report.skipped.iter().map(|s| json!({"path": s.relative, "reason": s.reason.to_string()})).collect::<Vec<_>>(),
        "notes": report.notes.iter().map(|(path, note)| json!({"path": path, "note": note.to_string()})).collect::<Vec<_>>(),
    })
}
