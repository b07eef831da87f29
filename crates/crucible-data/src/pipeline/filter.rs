//! The `filter` stage (one item per unit): write the unit's kept documents and its side file;
//! and the `summary` stage: counts per stage over every item.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};

use super::{Context, ItemStats, StageName};
use crate::doc::{Action, Document, Reject, Stage};
use crate::output::PartWriter;
use crate::records::{self, DROP_BYTES, Drop};
use crate::store::AtomicFile;
use crate::{Error, Result};

pub(super) fn run(ctx: &Context, unit: usize) -> Result<ItemStats> {
    let layout = &ctx.layout;
    let drops = read_drops(ctx, unit)?;
    let ext = match ctx.job.config.output.format {
        crate::config::Format::Jsonl => "jsonl",
        crate::config::Format::Parquet => "parquet",
    };
    let mut data = PartWriter::create(&layout.data_part(unit, ext), ctx.job.config.output.format)?;
    let mut rejects = AtomicFile::create(&layout.rejects_part(unit))?;
    let prepare_rejects = layout.unit_file(StageName::Prepare, "rejects", unit, "jsonl");
    let bytes =
        std::fs::read(&prepare_rejects).map_err(|err| Error::io("read", &prepare_rejects, err))?;
    rejects.write_all(&bytes)?;
    let docs_path = layout.unit_file(StageName::Prepare, "docs", unit, "bin");
    let mut docs = BufReader::with_capacity(1 << 20, crate::store::open(&docs_path)?);
    let mut id_files: BTreeMap<usize, File> = BTreeMap::new();
    let mut stats = ItemStats::default();
    let mut next_drop = drops.iter().peekable();
    let mut index = 0u32;
    let mut line = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match docs.read_exact(&mut len) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(err) => return Err(Error::io("read", &docs_path, err)),
        }
        line.resize(u32::from_le_bytes(len) as usize, 0);
        docs.read_exact(&mut line).map_err(|_| Error::Corrupt {
            path: docs_path.clone(),
            problem: "truncated document".into(),
        })?;
        let dropped = next_drop.next_if(|d| d.index == index).copied();
        index += 1;
        stats.docs_in += 1;
        match dropped {
            None => {
                data.push_line(&line)?;
                stats.docs_out += 1;
            }
            Some(drop) => {
                let doc: Document =
                    serde_json::from_slice(&line).map_err(|err| Error::Corrupt {
                        path: docs_path.clone(),
                        problem: err.to_string(),
                    })?;
                let kept_id = kept_id(ctx, &mut id_files, drop.kept)?;
                let (stage, reason, detail) = if drop.kind == 1 {
                    (
                        Stage::Exact,
                        "exact_duplicate",
                        format!("same content as an earlier document; kept `{kept_id}`"),
                    )
                } else {
                    (
                        Stage::Near,
                        "near_duplicate",
                        format!(
                            "kept `{kept_id}` of its cluster; estimated Jaccard with it {:.3}",
                            drop.similarity
                        ),
                    )
                };
                stats.drop(stage.as_str(), reason);
                let reject = Reject {
                    stage,
                    action: Action::Dropped,
                    reason: reason.to_owned(),
                    detail,
                    id: Some(doc.id),
                    source: doc.source,
                };
                let mut bytes = serde_json::to_vec(&reject).expect("rejects serialize");
                bytes.push(b'\n');
                rejects.write_all(&bytes)?;
            }
        }
    }
    data.commit()?;
    rejects.commit()?;
    Ok(stats)
}

fn read_drops(ctx: &Context, unit: usize) -> Result<Vec<Drop>> {
    let path = ctx
        .layout
        .unit_file(StageName::Clusters, "drops", unit, "bin");
    let bytes = std::fs::read(&path).map_err(|err| Error::io("read", &path, err))?;
    if bytes.len() % DROP_BYTES != 0 {
        return Err(Error::Corrupt {
            path,
            problem: "size is not a whole number of records".into(),
        });
    }
    Ok(bytes.chunks_exact(DROP_BYTES).map(Drop::decode).collect())
}

fn kept_id(ctx: &Context, files: &mut BTreeMap<usize, File>, key: u64) -> Result<String> {
    let (unit, index) = records::split_key(key);
    let path = ctx.layout.unit_file(StageName::Prepare, "ids", unit, "bin");
    if let std::collections::btree_map::Entry::Vacant(e) = files.entry(unit) {
        e.insert(crate::store::open(&path)?);
    }
    records::read_id(&files[&unit], &path, index)
}

/// Add up every item's counts into `summary.json`, and copy the walk's skips to
/// `rejects/plan.jsonl`.
pub(super) fn summarize(ctx: &Context) -> Result<ItemStats> {
    let plan = ctx.item_stats(StageName::Plan, 0)?;
    let units = ctx.units()?.len();
    let mut prepare = ItemStats::default();
    let mut filter = ItemStats::default();
    for unit in 0..units {
        prepare.add(&ctx.item_stats(StageName::Prepare, unit)?);
        filter.add(&ctx.item_stats(StageName::Filter, unit)?);
    }
    let clusters = ctx.item_stats(StageName::Clusters, 0)?;
    let mut all = ItemStats::default();
    all.add(&plan);
    all.add(&prepare);
    all.add(&clusters);
    let stage_names = [
        "read", "language", "quality", "decontam", "pii", "exact", "near",
    ];
    let mut stages = serde_json::Map::new();
    for name in stage_names {
        let dropped = all.dropped.get(name).cloned().unwrap_or_default();
        let changed = all.changed.get(name).cloned().unwrap_or_default();
        let mut entry = serde_json::json!({
            "dropped": dropped.values().sum::<u64>(),
            "reasons": dropped,
        });
        if !changed.is_empty() {
            entry["changed_documents"] =
                serde_json::json!(all.counters.get("pii_documents").copied().unwrap_or(0));
            entry["redactions"] = serde_json::json!(changed);
        }
        stages.insert(name.to_owned(), entry);
    }
    let by_benchmark: BTreeMap<String, u64> = all
        .counters
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("decontam_").map(|b| (b.to_owned(), *v)))
        .collect();
    stages["decontam"]["by_benchmark"] = serde_json::json!(by_benchmark);
    let near_counters = [
        "candidate_pairs",
        "pairs_joined",
        "pairs_already_joined",
        "pairs_rejected_by_verification",
        "clusters",
        "near_no_signature",
    ];
    for counter in near_counters {
        stages["near"][counter] =
            serde_json::json!(all.counters.get(counter).copied().unwrap_or(0));
    }
    stages["exact"]["hash_collisions"] = serde_json::json!(
        all.counters
            .get("exact_hash_collisions")
            .copied()
            .unwrap_or(0)
    );
    let config = &ctx.job.config;
    let summary = serde_json::json!({
        "units": units,
        "documents_in": plan.docs_in + prepare.docs_in,
        "bytes_in": prepare.bytes_in,
        "documents_out": filter.docs_out,
        "stages": stages,
        "near_dedup": {
            "enabled": config.near.enabled,
            "permutations": crate::minhash::PERMUTATIONS,
            "ngram": config.near.ngram,
            "threshold": config.near.threshold,
            "bands": ctx.banding.bands,
            "rows": ctx.banding.rows,
            "verify": config.near.verify,
        },
        "decontamination_references": ctx.job.references.len(),
        "output_format": config.output.format,
    });
    let mut text = serde_json::to_string_pretty(&summary).expect("summary serializes");
    text.push('\n');
    let plan_rejects = ctx.layout.stage_dir(StageName::Plan).join("rejects.jsonl");
    let bytes =
        std::fs::read(&plan_rejects).map_err(|err| Error::io("read", &plan_rejects, err))?;
    crate::store::write_atomic(&ctx.layout.root.join("rejects").join("plan.jsonl"), &bytes)?;
    crate::store::write_atomic(&ctx.layout.root.join("summary.json"), text.as_bytes())?;
    write_timings(ctx, units)?;
    Ok(ItemStats::default())
}

/// Per-stage wall time and volumes, for benchmarks (kept out of `summary.json` so that
/// summaries compare equal across runs).
fn write_timings(ctx: &Context, units: usize) -> Result<()> {
    let mut stages = serde_json::Map::new();
    for stage in [
        StageName::Plan,
        StageName::Prepare,
        StageName::Buckets,
        StageName::Clusters,
        StageName::Filter,
    ] {
        let items = ctx.items(stage)?;
        let mut total = ItemStats::default();
        for item in 0..items {
            total.add(&ctx.item_stats(stage, item)?);
        }
        stages.insert(
            stage.as_str().to_owned(),
            serde_json::json!({
                "items": items,
                "item_seconds": total.seconds,
                "docs_in": total.docs_in,
                "bytes_in": total.bytes_in,
            }),
        );
    }
    let _ = units;
    let text = serde_json::to_string_pretty(&stages).expect("timings serialize");
    crate::store::write_atomic(&ctx.layout.work.join("timings.json"), text.as_bytes())
}
