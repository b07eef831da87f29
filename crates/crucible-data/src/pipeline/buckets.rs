//! The `buckets` stage, one (group, partition) item at a time: merge every unit's sorted keys
//! for the item and turn each run of equal hashes into candidate pairs, each member paired with
//! the run's first document (its smallest key).
//!
//! Memory is bounded whatever the corpus size ([`Limits`]): at most `merge_fan_in` inputs are
//! open at once (with more units, groups of them are first merged into sorted run files under
//! `work/buckets/tmp-ITEM/`, then the runs), and at most `pairs_in_memory` pairs are held (more
//! are sorted and spilled to run files, merged into the item's pairs file at the end). So the
//! stage needs about `merge_fan_in` x 80 KiB of buffers plus 16 bytes x `pairs_in_memory`
//! (64 MiB by default), and disk for one more copy of the item's keys and pairs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};

use super::{Context, ItemStats, Limits, StageName};
use crate::records::{self, KeySection, PairReader};
use crate::store::AtomicFile;
use crate::{Error, Result};

pub(super) fn run(ctx: &Context, item: usize, limits: &Limits) -> Result<ItemStats> {
    let units = ctx.units()?.len();
    let layout = &ctx.layout;
    let mut tmp = Tmp {
        dir: layout
            .stage_dir(StageName::Buckets)
            .join(format!("tmp-{item:06}")),
        next: 0,
    };
    // A killed run may have left runs behind: they are rebuilt, never trusted.
    remove_dir(&tmp.dir)?;
    let fan_in = limits.merge_fan_in.max(2);
    let mut sources: Vec<Source> = Vec::new();
    let mut runs: Vec<PathBuf> = Vec::new();
    // With more units than the fan-in, groups of fan-in - 1 go to runs first, so the last
    // group and the runs together fit in one merge.
    let direct = units <= fan_in;
    for unit in 0..units {
        let path = layout.unit_file(StageName::Prepare, "keys", unit, "bin");
        sources.push(Source::Section(KeySection::open(&path, item)?, path));
        if !direct && sources.len() == fan_in - 1 && unit + 1 < units {
            let run = tmp.name();
            merge_into(std::mem::take(&mut sources), &run)?;
            runs.push(run);
        }
    }
    let key_runs = runs.len() as u64;
    let runs = reduce(runs, fan_in.saturating_sub(sources.len()).max(1), &mut tmp)?;
    for path in &runs {
        sources.push(Source::Run(PairReader::open(path)?));
    }
    let mut pairs = Spill {
        held: Vec::new(),
        cap: limits.pairs_in_memory.max(1),
        runs: Vec::new(),
    };
    let mut run_hash: Option<u64> = None;
    let mut run_first = 0u64;
    let mut keys = 0u64;
    merge(sources, |hash, key| {
        keys += 1;
        if run_hash == Some(hash) {
            pairs.push((run_first, key), &mut tmp)
        } else {
            run_hash = Some(hash);
            run_first = key;
            Ok(())
        }
    })?;
    let out = layout
        .stage_dir(StageName::Buckets)
        .join(format!("pairs-{item:06}.bin"));
    let (written, spills) = pairs.finish(&out, fan_in, &mut tmp)?;
    remove_dir(&tmp.dir)?;
    let mut stats = ItemStats::default();
    stats.count("keys", keys);
    stats.count("pairs", written);
    stats.count("pair_spills", spills);
    stats.count("key_runs", key_runs);
    Ok(stats)
}

/// Names for an item's temporary run files.
struct Tmp {
    dir: PathBuf,
    next: usize,
}

impl Tmp {
    fn name(&mut self) -> PathBuf {
        self.next += 1;
        self.dir.join(format!("run-{:06}.bin", self.next))
    }
}

/// Merge groups of runs (at most `fit`, at least 2, at a time) until at most `fit` are left.
fn reduce(mut runs: Vec<PathBuf>, fit: usize, tmp: &mut Tmp) -> Result<Vec<PathBuf>> {
    let group = fit.max(2);
    while runs.len() > fit {
        let take = group.min(runs.len());
        let merged: Vec<PathBuf> = runs.drain(..take).collect();
        let sources = merged
            .iter()
            .map(|path| Ok(Source::Run(PairReader::open(path)?)))
            .collect::<Result<Vec<_>>>()?;
        let run = tmp.name();
        merge_into(sources, &run)?;
        for path in &merged {
            remove_file(path)?;
        }
        runs.push(run);
    }
    Ok(runs)
}

/// A sorted stream of `(u64, u64)`: a section of a unit's keys file, or a run file.
enum Source {
    Section(KeySection, PathBuf),
    Run(PairReader),
}

impl Source {
    fn next(&mut self) -> Result<Option<(u64, u64)>> {
        match self {
            Source::Section(section, path) => section
                .next_pair()
                .map_err(|err| Error::io("read", path, err)),
            Source::Run(reader) => reader.next_pair(),
        }
    }
}

/// K-way merge of sorted sources, in order, into `each`.
fn merge(mut sources: Vec<Source>, mut each: impl FnMut(u64, u64) -> Result<()>) -> Result<()> {
    let mut heap: BinaryHeap<Reverse<((u64, u64), usize)>> =
        BinaryHeap::with_capacity(sources.len());
    for (idx, source) in sources.iter_mut().enumerate() {
        if let Some(pair) = source.next()? {
            heap.push(Reverse((pair, idx)));
        }
    }
    while let Some(Reverse(((a, b), idx))) = heap.pop() {
        each(a, b)?;
        if let Some(pair) = sources[idx].next()? {
            heap.push(Reverse((pair, idx)));
        }
    }
    Ok(())
}

/// Merge sorted sources into one sorted file without repeats; returns the records written.
fn merge_into(sources: Vec<Source>, path: &Path) -> Result<u64> {
    let mut file = AtomicFile::create(path)?;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut last: Option<(u64, u64)> = None;
    let mut written = 0u64;
    merge(sources, |a, b| {
        if last == Some((a, b)) {
            return Ok(());
        }
        last = Some((a, b));
        written += 1;
        buf.extend_from_slice(&a.to_le_bytes());
        buf.extend_from_slice(&b.to_le_bytes());
        if buf.len() >= 1 << 16 {
            file.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    file.write_all(&buf)?;
    file.commit()?;
    Ok(written)
}

/// Pairs held in memory up to a cap, spilled to sorted run files beyond it; finished as one
/// sorted, duplicate-free file.
struct Spill {
    held: Vec<(u64, u64)>,
    cap: usize,
    runs: Vec<PathBuf>,
}

impl Spill {
    fn push(&mut self, pair: (u64, u64), tmp: &mut Tmp) -> Result<()> {
        self.held.push(pair);
        if self.held.len() >= self.cap {
            self.spill(tmp)?;
        }
        Ok(())
    }

    fn spill(&mut self, tmp: &mut Tmp) -> Result<()> {
        self.held.sort_unstable();
        self.held.dedup();
        let path = tmp.name();
        records::write_pairs(&path, &self.held)?;
        self.held = Vec::new();
        self.runs.push(path);
        Ok(())
    }

    /// Write everything, sorted and unique, to `path`: (pairs written, runs spilled).
    fn finish(mut self, path: &Path, fan_in: usize, tmp: &mut Tmp) -> Result<(u64, u64)> {
        if self.runs.is_empty() {
            self.held.sort_unstable();
            self.held.dedup();
            records::write_pairs(path, &self.held)?;
            return Ok((self.held.len() as u64, 0));
        }
        let spills = self.runs.len() as u64;
        if !self.held.is_empty() {
            self.spill(tmp)?;
        }
        let runs = reduce(std::mem::take(&mut self.runs), fan_in, tmp)?;
        let sources = runs
            .iter()
            .map(|p| Ok(Source::Run(PairReader::open(p)?)))
            .collect::<Result<Vec<_>>>()?;
        let written = merge_into(sources, path)?;
        Ok((written, spills))
    }
}

fn remove_dir(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io("remove", path, err)),
    }
}

fn remove_file(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|err| Error::io("remove", path, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(path: &Path) -> Vec<(u64, u64)> {
        let mut reader = PairReader::open(path).unwrap();
        let mut out = Vec::new();
        while let Some(pair) = reader.next_pair().unwrap() {
            out.push(pair);
        }
        out
    }

    #[test]
    fn spilled_pairs_come_out_sorted_and_unique_like_held_ones() {
        let dir = tempfile::tempdir().unwrap();
        let pairs: Vec<(u64, u64)> = (0..1000u64).map(|i| ((i * 7919) % 97, i % 13)).collect();
        let mut expected = pairs.clone();
        expected.sort_unstable();
        expected.dedup();
        for (cap, fan_in) in [(1, 2), (3, 5), (64, 2), (64, 128), (10_000, 2)] {
            let mut tmp = Tmp {
                dir: dir.path().join(format!("runs-{cap}-{fan_in}")),
                next: 0,
            };
            let mut spill = Spill {
                held: Vec::new(),
                cap,
                runs: Vec::new(),
            };
            for pair in &pairs {
                spill.push(*pair, &mut tmp).unwrap();
            }
            let out = dir.path().join(format!("out-{cap}-{fan_in}.bin"));
            let (written, spills) = spill.finish(&out, fan_in, &mut tmp).unwrap();
            assert_eq!(read_all(&out), expected, "cap {cap}");
            assert_eq!(written, expected.len() as u64);
            assert_eq!(spills > 0, cap < pairs.len(), "cap {cap}: {spills} spills");
        }
    }
}
