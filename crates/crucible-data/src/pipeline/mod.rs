//! The sharded, resumable curation pipeline.
//!
//! Six stages run in order over a shared output directory; each is a list of independent
//! items, and shard `I/N` runs the items `j` with `j % N == I`:
//!
//! | stage | items | does |
//! | --- | --- | --- |
//! | `plan` | 1 | walk and split the inputs into units |
//! | `prepare` | one per unit | read; language, quality, decontamination, PII; content hash and MinHash signature; sorted bucket keys |
//! | `buckets` | (exact + bands) x partitions | k-way merge of every unit's sorted keys for one band: candidate pairs |
//! | `clusters` | 1 | verify candidates, union-find, choose the first document of each cluster |
//! | `filter` | one per unit | write the kept documents and the side file of everything dropped or changed |
//! | `summary` | 1 | counts per stage |
//!
//! An item's outputs are written under temporary names, fsynced and renamed; then its marker
//! `work/STAGE/done/ITEM.json` (with its counts) is written the same way. A re-run skips items
//! with markers, so a killed run continues where it stopped. Every decision depends only on a
//! document's place in input order, never on which shard or thread handled it, so any number of
//! shards writes byte-identical output.

mod buckets;
mod clusters;
mod filter;
mod prepare;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::CurateConfig;
use crate::decontam::{Index, Reference};
use crate::input::Unit;
use crate::store;
use crate::{Error, Result};

/// Version of the work-directory layout; a directory from another version is refused.
const LAYOUT_VERSION: u32 = 1;

/// A pipeline stage, as `--stage` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    Plan,
    Prepare,
    Buckets,
    Clusters,
    Filter,
    Summary,
}

impl StageName {
    /// Every stage, in order.
    pub const ALL: [StageName; 6] = [
        StageName::Plan,
        StageName::Prepare,
        StageName::Buckets,
        StageName::Clusters,
        StageName::Filter,
        StageName::Summary,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StageName::Plan => "plan",
            StageName::Prepare => "prepare",
            StageName::Buckets => "buckets",
            StageName::Clusters => "clusters",
            StageName::Filter => "filter",
            StageName::Summary => "summary",
        }
    }

    /// Parse a name.
    pub fn parse(given: &str) -> Option<Self> {
        StageName::ALL.into_iter().find(|s| s.as_str() == given)
    }

    fn previous(self) -> Option<StageName> {
        let idx = StageName::ALL.iter().position(|s| *s == self)?;
        idx.checked_sub(1).map(|prev| StageName::ALL[prev])
    }
}

/// Which share of each stage's items this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole job in one process.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parse `I/N`.
    pub fn parse(given: &str) -> Result<Self> {
        let bad = |problem: &str| Error::BadShard {
            given: given.to_owned(),
            problem: problem.to_owned(),
        };
        let (index, count) = given.split_once('/').ok_or_else(|| bad("no `/`"))?;
        let index: usize = index.trim().parse().map_err(|_| bad("I is not a number"))?;
        let count: usize = count.trim().parse().map_err(|_| bad("N is not a number"))?;
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index >= count {
            return Err(bad(&format!(
                "index {index} is out of range for {count} shards"
            )));
        }
        Ok(Shard { index, count })
    }

    fn owns(&self, item: usize) -> bool {
        item % self.count == self.index
    }
}

/// A curation job: what to read, how, and where to write.
#[derive(Debug, Clone)]
pub struct Job {
    pub config: CurateConfig,
    /// Directories, `.jsonl`, `.jsonl.gz` and `.parquet` files.
    pub inputs: Vec<PathBuf>,
    /// The output directory (`data/`, `rejects/`, `summary.json`, and `work/`).
    pub output: PathBuf,
    /// Benchmark texts for decontamination.
    pub references: Vec<Reference>,
}

/// How this process takes part.
pub struct RunParams<'a> {
    pub shard: Shard,
    /// One stage, or `None` for all in order (waiting for other shards between stages).
    pub stage: Option<StageName>,
    /// Worker threads in this process.
    pub threads: usize,
    /// Accept a shard count different from the one a stage was started with.
    pub reshard: bool,
    /// Polled between documents and items; `true` stops the run cleanly.
    pub should_stop: &'a (dyn Fn() -> bool + Sync),
    /// How often to look for other shards' progress while waiting.
    pub poll: Duration,
    /// Memory bounds (they never change the output).
    pub limits: Limits,
}

/// Memory bounds of the global stages. They change only how much is held in memory and how
/// many files are open at once, never what is written, so they may differ between processes
/// and re-runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most files one merge reads at once (`buckets`), and most work files `clusters` keeps
    /// open; more units are merged in rounds through temporary run files.
    pub merge_fan_in: usize,
    /// Most candidate pairs a `buckets` item holds in memory (16 bytes each); more are sorted
    /// and spilled to disk.
    pub pairs_in_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            merge_fan_in: 256,
            pairs_in_memory: 4 << 20,
        }
    }
}

impl std::fmt::Debug for RunParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunParams")
            .field("shard", &self.shard)
            .field("stage", &self.stage)
            .field("threads", &self.threads)
            .field("limits", &self.limits)
            .finish()
    }
}

/// What one item did: counts for the summary, and its wall time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemStats {
    pub docs_in: u64,
    pub bytes_in: u64,
    pub docs_out: u64,
    pub bytes_out: u64,
    /// Stage -> reason -> count of dropped records.
    pub dropped: BTreeMap<String, BTreeMap<String, u64>>,
    /// Stage -> reason -> count of changed records.
    pub changed: BTreeMap<String, BTreeMap<String, u64>>,
    /// Other counters (candidate pairs, clusters, ...).
    pub counters: BTreeMap<String, u64>,
    pub seconds: f64,
}

impl ItemStats {
    pub(crate) fn drop(&mut self, stage: &str, reason: &str) {
        *self
            .dropped
            .entry(stage.to_owned())
            .or_default()
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn change(&mut self, stage: &str, reason: &str, count: u64) {
        *self
            .changed
            .entry(stage.to_owned())
            .or_default()
            .entry(reason.to_owned())
            .or_default() += count;
    }

    pub(crate) fn count(&mut self, counter: &str, value: u64) {
        *self.counters.entry(counter.to_owned()).or_default() += value;
    }

    fn add(&mut self, other: &ItemStats) {
        self.docs_in += other.docs_in;
        self.bytes_in += other.bytes_in;
        self.docs_out += other.docs_out;
        self.bytes_out += other.bytes_out;
        for (target, source) in [
            (&mut self.dropped, &other.dropped),
            (&mut self.changed, &other.changed),
        ] {
            for (stage, reasons) in source {
                let entry = target.entry(stage.clone()).or_default();
                for (reason, count) in reasons {
                    *entry.entry(reason.clone()).or_default() += count;
                }
            }
        }
        for (counter, value) in &other.counters {
            *self.counters.entry(counter.clone()).or_default() += value;
        }
        self.seconds += other.seconds;
    }
}

/// What this process did at one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageReport {
    pub stage: StageName,
    pub items: usize,
    /// Items this process ran now.
    pub ran: usize,
    /// Items of this shard found done by an earlier run.
    pub already_done: usize,
    /// Counts over the items this process ran.
    pub stats: ItemStats,
    pub seconds: f64,
}

/// What [`run`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    pub stages: Vec<StageReport>,
    /// The summary, when the summary stage is done.
    pub summary: Option<serde_json::Value>,
}

/// The paths of the output directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) work: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
            work: root.join("work"),
        }
    }

    pub(crate) fn stage_dir(&self, stage: StageName) -> PathBuf {
        self.work.join(stage.as_str())
    }

    fn marker(&self, stage: StageName, item: usize) -> PathBuf {
        self.stage_dir(stage)
            .join("done")
            .join(format!("{item:06}.json"))
    }

    pub(crate) fn unit_file(
        &self,
        stage: StageName,
        name: &str,
        unit: usize,
        ext: &str,
    ) -> PathBuf {
        self.stage_dir(stage)
            .join(format!("{name}-{unit:06}.{ext}"))
    }

    pub(crate) fn data_part(&self, unit: usize, ext: &str) -> PathBuf {
        self.root.join("data").join(format!("part-{unit:06}.{ext}"))
    }

    pub(crate) fn rejects_part(&self, unit: usize) -> PathBuf {
        self.root
            .join("rejects")
            .join(format!("part-{unit:06}.jsonl"))
    }
}

/// The state every item of a run shares (built once per process).
pub(crate) struct Context {
    pub(crate) job: Job,
    pub(crate) layout: Layout,
    pub(crate) banding: crate::minhash::Banding,
    pub(crate) hasher: crate::minhash::MinHasher,
    decontam: std::sync::OnceLock<std::result::Result<Arc<Index>, String>>,
    units: std::sync::OnceLock<Arc<Vec<Unit>>>,
}

impl Context {
    /// The decontamination index, built on first use.
    pub(crate) fn decontam(&self) -> Result<Arc<Index>> {
        self.decontam
            .get_or_init(|| {
                Index::build(&self.job.config.decontam, self.job.references.clone())
                    .map(Arc::new)
                    .map_err(|err| err.to_string())
            })
            .clone()
            .map_err(Error::Config)
    }

    /// The planned units.
    pub(crate) fn units(&self) -> Result<Arc<Vec<Unit>>> {
        if let Some(units) = self.units.get() {
            return Ok(units.clone());
        }
        let path = self.layout.stage_dir(StageName::Plan).join("units.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|err| Error::io("read", &path, err))?;
        let mut units = Vec::new();
        for line in text.lines() {
            units.push(serde_json::from_str(line).map_err(|err| Error::Corrupt {
                path: path.clone(),
                problem: err.to_string(),
            })?);
        }
        Ok(self.units.get_or_init(|| Arc::new(units)).clone())
    }

    /// Number of bucket groups: the exact group (if on) then one per band (if near is on).
    pub(crate) fn bucket_groups(&self) -> usize {
        let config = &self.job.config;
        usize::from(config.exact.enabled)
            + if config.near.enabled {
                self.banding.bands
            } else {
                0
            }
    }

    /// Items of a stage.
    fn items(&self, stage: StageName) -> Result<usize> {
        Ok(match stage {
            StageName::Plan | StageName::Clusters | StageName::Summary => 1,
            StageName::Prepare | StageName::Filter => self.units()?.len(),
            StageName::Buckets => self.bucket_groups() * self.job.config.near.partitions,
        })
    }

    /// The recorded counts of a finished item.
    pub(crate) fn item_stats(&self, stage: StageName, item: usize) -> Result<ItemStats> {
        let path = self.layout.marker(stage, item);
        let bytes = std::fs::read(&path).map_err(|err| Error::io("read", &path, err))?;
        serde_json::from_slice(&bytes).map_err(|err| Error::Corrupt {
            path,
            problem: err.to_string(),
        })
    }

    fn done(&self, stage: StageName, item: usize) -> bool {
        self.layout.marker(stage, item).exists()
    }

    fn missing(&self, stage: StageName) -> Result<Vec<usize>> {
        let items = self.items(stage)?;
        Ok((0..items).filter(|&item| !self.done(stage, item)).collect())
    }
}

/// Run `job` as `params` say. Returns what this process did.
pub fn run(job: Job, params: &RunParams<'_>) -> Result<RunReport> {
    job.config.validate()?;
    let layout = Layout::new(&job.output);
    record_config(&job, &layout)?;
    let banding = job.config.near.banding()?;
    let hasher = crate::minhash::MinHasher::new(job.config.near.ngram, job.config.near.seed);
    let ctx = Context {
        job,
        layout,
        banding,
        hasher,
        decontam: std::sync::OnceLock::new(),
        units: std::sync::OnceLock::new(),
    };
    let stages: Vec<StageName> = match params.stage {
        Some(stage) => vec![stage],
        None => StageName::ALL.to_vec(),
    };
    let mut report = RunReport {
        stages: Vec::new(),
        summary: None,
    };
    for stage in stages {
        if let Some(previous) = stage.previous() {
            wait_for(&ctx, stage, previous, params)?;
        }
        report.stages.push(run_stage(&ctx, stage, params)?);
    }
    let summary_path = ctx.layout.root.join("summary.json");
    if let Some(bytes) = store::read_optional(&summary_path)? {
        report.summary = serde_json::from_slice(&bytes).ok();
    }
    Ok(report)
}

/// Record the configuration and inputs on first use; refuse a directory made with others.
fn record_config(job: &Job, layout: &Layout) -> Result<()> {
    let references_digest = {
        let bytes = serde_json::to_vec(&job.references).expect("references serialize");
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes))
    };
    let inputs: Vec<String> = job
        .inputs
        .iter()
        .map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    let record = serde_json::json!({
        "layout_version": LAYOUT_VERSION,
        "inputs": inputs,
        "config": job.config,
        "references": { "count": job.references.len(), "digest": references_digest },
    });
    let text = serde_json::to_string_pretty(&record).expect("config serializes");
    let path = layout.work.join("config.json");
    if store::create_exclusive(&path, text.as_bytes())? {
        return Ok(());
    }
    let existing = std::fs::read(&path).map_err(|err| Error::io("read", &path, err))?;
    let existing: serde_json::Value =
        serde_json::from_slice(&existing).map_err(|err| Error::Corrupt {
            path: path.clone(),
            problem: err.to_string(),
        })?;
    if existing == record {
        return Ok(());
    }
    let difference = ["layout_version", "inputs", "config", "references"]
        .iter()
        .filter(|key| existing.get(**key) != record.get(**key))
        .map(|key| format!("`{key}` differs"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::ConfigMismatch {
        path: layout.root.clone(),
        difference,
    })
}

/// Before `stage`, every item of `previous` must be done: wait for other shards when running
/// all stages, refuse when running one.
fn wait_for(
    ctx: &Context,
    stage: StageName,
    previous: StageName,
    params: &RunParams<'_>,
) -> Result<()> {
    let mut last_note = Instant::now();
    loop {
        let missing = ctx.missing(previous)?;
        if missing.is_empty() {
            return Ok(());
        }
        if params.stage.is_some() || params.shard.count == 1 {
            return Err(Error::NotReady {
                stage: stage.as_str().to_owned(),
                needs: previous.as_str().to_owned(),
                missing: list(&missing),
            });
        }
        if (params.should_stop)() {
            return Err(Error::Stopped);
        }
        if last_note.elapsed() >= Duration::from_secs(30) {
            tracing::info!(
                "waiting for other shards to finish stage `{}` (items {} not done)",
                previous.as_str(),
                list(&missing)
            );
            last_note = Instant::now();
        }
        std::thread::sleep(params.poll);
    }
}

fn list(items: &[usize]) -> String {
    let shown: Vec<String> = items.iter().take(10).map(usize::to_string).collect();
    if items.len() > 10 {
        format!("{} and {} more", shown.join(", "), items.len() - 10)
    } else {
        shown.join(", ")
    }
}

/// Run this shard's items of `stage` on `params.threads` threads.
fn run_stage(ctx: &Context, stage: StageName, params: &RunParams<'_>) -> Result<StageReport> {
    let started = Instant::now();
    check_shard_count(ctx, stage, params)?;
    let items = ctx.items(stage)?;
    let mine: Vec<usize> = (0..items).filter(|&item| params.shard.owns(item)).collect();
    let todo: Vec<usize> = mine
        .iter()
        .copied()
        .filter(|&item| !ctx.done(stage, item))
        .collect();
    let already_done = mine.len() - todo.len();
    if already_done > 0 {
        tracing::info!(
            "stage `{}`: {already_done} of this shard's {} items already done, continuing",
            stage.as_str(),
            mine.len()
        );
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let totals: Mutex<ItemStats> = Mutex::new(ItemStats::default());
    let threads = params.threads.clamp(1, todo.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    if failed.load(Ordering::SeqCst) {
                        return;
                    }
                    let slot = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&item) = todo.get(slot) else {
                        return;
                    };
                    let res = if (params.should_stop)() {
                        Err(Error::Stopped)
                    } else {
                        run_item(ctx, stage, item, params)
                    };
                    match res {
                        Ok(stats) => totals.lock().expect("no panics while held").add(&stats),
                        Err(err) => {
                            failed.store(true, Ordering::SeqCst);
                            let mut slot = first_error.lock().expect("no panics while held");
                            if slot.is_none() {
                                *slot = Some(err);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(err) = first_error.into_inner().expect("no panics while held") {
        return Err(err);
    }
    Ok(StageReport {
        stage,
        items,
        ran: todo.len(),
        already_done,
        stats: totals.into_inner().expect("no panics while held"),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The first process of a stage records the shard count; the others must agree.
fn check_shard_count(ctx: &Context, stage: StageName, params: &RunParams<'_>) -> Result<()> {
    let path = ctx.layout.stage_dir(stage).join("shards.json");
    let given = params.shard.count;
    let record = serde_json::json!({ "count": given }).to_string();
    if store::create_exclusive(&path, record.as_bytes())? {
        return Ok(());
    }
    let existing: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).map_err(|err| Error::io("read", &path, err))?)
            .map_err(|err| Error::Corrupt {
                path: path.clone(),
                problem: err.to_string(),
            })?;
    let recorded = existing["count"].as_u64().unwrap_or(0) as usize;
    if recorded == given {
        return Ok(());
    }
    if params.reshard {
        tracing::warn!(
            "stage `{}`: switching from {recorded} to {given} shards (--reshard)",
            stage.as_str()
        );
        return store::write_atomic(&path, record.as_bytes());
    }
    Err(Error::ShardCountMismatch {
        stage: stage.as_str().to_owned(),
        recorded,
        given,
    })
}

fn run_item(
    ctx: &Context,
    stage: StageName,
    item: usize,
    params: &RunParams<'_>,
) -> Result<ItemStats> {
    let started = Instant::now();
    let mut stats = match stage {
        StageName::Plan => plan(ctx)?,
        StageName::Prepare => prepare::run(ctx, item, params.should_stop)?,
        StageName::Buckets => buckets::run(ctx, item, &params.limits)?,
        StageName::Clusters => clusters::run(ctx, &params.limits)?,
        StageName::Filter => filter::run(ctx, item)?,
        StageName::Summary => filter::summarize(ctx)?,
    };
    stats.seconds = started.elapsed().as_secs_f64();
    let marker = serde_json::to_vec(&stats).expect("stats serialize");
    store::write_atomic(&ctx.layout.marker(stage, item), &marker)?;
    tracing::debug!(stage = stage.as_str(), item, "item done");
    Ok(stats)
}

fn plan(ctx: &Context) -> Result<ItemStats> {
    let plan = crate::input::plan(&ctx.job.inputs, &ctx.job.config)?;
    let dir = ctx.layout.stage_dir(StageName::Plan);
    let mut units = String::new();
    for unit in &plan.units {
        units.push_str(&serde_json::to_string(unit).expect("units serialize"));
        units.push('\n');
    }
    let mut rejects = String::new();
    for reject in &plan.skipped {
        rejects.push_str(&serde_json::to_string(reject).expect("rejects serialize"));
        rejects.push('\n');
    }
    store::write_atomic(&dir.join("rejects.jsonl"), rejects.as_bytes())?;
    store::write_atomic(&dir.join("units.jsonl"), units.as_bytes())?;
    let mut stats = ItemStats::default();
    for reject in &plan.skipped {
        stats.docs_in += 1;
        stats.drop("read", &reject.reason);
    }
    stats.count("units", plan.units.len() as u64);
    Ok(stats)
}
