//! A sequence's serialized KV cells (`llama_state_seq_get_data`), re-laid out for a context
//! that attends the other way.
//!
//! llama.cpp stores a layer's values by cell in a context with flash attention and by dimension
//! (transposed) in one with plain attention, and a sequence's state says which: a state saved in
//! one kind of context is refused by the other. [`relayout`] rewrites a state for the other kind,
//! moving the value bytes and copying everything else, so cells evaluated with flash attention
//! can be decoded over with plain attention (`many::flash`).
//!
//! The layout read here is that of the llama.cpp vendored by `llama-cpp-sys-2` (its version is
//! pinned in the workspace): a magic number and the sequence id; the number of KV streams; for
//! each stream its cell count and, when there are cells, each cell's position and sequence ids,
//! then the layer count, the two rotation sizes, every layer's keys (type, row size, rows) and
//! every layer's values (by cell: type, row size, rows; by dimension: type, element size,
//! dimensions, one run of cells per dimension). Anything else (cells with extra per-cell data,
//! quantized values, layers without values, several streams with cells) is an error, and the
//! caller evaluates the prompt in the slot's own context instead.

use std::fmt;

/// How a state's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Values {
    /// A row per cell: a context with flash attention.
    ByCell,
    /// A run of cells per dimension: a context with plain attention.
    ByDimension,
}

/// A state [`relayout`] cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayoutError(String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected KV state layout: {}", self.0)
    }
}

fn error(what: impl Into<String>) -> LayoutError {
    LayoutError(what.into())
}

/// Bytes of one element of a value type that is stored unquantized (ggml's F32, F16, BF16).
fn element_size(ggml_type: i32) -> Option<usize> {
    match ggml_type {
        0 => Some(4),
        1 | 30 => Some(2),
        _ => None,
    }
}

/// Rewrite `state`, one sequence's cells saved from a context, in place, with its values laid
/// out as `to` and `streams` KV streams, for a context whose cache has that many (a context
/// lays out one stream per sequence unless its cache is unified). A state already laid out as
/// `to` only gets its stream count changed. The state is read whole before anything is
/// written, so a state it cannot read is left as it was; the only other memory taken is one
/// layer's values, to transpose them.
pub(crate) fn relayout(state: &mut Vec<u8>, to: Values, streams: u32) -> Result<(), LayoutError> {
    if streams == 0 {
        return Err(error("a context has at least one stream"));
    }
    let plan = read_plan(state)?;
    let mut scratch = Vec::new();
    if let Some(filled) = &plan.filled {
        state[filled.flag..filled.flag + 4]
            .copy_from_slice(&u32::from(to == Values::ByDimension).to_le_bytes());
        for layer in &filled.values {
            layer.rewrite(state, to, &mut scratch);
        }
    }
    // The header, then the stream with cells first, then the empty ones.
    state[8..12].copy_from_slice(&streams.to_le_bytes());
    let mut end = 12;
    let mut empty = streams;
    if let Some(filled) = &plan.filled {
        state.copy_within(filled.start..filled.end, end);
        end += filled.end - filled.start;
        empty -= 1;
    }
    state.truncate(end);
    state.resize(end + 4 * empty as usize, 0);
    Ok(())
}

/// Where a state's parts are, read and checked before anything is rewritten.
struct Plan {
    /// The one stream with cells, if any.
    filled: Option<Filled>,
}

struct Filled {
    /// The stream's bytes, from its cell count to its last layer's values.
    start: usize,
    end: usize,
    /// The value-layout flag.
    flag: usize,
    values: Vec<ValueLayer>,
}

/// One layer's values: a 12-byte header (the type, then the row size by cell, or the element
/// size and dimension count by dimension), then `cells` x `dims` elements.
struct ValueLayer {
    header: usize,
    ggml_type: i32,
    size: usize,
    dims: usize,
    cells: usize,
    transposed: bool,
}

impl ValueLayer {
    fn rewrite(&self, state: &mut [u8], to: Values, scratch: &mut Vec<u8>) {
        let mut header = Vec::with_capacity(12);
        header.extend_from_slice(&self.ggml_type.to_le_bytes());
        match to {
            Values::ByCell => {
                header.extend_from_slice(&((self.dims * self.size) as u64).to_le_bytes())
            }
            Values::ByDimension => {
                header.extend_from_slice(&(self.size as u32).to_le_bytes());
                header.extend_from_slice(&(self.dims as u32).to_le_bytes());
            }
        }
        state[self.header..self.header + 12].copy_from_slice(&header);
        if self.transposed == (to == Values::ByDimension) {
            return;
        }
        // By cell the values are a cells x dims matrix, by dimension its transpose.
        let (rows, cols) = if self.transposed {
            (self.dims, self.cells)
        } else {
            (self.cells, self.dims)
        };
        let data = &mut state[self.header + 12..][..rows * cols * self.size];
        scratch.clear();
        scratch.extend_from_slice(data);
        match self.size {
            2 => transpose::<2>(scratch, data, rows, cols),
            _ => transpose::<4>(scratch, data, rows, cols),
        }
    }
}

fn read_plan(state: &[u8]) -> Result<Plan, LayoutError> {
    let mut r = Reader {
        bytes: state,
        at: 0,
    };
    r.take(8)?; // magic, sequence id
    let n_stream = r.u32()?;
    let mut filled = None;
    for _ in 0..n_stream {
        let start = r.at;
        let cells = r.u32()? as usize;
        if cells == 0 {
            continue;
        }
        if filled.is_some() {
            return Err(error("more than one stream holds cells"));
        }
        for _ in 0..cells {
            r.take(4)?; // position
            let n_seq = r.u32()? as usize;
            r.take(
                n_seq
                    .checked_mul(4)
                    .ok_or_else(|| error("sequence count"))?,
            )?;
        }
        let (flag, values) = read_stream_data(&mut r, cells)?;
        filled = Some(Filled {
            start,
            end: r.at,
            flag,
            values,
        });
    }
    if r.at != state.len() {
        return Err(error(format!(
            "{} bytes left after the last stream",
            state.len() - r.at
        )));
    }
    Ok(Plan { filled })
}

/// Skip one stream's keys and read where its values are; returns the value-layout flag's
/// offset and the value layers.
fn read_stream_data(
    r: &mut Reader<'_>,
    cells: usize,
) -> Result<(usize, Vec<ValueLayer>), LayoutError> {
    let flag = r.at;
    let transposed = match r.u32()? {
        0 => false,
        1 => true,
        other => return Err(error(format!("value layout flag {other}"))),
    };
    let n_layer = r.u32()? as usize;
    r.take(8)?; // the keys' and values' rotation sizes
    for _ in 0..n_layer {
        r.take(4)?; // key type
        let row = r.u64()?;
        r.take(rows_len(row, cells)?)?;
    }
    let mut values = Vec::with_capacity(n_layer);
    for _ in 0..n_layer {
        let header = r.at;
        let ggml_type = r.i32()?;
        let size = element_size(ggml_type)
            .ok_or_else(|| error(format!("value type {ggml_type} is not F32, F16 or BF16")))?;
        let dims = if transposed {
            let el = r.u32()? as usize;
            if el != size {
                return Err(error(format!(
                    "element size {el} for value type {ggml_type}"
                )));
            }
            r.u32()? as usize
        } else {
            let row = r.u64()?;
            if row % size as u64 != 0 {
                return Err(error(format!("value row of {row} bytes")));
            }
            (row / size as u64) as usize
        };
        r.take(rows_len(dims as u64 * size as u64, cells)?)?;
        values.push(ValueLayer {
            header,
            ggml_type,
            size,
            dims,
            cells,
            transposed,
        });
    }
    Ok((flag, values))
}

/// Write the transpose of `src`, a `rows` x `cols` matrix of `N`-byte elements in row order,
/// to `dst`, in blocks that stay in the cache.
fn transpose<const N: usize>(src: &[u8], dst: &mut [u8], rows: usize, cols: usize) {
    const BLOCK: usize = 32;
    for r0 in (0..rows).step_by(BLOCK) {
        for c0 in (0..cols).step_by(BLOCK) {
            for r in r0..(r0 + BLOCK).min(rows) {
                for c in c0..(c0 + BLOCK).min(cols) {
                    let from = (r * cols + c) * N;
                    let to = (c * rows + r) * N;
                    dst[to..to + N].copy_from_slice(&src[from..from + N]);
                }
            }
        }
    }
}

/// Bytes of `cells` rows of `row` bytes.
fn rows_len(row: u64, cells: usize) -> Result<usize, LayoutError> {
    usize::try_from(row)
        .ok()
        .and_then(|row| row.checked_mul(cells))
        .ok_or_else(|| error(format!("{cells} rows of {row} bytes")))
}

/// Little-endian fields of a state, in order.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LayoutError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| error(format!("truncated at byte {}", self.at)))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, LayoutError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn i32(&mut self) -> Result<i32, LayoutError> {
        Ok(i32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, LayoutError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `state` re-laid out in a copy; a state that cannot be must be left as it was.
    fn relaid(state: &[u8], to: Values, streams: u32) -> Result<Vec<u8>, LayoutError> {
        let mut copy = state.to_vec();
        let result = relayout(&mut copy, to, streams);
        if result.is_err() {
            assert!(copy == state, "a state that failed was changed");
        }
        result.map(|()| copy)
    }

    /// A state of `cells` cells (positions 0.., sequence 0) in stream `at` of `n_stream`, with
    /// two layers of F16 keys (3 dimensions) and values (`dims` dimensions); the value of cell
    /// c, dimension j, layer l is the u16 `l * 1000 + c * 10 + j`.
    fn state(cells: u32, dims: u32, by: Values, at: u32, n_stream: u32) -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(&0xaf14_3cd8u32.to_le_bytes());
        s.extend_from_slice(&0i32.to_le_bytes());
        s.extend_from_slice(&n_stream.to_le_bytes());
        for stream in 0..n_stream {
            if stream != at {
                s.extend_from_slice(&0u32.to_le_bytes());
                continue;
            }
            s.extend_from_slice(&cells.to_le_bytes());
            for c in 0..cells {
                s.extend_from_slice(&(c as i32).to_le_bytes());
                s.extend_from_slice(&1u32.to_le_bytes());
                s.extend_from_slice(&0i32.to_le_bytes());
            }
            s.extend_from_slice(&u32::from(by == Values::ByDimension).to_le_bytes());
            s.extend_from_slice(&2u32.to_le_bytes());
            s.extend_from_slice(&[0; 8]);
            for l in 0..2u16 {
                s.extend_from_slice(&1i32.to_le_bytes());
                s.extend_from_slice(&6u64.to_le_bytes());
                for c in 0..cells as u16 {
                    for j in 0..3u16 {
                        s.extend_from_slice(&(500 + l * 1000 + c * 10 + j).to_le_bytes());
                    }
                }
            }
            for l in 0..2u16 {
                s.extend_from_slice(&1i32.to_le_bytes());
                let value = |c: u32, j: u32| l * 1000 + (c * 10 + j) as u16;
                match by {
                    Values::ByCell => {
                        s.extend_from_slice(&u64::from(dims * 2).to_le_bytes());
                        for c in 0..cells {
                            for j in 0..dims {
                                s.extend_from_slice(&value(c, j).to_le_bytes());
                            }
                        }
                    }
                    Values::ByDimension => {
                        s.extend_from_slice(&2u32.to_le_bytes());
                        s.extend_from_slice(&dims.to_le_bytes());
                        for j in 0..dims {
                            for c in 0..cells {
                                s.extend_from_slice(&value(c, j).to_le_bytes());
                            }
                        }
                    }
                }
            }
        }
        s
    }

    #[test]
    fn values_by_cell_become_values_by_dimension_and_back() {
        let by_cell = state(5, 4, Values::ByCell, 0, 1);
        let by_dim = state(5, 4, Values::ByDimension, 0, 1);
        assert_ne!(by_cell, by_dim);
        assert_eq!(relaid(&by_cell, Values::ByDimension, 1).unwrap(), by_dim);
        assert_eq!(relaid(&by_dim, Values::ByCell, 1).unwrap(), by_cell);
        assert_eq!(relaid(&by_cell, Values::ByCell, 1).unwrap(), by_cell);
    }

    #[test]
    fn more_cells_and_dimensions_than_a_block() {
        let by_cell = state(70, 45, Values::ByCell, 0, 1);
        let by_dim = state(70, 45, Values::ByDimension, 0, 1);
        assert!(relaid(&by_cell, Values::ByDimension, 1).unwrap() == by_dim);
        assert!(relaid(&by_dim, Values::ByCell, 1).unwrap() == by_cell);
    }

    #[test]
    fn the_stream_count_is_the_target_contexts() {
        // Saved from stream 2 of 4, for a context with one stream, and back to 3 streams.
        let from = state(3, 2, Values::ByCell, 2, 4);
        assert_eq!(
            relaid(&from, Values::ByDimension, 1).unwrap(),
            state(3, 2, Values::ByDimension, 0, 1)
        );
        assert_eq!(
            relaid(&from, Values::ByCell, 3).unwrap(),
            state(3, 2, Values::ByCell, 0, 3)
        );
        // A sequence without cells stays without.
        let empty = state(0, 2, Values::ByCell, 9, 2);
        assert_eq!(relaid(&empty, Values::ByDimension, 3).unwrap(), {
            let mut s = empty[..8].to_vec();
            s.extend_from_slice(&3u32.to_le_bytes());
            s.extend_from_slice(&[0; 12]);
            s
        });
    }

    #[test]
    fn a_state_it_cannot_read_is_an_error() {
        let good = state(3, 2, Values::ByCell, 0, 1);
        for cut in [0, 7, 11, 40, good.len() - 1] {
            assert!(
                relaid(&good[..cut], Values::ByDimension, 1).is_err(),
                "{cut}"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(relaid(&longer, Values::ByDimension, 1).is_err());
        // Quantized values (Q8_0 is type 8) are not moved element by element.
        let mut quantized = good.clone();
        let first_value_type = good.len() - 2 * (4 + 8 + 3 * 2 * 2);
        quantized[first_value_type..first_value_type + 4].copy_from_slice(&8i32.to_le_bytes());
        let err = relaid(&quantized, Values::ByDimension, 1).unwrap_err();
        assert!(err.to_string().contains("value type 8"), "{err}");
        assert!(relaid(&good, Values::ByDimension, 0).is_err());
    }
}
