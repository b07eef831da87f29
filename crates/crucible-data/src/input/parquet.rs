//! Parquet inputs (arrow-rs `parquet`): planned as runs of row groups, read in record batches.
//! A file without a usable text column is one recorded skip naming the columns it has.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};

use super::{Unit, document_from_object, file_reject};
use crate::config::InputConfig;
use crate::doc::{Document, Reject, Stage};

/// Group the file's row groups into units of about `unit_bytes` (uncompressed).
pub(super) fn plan(path: &Path, config: &InputConfig, units: &mut Vec<Unit>) {
    let metadata = std::fs::File::open(path)
        .map_err(|err| err.to_string())
        .and_then(|file| SerializedFileReader::new(file).map_err(|err| err.to_string()))
        .map(|reader| reader.metadata().clone());
    let metadata = match metadata {
        Ok(metadata) => metadata,
        Err(problem) => {
            units.push(Unit::Broken {
                path: path.to_path_buf(),
                problem: format!("not a readable Parquet file: {problem}"),
            });
            return;
        }
    };
    let mut groups = Vec::new();
    let mut bytes = 0u64;
    let mut first_row = 0u64;
    let mut rows = 0u64;
    for (idx, group) in metadata.row_groups().iter().enumerate() {
        groups.push(idx);
        bytes += group.total_byte_size().max(0) as u64;
        rows += group.num_rows().max(0) as u64;
        if bytes >= config.unit_bytes {
            units.push(Unit::Parquet {
                path: path.to_path_buf(),
                row_groups: std::mem::take(&mut groups),
                first_row,
            });
            first_row = rows;
            bytes = 0;
        }
    }
    if !groups.is_empty() {
        units.push(Unit::Parquet {
            path: path.to_path_buf(),
            row_groups: groups,
            first_row,
        });
    }
}

/// Read the rows of `row_groups`.
pub(super) fn read(
    path: &Path,
    row_groups: &[usize],
    first_row: u64,
    config: &InputConfig,
    sink: &mut dyn FnMut(Result<Document, Reject>) -> bool,
) {
    let reader = std::fs::File::open(path)
        .map_err(|err| err.to_string())
        .and_then(|file| {
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|err| err.to_string())
        });
    let builder = match reader {
        Ok(builder) => builder,
        Err(problem) => {
            sink(Err(file_reject(path, "unreadable", problem)));
            return;
        }
    };
    let schema = builder.schema().clone();
    if let Err(problem) = check_schema(&schema, config) {
        sink(Err(file_reject(path, "schema", problem)));
        return;
    }
    let batches = match builder
        .with_row_groups(row_groups.to_vec())
        .with_batch_size(1024)
        .build()
    {
        Ok(batches) => batches,
        Err(err) => {
            sink(Err(file_reject(path, "unreadable", err.to_string())));
            return;
        }
    };
    let mut row = first_row;
    for batch in batches {
        let batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                sink(Err(file_reject(
                    path,
                    "unreadable",
                    format!("row {row} on: {err}; rest of this part skipped"),
                )));
                return;
            }
        };
        for idx in 0..batch.num_rows() {
            let source = format!("{}#{row}", path.display());
            row += 1;
            let object = row_object(&batch, idx);
            let item = document_from_object(object, source.clone(), source.clone(), config)
                .map_err(|(reason, detail)| Reject {
                    stage: Stage::Read,
                    action: crate::doc::Action::Dropped,
                    reason: reason.to_owned(),
                    detail,
                    id: None,
                    source,
                });
            if !sink(item) {
                return;
            }
        }
    }
}

/// A usable text column must exist and hold strings.
fn check_schema(schema: &arrow_schema::Schema, config: &InputConfig) -> Result<(), String> {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} ({})", f.name(), f.data_type()))
        .collect();
    let text = config
        .text_fields
        .iter()
        .find_map(|name| schema.field_with_name(name).ok());
    match text {
        None => Err(format!(
            "no text column (looked for {}); the file has: {}; set input.text_fields",
            config.text_fields.join(", "),
            columns.join(", ")
        )),
        Some(field) if !is_string(field.data_type()) => Err(format!(
            "text column `{}` is {}, not a string column",
            field.name(),
            field.data_type()
        )),
        Some(_) => Ok(()),
    }
}

fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Row `idx` as a JSON object of its scalar columns. Nested columns (lists, structs, maps,
/// binary) are not carried; their names and types go in `columns_not_carried`, which ends up
/// in the document's metadata, so nothing is left out unsaid.
fn row_object(batch: &RecordBatch, idx: usize) -> serde_json::Map<String, serde_json::Value> {
    let mut object = serde_json::Map::new();
    let mut not_carried = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !column.is_null(idx) && !is_scalar(field.data_type()) {
            not_carried.push(serde_json::Value::from(format!(
                "{} ({})",
                field.name(),
                field.data_type()
            )));
        } else if let Some(value) = cell(column.as_ref(), idx) {
            object.insert(field.name().clone(), value);
        }
    }
    if !not_carried.is_empty() {
        object.insert(
            "columns_not_carried".to_owned(),
            serde_json::Value::Array(not_carried),
        );
    }
    object
}

fn is_scalar(data_type: &DataType) -> bool {
    is_string(data_type)
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
                | DataType::Float32
                | DataType::Float64
        )
}

fn cell(array: &dyn Array, idx: usize) -> Option<serde_json::Value> {
    use serde_json::Value;
    if array.is_null(idx) {
        return None;
    }
    let value = match array.data_type() {
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(idx)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(idx)),
        DataType::Utf8View => Value::from(array.as_string_view().value(idx)),
        DataType::Boolean => Value::from(array.as_boolean().value(idx)),
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(idx)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(idx)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(idx)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(idx)),
        DataType::UInt8 => Value::from(array.as_primitive::<UInt8Type>().value(idx)),
        DataType::UInt16 => Value::from(array.as_primitive::<UInt16Type>().value(idx)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(idx)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(idx)),
        DataType::Float32 => Value::from(array.as_primitive::<Float32Type>().value(idx)),
        DataType::Float64 => Value::from(array.as_primitive::<Float64Type>().value(idx)),
        _ => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    #[test]
    fn nested_columns_are_named_not_silently_lost() {
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("a");
        tags.append(true);
        tags.append(false);
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("text", Arc::new(StringArray::from(vec!["x", "y"]))),
            ("stars", Arc::new(Int64Array::from(vec![3, 4]))),
            ("tags", Arc::new(tags.finish())),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let first = row_object(&batch, 0);
        assert_eq!(first["stars"], 3);
        assert!(!first.contains_key("tags"));
        let noted = first["columns_not_carried"].as_array().unwrap();
        assert_eq!(noted.len(), 1);
        assert!(
            noted[0].as_str().unwrap().starts_with("tags (List"),
            "{noted:?}"
        );
        // A null nested cell loses nothing: no note.
        assert!(!row_object(&batch, 1).contains_key("columns_not_carried"));
    }
}
