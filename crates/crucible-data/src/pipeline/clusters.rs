//! The `clusters` stage (one item): union-find over the candidate pairs, and for every unit the
//! list of documents to drop with the document kept in their place.
//!
//! Exact pairs are joined when their 128-bit content hashes agree. Near pairs are joined when
//! their full-signature Jaccard estimate reaches the threshold (`near.verify`; without it every
//! candidate is joined), and are not looked at when the two are already in one cluster. The
//! root of a cluster is its smallest document number, i.e. the first in input order: that one
//! is kept, whatever the shard count.
//!
//! Memory: 4 bytes per kept document for the union-find parent (the index: 4 MB per million
//! documents), 1 bit for the exact flag, one read buffer per bucket item, and at most
//! `merge_fan_in` open work files for signature lookups.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::{Context, ItemStats, Limits, StageName};
use crate::minhash::{PERMUTATIONS, Signature, estimate_jaccard};
use crate::records::{self, Drop, META_BYTES, Meta, PairReader};
use crate::store::AtomicFile;
use crate::{Error, Result};

pub(super) fn run(ctx: &Context, limits: &Limits) -> Result<ItemStats> {
    let units = ctx.units()?.len();
    let mut offsets = Vec::with_capacity(units + 1);
    offsets.push(0u64);
    for unit in 0..units {
        let kept = ctx.item_stats(StageName::Prepare, unit)?.docs_out;
        offsets.push(offsets[unit] + kept);
    }
    let total = *offsets.last().expect("one offset at least");
    if total > u64::from(u32::MAX) {
        return Err(Error::Config(format!(
            "{total} documents are more than one clusters stage handles (4294967295); split the corpus"
        )));
    }
    let mut graph = Graph {
        parent: (0..total as u32).collect(),
        exact: vec![0u64; (total as usize).div_ceil(64)],
        offsets,
        files: Files::new(ctx, units, limits.merge_fan_in.max(2)),
    };
    let mut stats = ItemStats::default();
    let config = &ctx.job.config;
    let partitions = config.near.partitions;
    let exact_items = if config.exact.enabled { partitions } else { 0 };
    let pairs_path = |item: usize| {
        ctx.layout
            .stage_dir(StageName::Buckets)
            .join(format!("pairs-{item:06}.bin"))
    };
    for item in 0..exact_items {
        let mut reader = PairReader::open(&pairs_path(item))?;
        while let Some((a, b)) = reader.next_pair()? {
            let (oa, ob) = (graph.ordinal(a), graph.ordinal(b));
            if graph.files.meta(a)?.content_hash == graph.files.meta(b)?.content_hash {
                graph.union(oa, ob);
                graph.exact[ob as usize / 64] |= 1 << (ob % 64);
                stats.count("exact_pairs", 1);
            } else {
                stats.count("exact_hash_collisions", 1);
            }
        }
    }
    let band_items = ctx.bucket_groups() * partitions;
    let mut readers = Vec::new();
    for item in exact_items..band_items {
        readers.push(PairReader::open(&pairs_path(item))?);
    }
    let mut heap: BinaryHeap<Reverse<((u64, u64), usize)>> = BinaryHeap::new();
    for (idx, reader) in readers.iter_mut().enumerate() {
        if let Some(pair) = reader.next_pair()? {
            heap.push(Reverse((pair, idx)));
        }
    }
    let threshold = config.near.threshold;
    let mut last: Option<(u64, u64)> = None;
    while let Some(Reverse((pair, idx))) = heap.pop() {
        if let Some(next) = readers[idx].next_pair()? {
            heap.push(Reverse((next, idx)));
        }
        if last == Some(pair) {
            continue;
        }
        last = Some(pair);
        let (a, b) = pair;
        stats.count("candidate_pairs", 1);
        let (oa, ob) = (graph.ordinal(a), graph.ordinal(b));
        if graph.find(oa) == graph.find(ob) {
            stats.count("pairs_already_joined", 1);
            continue;
        }
        if config.near.verify {
            let similarity =
                estimate_jaccard(&graph.files.signature(a)?, &graph.files.signature(b)?);
            if similarity < threshold {
                stats.count("pairs_rejected_by_verification", 1);
                continue;
            }
        }
        stats.count("pairs_joined", 1);
        graph.union(oa, ob);
    }
    write_drops(ctx, &mut graph, &mut stats)?;
    Ok(stats)
}

fn write_drops(ctx: &Context, graph: &mut Graph, stats: &mut ItemStats) -> Result<()> {
    let units = graph.offsets.len() - 1;
    let mut roots_with_members = std::collections::HashSet::new();
    for unit in 0..units {
        let path = ctx
            .layout
            .unit_file(StageName::Clusters, "drops", unit, "bin");
        let mut file = AtomicFile::create(&path)?;
        let (start, end) = (graph.offsets[unit], graph.offsets[unit + 1]);
        for ordinal in start..end {
            let ordinal = ordinal as u32;
            let root = graph.find(ordinal);
            if root == ordinal {
                continue;
            }
            roots_with_members.insert(root);
            let exact = graph.exact[ordinal as usize / 64] & (1 << (ordinal % 64)) != 0;
            let kept = graph.key(root);
            let own = graph.key(ordinal);
            let similarity = if exact {
                1.0
            } else {
                estimate_jaccard(&graph.files.signature(own)?, &graph.files.signature(kept)?) as f32
            };
            let drop = Drop {
                index: (u64::from(ordinal) - start) as u32,
                kind: if exact { 1 } else { 2 },
                kept,
                similarity,
            };
            file.write_all(&drop.encode())?;
            stats.drop(
                if exact { "exact" } else { "near" },
                if exact {
                    "exact_duplicate"
                } else {
                    "near_duplicate"
                },
            );
        }
        file.commit()?;
    }
    stats.count("clusters", roots_with_members.len() as u64);
    Ok(())
}

struct Graph {
    parent: Vec<u32>,
    exact: Vec<u64>,
    offsets: Vec<u64>,
    files: Files,
}

impl Graph {
    fn ordinal(&self, key: u64) -> u32 {
        let (unit, index) = records::split_key(key);
        (self.offsets[unit] + index as u64) as u32
    }

    fn key(&self, ordinal: u32) -> u64 {
        let unit = self
            .offsets
            .partition_point(|&start| start <= u64::from(ordinal))
            - 1;
        records::key(unit, (u64::from(ordinal) - self.offsets[unit]) as usize)
    }

    /// Root with path halving.
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Join two clusters under the smaller root, so a root is always its cluster's minimum.
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (low, high) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[high as usize] = low;
        }
    }
}

/// Random access to signatures and content hashes, files opened on first use; when `max_open`
/// are open, all are closed before the next is opened (so the count of open files stays
/// bounded however many units there are).
struct Files {
    sigs: Vec<Option<File>>,
    metas: Vec<Option<File>>,
    sig_paths: Vec<PathBuf>,
    meta_paths: Vec<PathBuf>,
    open: usize,
    max_open: usize,
}

impl Files {
    fn new(ctx: &Context, units: usize, max_open: usize) -> Self {
        let path = |name, unit| ctx.layout.unit_file(StageName::Prepare, name, unit, "bin");
        Files {
            sigs: (0..units).map(|_| None).collect(),
            metas: (0..units).map(|_| None).collect(),
            sig_paths: (0..units).map(|u| path("sigs", u)).collect(),
            meta_paths: (0..units).map(|u| path("meta", u)).collect(),
            open: 0,
            max_open,
        }
    }

    /// Make room for one more open file.
    fn room(&mut self, sig: bool, unit: usize) {
        let slot = if sig {
            &self.sigs[unit]
        } else {
            &self.metas[unit]
        };
        if slot.is_some() || self.open < self.max_open {
            return;
        }
        for slot in self.sigs.iter_mut().chain(self.metas.iter_mut()) {
            *slot = None;
        }
        self.open = 0;
    }

    fn signature(&mut self, key: u64) -> Result<Signature> {
        let (unit, index) = records::split_key(key);
        self.room(true, unit);
        let mut bytes = [0u8; PERMUTATIONS * 4];
        self.open += read_at(
            &mut self.sigs[unit],
            &self.sig_paths[unit],
            &mut bytes,
            (index * PERMUTATIONS * 4) as u64,
        )?;
        let mut sig = [0u32; PERMUTATIONS];
        for (idx, value) in sig.iter_mut().enumerate() {
            *value = u32::from_le_bytes(bytes[idx * 4..idx * 4 + 4].try_into().expect("4 bytes"));
        }
        Ok(sig)
    }

    fn meta(&mut self, key: u64) -> Result<Meta> {
        let (unit, index) = records::split_key(key);
        self.room(false, unit);
        let mut bytes = [0u8; META_BYTES];
        self.open += read_at(
            &mut self.metas[unit],
            &self.meta_paths[unit],
            &mut bytes,
            (index * META_BYTES) as u64,
        )?;
        Ok(Meta::decode(&bytes))
    }
}

/// Read `buf` at `offset`, opening the file first if needed; returns how many files it opened.
fn read_at(
    slot: &mut Option<File>,
    path: &std::path::Path,
    buf: &mut [u8],
    offset: u64,
) -> Result<usize> {
    let mut opened = 0;
    if slot.is_none() {
        *slot = Some(crate::store::open(path)?);
        opened = 1;
    }
    slot.as_ref()
        .expect("opened above")
        .read_exact_at(buf, offset)
        .map_err(|err| Error::Corrupt {
            path: path.to_path_buf(),
            problem: format!("short read at {offset}: {err}"),
        })?;
    Ok(opened)
}
