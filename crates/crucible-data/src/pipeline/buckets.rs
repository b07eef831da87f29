//! The `buckets` stage, one (group, partition) item at a time: merge every unit's sorted keys
//! for the item and turn each run of equal hashes into candidate pairs, each member paired with
//! the run's first document (its smallest key).
//!
//! Memory: one 16 KiB read buffer per unit plus the item's pairs (16 bytes each, at most one
//! per document in the item).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{Context, ItemStats, StageName};
use crate::records::{self, KeySection};
use crate::{Error, Result};

pub(super) fn run(ctx: &Context, item: usize) -> Result<ItemStats> {
    let units = ctx.units()?.len();
    let layout = &ctx.layout;
    let mut sections = Vec::with_capacity(units);
    for unit in 0..units {
        let path = layout.unit_file(StageName::Prepare, "keys", unit, "bin");
        sections.push((KeySection::open(&path, item)?, path));
    }
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::with_capacity(units);
    for (idx, (section, path)) in sections.iter_mut().enumerate() {
        if let Some((hash, key)) = section
            .next_pair()
            .map_err(|err| Error::io("read", path, err))?
        {
            heap.push(Reverse((hash, key, idx)));
        }
    }
    let mut pairs: Vec<(u64, u64)> = Vec::new();
    let mut run_hash: Option<u64> = None;
    let mut run_first = 0u64;
    let mut keys = 0u64;
    while let Some(Reverse((hash, key, idx))) = heap.pop() {
        keys += 1;
        if run_hash == Some(hash) {
            pairs.push((run_first, key));
        } else {
            run_hash = Some(hash);
            run_first = key;
        }
        let (section, path) = &mut sections[idx];
        if let Some((hash, key)) = section
            .next_pair()
            .map_err(|err| Error::io("read", path, err))?
        {
            heap.push(Reverse((hash, key, idx)));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    records::write_pairs(
        &layout
            .stage_dir(StageName::Buckets)
            .join(format!("pairs-{item:06}.bin")),
        &pairs,
    )?;
    let mut stats = ItemStats::default();
    stats.count("keys", keys);
    stats.count("pairs", pairs.len() as u64);
    Ok(stats)
}
