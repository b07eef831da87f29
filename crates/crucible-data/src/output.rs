//! Output writers: JSON Lines (one document object a line) and Parquet (columns `id`,
//! `source`, `language`, `text`, and `metadata` as a JSON string).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::config::Format;
use crate::doc::Document;
use crate::store::AtomicFile;
use crate::{Error, Result};

/// Rows per Parquet record batch (and row group).
const PARQUET_BATCH: usize = 4096;

/// A part file being written.
#[allow(
    clippy::large_enum_variant,
    reason = "one writer per open part file; boxing saves nothing that matters"
)]
pub enum PartWriter {
    Jsonl(AtomicFile),
    Parquet {
        writer: ArrowWriter<AtomicFile>,
        rows: Vec<Document>,
        path: std::path::PathBuf,
    },
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartWriter")
    }
}

/// The Parquet schema of the output.
pub fn parquet_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("language", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("metadata", DataType::Utf8, true),
    ]))
}

impl PartWriter {
    /// Start a part at `path` in `format`.
    pub fn create(path: &Path, format: Format) -> Result<Self> {
        let file = AtomicFile::create(path)?;
        Ok(match format {
            Format::Jsonl => PartWriter::Jsonl(file),
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_created_by("crucible-data".to_owned())
                    .build();
                let writer = ArrowWriter::try_new(file, parquet_schema(), Some(props))
                    .map_err(|err| parquet_err(path, err))?;
                PartWriter::Parquet {
                    writer,
                    rows: Vec::new(),
                    path: path.to_path_buf(),
                }
            }
        })
    }

    /// Add a document given as its JSON line (as the prepare stage stored it).
    pub fn push_line(&mut self, line: &[u8]) -> Result<()> {
        match self {
            PartWriter::Jsonl(file) => {
                file.write_all(line)?;
                file.write_all(b"\n")
            }
            PartWriter::Parquet { writer, rows, path } => {
                let doc: Document = serde_json::from_slice(line).map_err(|err| Error::Corrupt {
                    path: path.clone(),
                    problem: format!("stored document is not JSON: {err}"),
                })?;
                rows.push(doc);
                if rows.len() >= PARQUET_BATCH {
                    flush_rows(writer, rows, path)?;
                }
                Ok(())
            }
        }
    }

    /// Finish the part and move it into place.
    pub fn commit(self) -> Result<()> {
        match self {
            PartWriter::Jsonl(file) => file.commit(),
            PartWriter::Parquet {
                mut writer,
                mut rows,
                path,
            } => {
                flush_rows(&mut writer, &mut rows, &path)?;
                let file = writer.into_inner().map_err(|err| parquet_err(&path, err))?;
                file.commit()
            }
        }
    }
}

fn flush_rows(
    writer: &mut ArrowWriter<AtomicFile>,
    rows: &mut Vec<Document>,
    path: &Path,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: &dyn Fn(&Document) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let columns = vec![
        column(&|d| Some(d.id.clone())),
        column(&|d| Some(d.source.clone())),
        column(&|d| d.language.clone()),
        column(&|d| Some(d.text.clone())),
        column(&|d| {
            (!d.metadata.is_empty())
                .then(|| serde_json::Value::Object(d.metadata.clone()).to_string())
        }),
    ];
    let batch = RecordBatch::try_new(parquet_schema(), columns).map_err(|err| Error::Parquet {
        path: path.to_path_buf(),
        message: err.to_string(),
    })?;
    writer.write(&batch).map_err(|err| parquet_err(path, err))?;
    writer.flush().map_err(|err| parquet_err(path, err))?;
    rows.clear();
    Ok(())
}

fn parquet_err(path: &Path, err: parquet::errors::ParquetError) -> Error {
    if let parquet::errors::ParquetError::External(inner) = &err
        && let Some(io) = inner.downcast_ref::<std::io::Error>()
        && io.raw_os_error() == Some(28)
    {
        return Error::DiskFull {
            path: path.to_path_buf(),
        };
    }
    Error::Parquet {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}
