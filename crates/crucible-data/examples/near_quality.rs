//! Near-duplicate quality against exact Jaccard: precision, recall and F1 of the pipeline's
//! pair decision (share a band of the chosen banding, and, with verification, a full-signature
//! estimate at or above the threshold) on a sample of candidate pairs and of random pairs.
//!
//! The candidate universe comes from a permissive probe banding (64 bands of 4 rows: a pair at
//! Jaccard 0.7 shares a band with probability 1 - 1e-7), so pairs the real banding misses are
//! in it and count against recall.
//!
//! Usage: `cargo run --release -p crucible-data --example near_quality -- corpus.jsonl [pairs]`
//! (the JSON Lines file has the text in `content` or `text`).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example that prints its figures"
)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use crucible_data::minhash::{
    Banding, MinHasher, Signature, estimate_jaccard, exact_jaccard, shingle_set,
};

const THRESHOLD: f64 = 0.7;
const NGRAM: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: near_quality CORPUS.jsonl [PAIRS]")?;
    let wanted: usize = args.next().map_or(Ok(20_000), |n| n.parse())?;
    let hasher = MinHasher::new(NGRAM, 1);
    let banding = Banding::optimal(THRESHOLD, 256, 0.5, 0.5);
    let probe = Banding { bands: 64, rows: 4 };
    // Pass 1: signatures and line offsets.
    let mut offsets = Vec::new();
    let mut sigs: Vec<Signature> = Vec::new();
    let mut reader = BufReader::new(std::fs::File::open(&path)?);
    let mut offset = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 {
            break;
        }
        let text = doc_text(&line)?;
        if let Some(sig) = hasher.signature(&text) {
            offsets.push(offset);
            sigs.push(sig);
        }
        offset += read as u64;
    }
    let n = sigs.len();
    eprintln!("{n} documents with signatures; banding {banding:?}");
    // Probe candidates: pairs sharing a probe band (each group paired with its first member and
    // its neighbours, capped so a huge bucket cannot explode the universe).
    let mut universe: HashSet<(u32, u32)> = HashSet::new();
    for band in 0..probe.bands {
        let mut buckets: HashMap<u64, Vec<u32>> = HashMap::new();
        for (idx, sig) in sigs.iter().enumerate() {
            buckets
                .entry(probe.band_hash(sig, band))
                .or_default()
                .push(idx as u32);
        }
        for members in buckets.values().filter(|m| m.len() > 1) {
            for (i, &a) in members.iter().enumerate().take(64) {
                for &b in members.iter().skip(i + 1).take(64) {
                    universe.insert((a, b));
                }
            }
        }
    }
    let mut universe: Vec<(u32, u32)> = universe.into_iter().collect();
    universe.sort_unstable();
    let mut state = 42u64;
    let mut rand = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut sample: Vec<(u32, u32, &str)> = Vec::new();
    for _ in 0..wanted.min(universe.len()) {
        let (a, b) = universe[(rand() % universe.len() as u64) as usize];
        sample.push((a, b, "candidate"));
    }
    for _ in 0..wanted {
        let a = (rand() % n as u64) as u32;
        let b = (rand() % n as u64) as u32;
        if a != b {
            sample.push((a.min(b), a.max(b), "random"));
        }
    }
    let mut file = std::fs::File::open(&path)?;
    let mut shingles: HashMap<u32, HashSet<u64>> = HashMap::new();
    let mut counts: HashMap<(&str, &str), [u64; 4]> = HashMap::new(); // tp fp fn tn
    for (a, b, kind) in &sample {
        for idx in [*a, *b] {
            if let std::collections::hash_map::Entry::Vacant(e) = shingles.entry(idx) {
                let text = read_doc(&mut file, offsets[idx as usize])?;
                e.insert(shingle_set(&text, NGRAM));
            }
        }
        let truth = exact_jaccard(&shingles[a], &shingles[b]) >= THRESHOLD;
        let (sa, sb) = (&sigs[*a as usize], &sigs[*b as usize]);
        let candidate = (0..banding.bands)
            .any(|band| banding.band_hash(sa, band) == banding.band_hash(sb, band));
        let verified = candidate && estimate_jaccard(sa, sb) >= THRESHOLD;
        for (rule, predicted) in [("banding", candidate), ("banding+verify", verified)] {
            let cell = counts.entry((kind, rule)).or_default();
            let slot = match (predicted, truth) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            };
            cell[slot] += 1;
        }
    }
    println!("universe of probe candidate pairs: {}", universe.len());
    for rule in ["banding", "banding+verify"] {
        let mut total = [0u64; 4];
        for kind in ["candidate", "random"] {
            let cell = counts.get(&(kind, rule)).copied().unwrap_or_default();
            for i in 0..4 {
                total[i] += cell[i];
            }
            println!(
                "{rule:15} {kind:9} tp {} fp {} fn {} tn {}",
                cell[0], cell[1], cell[2], cell[3]
            );
        }
        let precision = total[0] as f64 / (total[0] + total[1]).max(1) as f64;
        let recall = total[0] as f64 / (total[0] + total[2]).max(1) as f64;
        let f1 = 2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE);
        println!(
            "{rule:15} precision {precision:.4} recall {recall:.4} F1 {f1:.4} (pairs {})",
            total.iter().sum::<u64>()
        );
    }
    Ok(())
}

fn doc_text(line: &str) -> Result<String, Box<dyn std::error::Error>> {
    let value: serde_json::Value = serde_json::from_str(line)?;
    let text = value
        .get("content")
        .or_else(|| value.get("text"))
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    Ok(text.to_owned())
}

fn read_doc(file: &mut std::fs::File, offset: u64) -> Result<String, Box<dyn std::error::Error>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file.by_ref());
    let mut line = String::new();
    reader.read_line(&mut line)?;
    doc_text(&line)
}
