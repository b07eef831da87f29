//! The binary work files between stages, all little-endian and fixed-width where random access
//! is needed:
//!
//! - `keys-U.bin`: per unit, one sorted section of `(hash: u64, key: u64)` per bucket item,
//!   behind a header of section offsets (`KEYS` magic, section count, `(offset, len)` pairs).
//! - `sigs-U.bin`: per unit, one 1 KiB MinHash signature per kept document, by index.
//! - `meta-U.bin`: per unit, per kept document: 128-bit content hash and a has-signature flag.
//! - `ids-U.bin`: per unit, the kept documents' ids: count, offsets, then the bytes.
//! - `edges-I.bin`: per bucket item, sorted unique `(a: u64, b: u64)` candidate pairs.
//! - `drops-U.bin`: per unit, `(index: u32, kind: u8, kept: u64, similarity: f32)`.
//!
//! A key is `unit << 32 | index`: the document's place in input order.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::store::AtomicFile;
use crate::{Error, Result};

const KEYS_MAGIC: &[u8; 8] = b"CRKEYS01";

/// A document key from its unit and index.
pub(crate) fn key(unit: usize, index: usize) -> u64 {
    ((unit as u64) << 32) | index as u64
}

/// The unit and index of a key.
pub(crate) fn split_key(key: u64) -> (usize, usize) {
    ((key >> 32) as usize, (key & 0xffff_ffff) as usize)
}

/// Write a keys file: each section sorted here.
pub(crate) fn write_keys(path: &Path, mut sections: Vec<Vec<(u64, u64)>>) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    let header_len = 16 + sections.len() as u64 * 16;
    let mut header = Vec::with_capacity(header_len as usize);
    header.extend_from_slice(KEYS_MAGIC);
    header.extend_from_slice(&(sections.len() as u64).to_le_bytes());
    let mut offset = header_len;
    for section in &mut sections {
        section.sort_unstable();
        header.extend_from_slice(&offset.to_le_bytes());
        header.extend_from_slice(&(section.len() as u64).to_le_bytes());
        offset += section.len() as u64 * 16;
    }
    file.write_all(&header)?;
    let mut buf = Vec::with_capacity(1 << 16);
    for section in &sections {
        for (hash, key) in section {
            buf.extend_from_slice(&hash.to_le_bytes());
            buf.extend_from_slice(&key.to_le_bytes());
            if buf.len() >= 1 << 16 {
                file.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    file.write_all(&buf)?;
    file.commit()
}

/// A streaming reader of one section of a keys file.
#[derive(Debug)]
pub(crate) struct KeySection {
    reader: BufReader<File>,
    remaining: u64,
}

impl KeySection {
    /// Open section `section` of `path`.
    pub(crate) fn open(path: &Path, section: usize) -> Result<Self> {
        let mut file = crate::store::open(path)?;
        let corrupt = |problem: &str| Error::Corrupt {
            path: path.to_path_buf(),
            problem: problem.to_owned(),
        };
        let mut head = [0u8; 16];
        file.read_exact(&mut head)
            .map_err(|_| corrupt("short header"))?;
        if &head[..8] != KEYS_MAGIC {
            return Err(corrupt("bad magic"));
        }
        let count = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
        if section as u64 >= count {
            return Err(corrupt(&format!(
                "has {count} sections, section {section} asked for: was the configuration changed?"
            )));
        }
        let mut entry = [0u8; 16];
        file.read_exact_at(&mut entry, 16 + section as u64 * 16)
            .map_err(|_| corrupt("short section table"))?;
        let offset = u64::from_le_bytes(entry[..8].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(entry[8..].try_into().expect("8 bytes"));
        file.seek(SeekFrom::Start(offset))
            .map_err(|err| Error::io("seek", path, err))?;
        Ok(KeySection {
            reader: BufReader::with_capacity(16 << 10, file),
            remaining: len,
        })
    }

    /// The next `(hash, key)`, `None` at the end.
    pub(crate) fn next_pair(&mut self) -> std::io::Result<Option<(u64, u64)>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let mut rec = [0u8; 16];
        self.reader.read_exact(&mut rec)?;
        self.remaining -= 1;
        Ok(Some(pair(&rec)))
    }
}

/// Write sorted, unique pairs.
pub(crate) fn write_pairs(path: &Path, pairs: &[(u64, u64)]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    let mut buf = Vec::with_capacity(1 << 16);
    for (a, b) in pairs {
        buf.extend_from_slice(&a.to_le_bytes());
        buf.extend_from_slice(&b.to_le_bytes());
        if buf.len() >= 1 << 16 {
            file.write_all(&buf)?;
            buf.clear();
        }
    }
    file.write_all(&buf)?;
    file.commit()
}

/// A streaming reader of a pairs file.
#[derive(Debug)]
pub(crate) struct PairReader {
    reader: BufReader<File>,
    path: std::path::PathBuf,
}

impl PairReader {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Ok(PairReader {
            reader: BufReader::with_capacity(64 << 10, crate::store::open(path)?),
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn next_pair(&mut self) -> Result<Option<(u64, u64)>> {
        let mut rec = [0u8; 16];
        match self.reader.read_exact(&mut rec) {
            Ok(()) => Ok(Some(pair(&rec))),
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(err) => Err(Error::io("read", &self.path, err)),
        }
    }
}

fn pair(rec: &[u8; 16]) -> (u64, u64) {
    (
        u64::from_le_bytes(rec[..8].try_into().expect("8 bytes")),
        u64::from_le_bytes(rec[8..].try_into().expect("8 bytes")),
    )
}

/// Per-document facts kept for the cluster stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) content_hash: u128,
    pub(crate) has_signature: bool,
}

/// Bytes per [`Meta`] record.
pub(crate) const META_BYTES: usize = 24;

impl Meta {
    pub(crate) fn encode(&self) -> [u8; META_BYTES] {
        let mut out = [0u8; META_BYTES];
        out[..16].copy_from_slice(&self.content_hash.to_le_bytes());
        out[16] = u8::from(self.has_signature);
        out
    }

    pub(crate) fn decode(bytes: &[u8; META_BYTES]) -> Self {
        Meta {
            content_hash: u128::from_le_bytes(bytes[..16].try_into().expect("16 bytes")),
            has_signature: bytes[16] == 1,
        }
    }
}

/// Write an ids file.
pub(crate) fn write_ids(path: &Path, ids: &[String]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    let mut head = Vec::with_capacity(8 + (ids.len() + 1) * 8);
    head.extend_from_slice(&(ids.len() as u64).to_le_bytes());
    let mut offset = 0u64;
    head.extend_from_slice(&offset.to_le_bytes());
    for id in ids {
        offset += id.len() as u64;
        head.extend_from_slice(&offset.to_le_bytes());
    }
    file.write_all(&head)?;
    for id in ids {
        file.write_all(id.as_bytes())?;
    }
    file.commit()
}

/// Random access to one id of an ids file.
pub(crate) fn read_id(file: &File, path: &Path, index: usize) -> Result<String> {
    let corrupt = |problem: &str| Error::Corrupt {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    };
    let mut head = [0u8; 8];
    file.read_exact_at(&mut head, 0)
        .map_err(|_| corrupt("short header"))?;
    let count = u64::from_le_bytes(head);
    if index as u64 >= count {
        return Err(corrupt(&format!("has {count} ids, id {index} asked for")));
    }
    let mut span = [0u8; 16];
    file.read_exact_at(&mut span, 8 + index as u64 * 8)
        .map_err(|_| corrupt("short offsets"))?;
    let start = u64::from_le_bytes(span[..8].try_into().expect("8 bytes"));
    let end = u64::from_le_bytes(span[8..].try_into().expect("8 bytes"));
    let base = 8 + (count + 1) * 8;
    let mut bytes = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut bytes, base + start)
        .map_err(|_| corrupt("short id bytes"))?;
    String::from_utf8(bytes).map_err(|_| corrupt("id not UTF-8"))
}

/// A dropped duplicate, as the cluster stage records it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Drop {
    pub(crate) index: u32,
    /// 1: exact, 2: near.
    pub(crate) kind: u8,
    pub(crate) kept: u64,
    pub(crate) similarity: f32,
}

pub(crate) const DROP_BYTES: usize = 17;

impl Drop {
    pub(crate) fn encode(&self) -> [u8; DROP_BYTES] {
        let mut out = [0u8; DROP_BYTES];
        out[..4].copy_from_slice(&self.index.to_le_bytes());
        out[4] = self.kind;
        out[5..13].copy_from_slice(&self.kept.to_le_bytes());
        out[13..].copy_from_slice(&self.similarity.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Self {
        Drop {
            index: u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")),
            kind: bytes[4],
            kept: u64::from_le_bytes(bytes[5..13].try_into().expect("8 bytes")),
            similarity: f32::from_le_bytes(bytes[13..17].try_into().expect("4 bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sections_round_trip_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.bin");
        write_keys(
            &path,
            vec![vec![(5, 1), (2, 9), (2, 3)], vec![], vec![(7, 7)]],
        )
        .unwrap();
        let read = |section| {
            let mut reader = KeySection::open(&path, section).unwrap();
            let mut out = Vec::new();
            while let Some(pair) = reader.next_pair().unwrap() {
                out.push(pair);
            }
            out
        };
        assert_eq!(read(0), vec![(2, 3), (2, 9), (5, 1)]);
        assert_eq!(read(1), vec![]);
        assert_eq!(read(2), vec![(7, 7)]);
        assert!(KeySection::open(&path, 3).is_err());
    }

    #[test]
    fn ids_and_drops_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.bin");
        write_ids(&path, &["a".into(), "".into(), "ccc".into()]).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(read_id(&file, &path, 2).unwrap(), "ccc");
        assert_eq!(read_id(&file, &path, 1).unwrap(), "");
        assert!(read_id(&file, &path, 3).is_err());
        let drop = Drop {
            index: 7,
            kind: 2,
            kept: key(3, 4),
            similarity: 0.75,
        };
        assert_eq!(Drop::decode(&drop.encode()), drop);
        assert_eq!(split_key(key(3, 4)), (3, 4));
    }
}
