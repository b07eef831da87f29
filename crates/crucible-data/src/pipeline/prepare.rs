//! The `prepare` stage, one unit at a time: read the documents, run the per-document stages
//! (language, quality, decontamination, PII), and write what the global stages need: the kept
//! documents, their ids, content hashes and signatures, and sorted bucket keys.

use xxhash_rust::xxh3::xxh3_128;

use super::{Context, ItemStats, StageName};
use crate::doc::{Action, Document, Reject, Stage};
use crate::minhash::PERMUTATIONS;
use crate::records::{self, Meta};
use crate::store::AtomicFile;
use crate::{Error, Result, lang, pii, quality};

/// Everything written for one unit, held until the unit is done (a unit is bounded by
/// `input.unit_bytes`, so this is too).
struct Outputs {
    docs: AtomicFile,
    sigs: AtomicFile,
    meta: AtomicFile,
    rejects: AtomicFile,
    ids: Vec<String>,
    sections: Vec<Vec<(u64, u64)>>,
}

pub(super) fn run(
    ctx: &Context,
    unit_idx: usize,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<ItemStats> {
    let units = ctx.units()?;
    let unit = &units[unit_idx];
    let layout = &ctx.layout;
    let stage = StageName::Prepare;
    let config = &ctx.job.config;
    let decontam = if config.decontam.enabled {
        Some(ctx.decontam()?)
    } else {
        None
    };
    let partitions = config.near.partitions;
    let mut out = Outputs {
        docs: AtomicFile::create(&layout.unit_file(stage, "docs", unit_idx, "bin"))?,
        sigs: AtomicFile::create(&layout.unit_file(stage, "sigs", unit_idx, "bin"))?,
        meta: AtomicFile::create(&layout.unit_file(stage, "meta", unit_idx, "bin"))?,
        rejects: AtomicFile::create(&layout.unit_file(stage, "rejects", unit_idx, "jsonl"))?,
        ids: Vec::new(),
        sections: vec![Vec::new(); ctx.bucket_groups() * partitions],
    };
    let mut stats = ItemStats::default();
    let mut failure: Option<Error> = None;
    let mut stopped = false;
    crate::input::read_unit(unit, config, &mut |item| {
        if should_stop() {
            stopped = true;
            return false;
        }
        let res = match item {
            Ok(doc) => process(
                ctx,
                decontam.as_deref(),
                unit_idx,
                doc,
                &mut out,
                &mut stats,
            ),
            Err(reject) => {
                stats.docs_in += 1;
                stats.drop("read", &reject.reason);
                write_reject(&mut out.rejects, &reject)
            }
        };
        match res {
            Ok(()) => true,
            Err(err) => {
                failure = Some(err);
                false
            }
        }
    });
    if let Some(err) = failure {
        return Err(err);
    }
    if stopped {
        return Err(Error::Stopped);
    }
    records::write_ids(&layout.unit_file(stage, "ids", unit_idx, "bin"), &out.ids)?;
    records::write_keys(
        &layout.unit_file(stage, "keys", unit_idx, "bin"),
        out.sections,
    )?;
    out.docs.commit()?;
    out.sigs.commit()?;
    out.meta.commit()?;
    out.rejects.commit()?;
    Ok(stats)
}

fn process(
    ctx: &Context,
    decontam: Option<&crate::decontam::Index>,
    unit_idx: usize,
    mut doc: Document,
    out: &mut Outputs,
    stats: &mut ItemStats,
) -> Result<()> {
    let config = &ctx.job.config;
    stats.docs_in += 1;
    stats.bytes_in += doc.text.len() as u64;
    if config.language.enabled {
        if doc.language.is_none() {
            let name = if doc.source.contains('/') {
                &doc.source
            } else {
                &doc.id
            };
            doc.language = lang::detect(name, &doc.text).map(str::to_owned);
        }
        let allow = &config.language.allow;
        let allowed = match &doc.language {
            _ if allow.is_empty() => true,
            Some(language) => allow.iter().any(|a| a.eq_ignore_ascii_case(language)),
            None => config.language.keep_unknown,
        };
        if !allowed {
            let shown = doc.language.clone().unwrap_or_else(|| "unknown".to_owned());
            return drop_doc(
                out,
                stats,
                Stage::Language,
                "not_allowed",
                format!("language `{shown}` is not in language.allow"),
                &doc,
            );
        }
    }
    if config.quality.enabled
        && let Some(failure) = quality::check(&config.quality, &doc.id, &doc.text)
    {
        return drop_doc(
            out,
            stats,
            Stage::Quality,
            failure.reason,
            failure.detail,
            &doc,
        );
    }
    if let Some(index) = decontam
        && let Some(hit) = index.check(&doc.text)
    {
        let reference = index.reference(hit.reference);
        let detail = format!(
            "{} {} `{}` ({}, overlap {:.2})",
            reference.benchmark, reference.field, reference.task_id, hit.method, hit.overlap
        );
        stats.count(&format!("decontam_{}", reference.benchmark), 1);
        return drop_doc(out, stats, Stage::Decontam, hit.method, detail, &doc);
    }
    if config.pii.enabled {
        let spans = pii::find(&config.pii, &doc.text);
        if !spans.is_empty() {
            let mut kinds: std::collections::BTreeMap<&str, u64> =
                std::collections::BTreeMap::new();
            for span in &spans {
                *kinds.entry(span.kind.as_str()).or_default() += 1;
            }
            let detail = kinds
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect::<Vec<_>>()
                .join(", ");
            for (kind, n) in &kinds {
                stats.change("pii", kind, *n);
            }
            stats.count("pii_documents", 1);
            doc.text = pii::redact(&doc.text, &spans);
            let reject = Reject {
                stage: Stage::Pii,
                action: Action::Changed,
                reason: "redacted".to_owned(),
                detail: format!("redacted {detail}"),
                id: Some(doc.id.clone()),
                source: doc.source.clone(),
            };
            write_reject(&mut out.rejects, &reject)?;
        }
    }
    keep(ctx, unit_idx, doc, out, stats)
}

fn keep(
    ctx: &Context,
    unit_idx: usize,
    doc: Document,
    out: &mut Outputs,
    stats: &mut ItemStats,
) -> Result<()> {
    let config = &ctx.job.config;
    let index = out.ids.len();
    let key = records::key(unit_idx, index);
    let partitions = config.near.partitions;
    let content_hash = xxh3_128(doc.text.as_bytes());
    let mut group = 0;
    if config.exact.enabled {
        let hash = (content_hash >> 64) as u64;
        out.sections[partition(hash, partitions)].push((hash, key));
        group += 1;
    }
    let signature = if config.near.enabled {
        ctx.hasher.signature(&doc.text)
    } else {
        None
    };
    if let Some(sig) = &signature {
        for band in 0..ctx.banding.bands {
            let hash = ctx.banding.band_hash(sig, band);
            out.sections[(group + band) * partitions + partition(hash, partitions)]
                .push((hash, key));
        }
    } else if config.near.enabled {
        stats.count("near_no_signature", 1);
    }
    let has_signature = signature.is_some();
    let sig = signature.unwrap_or([u32::MAX; PERMUTATIONS]);
    let mut sig_bytes = [0u8; PERMUTATIONS * 4];
    for (idx, value) in sig.iter().enumerate() {
        sig_bytes[idx * 4..idx * 4 + 4].copy_from_slice(&value.to_le_bytes());
    }
    out.sigs.write_all(&sig_bytes)?;
    let meta = Meta {
        content_hash,
        has_signature,
    };
    out.meta.write_all(&meta.encode())?;
    let line = serde_json::to_vec(&doc).expect("documents serialize");
    out.docs.write_all(&(line.len() as u32).to_le_bytes())?;
    out.docs.write_all(&line)?;
    stats.docs_out += 1;
    stats.bytes_out += doc.text.len() as u64;
    out.ids.push(doc.id);
    Ok(())
}

/// Range partition on the top bits, so each partition's keys stay sorted by hash.
pub(super) fn partition(hash: u64, partitions: usize) -> usize {
    (((hash >> 32) * partitions as u64) >> 32) as usize
}

fn drop_doc(
    out: &mut Outputs,
    stats: &mut ItemStats,
    stage: Stage,
    reason: &str,
    detail: String,
    doc: &Document,
) -> Result<()> {
    stats.drop(stage.as_str(), reason);
    write_reject(
        &mut out.rejects,
        &Reject::dropped(stage, reason, detail, doc),
    )
}

fn write_reject(file: &mut AtomicFile, reject: &Reject) -> Result<()> {
    let mut line = serde_json::to_vec(reject).expect("rejects serialize");
    line.push(b'\n');
    file.write_all(&line)?;
    Ok(())
}
