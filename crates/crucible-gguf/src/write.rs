//! A small GGUF writer for files made from scratch: scalar and string metadata and F32 tensors
//! (version 3, 32-byte alignment). Tests use it to write LoRA adapters and stand-in models.

use std::io::{self, Write};

/// A metadata value the writer supports.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// GGUF type 4.
    U32(u32),
    /// GGUF type 6.
    F32(f32),
    /// GGUF type 8.
    String(String),
}

/// An F32 tensor: `shape` innermost first (ggml order), `data` row-major in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct F32Tensor {
    /// Such as `blk.0.attn_q.weight.lora_a`.
    pub name: String,
    /// Dimensions, innermost first.
    pub shape: Vec<u64>,
    /// `shape`'s product of values.
    pub data: Vec<f32>,
}

const ALIGNMENT: usize = 32;
const GGML_TYPE_F32: u32 = 0;

fn string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Write a GGUF file of `metadata` and `tensors` to `out`.
///
/// # Errors
/// A tensor whose data does not match its shape is `InvalidInput`; write errors are passed on.
pub fn write_gguf<W: Write>(
    mut out: W,
    metadata: &[(&str, MetaValue)],
    tensors: &[F32Tensor],
) -> io::Result<()> {
    let mut head = Vec::new();
    head.extend_from_slice(b"GGUF");
    head.extend_from_slice(&3u32.to_le_bytes());
    head.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    head.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        string(&mut head, key);
        match value {
            MetaValue::U32(v) => {
                head.extend_from_slice(&4u32.to_le_bytes());
                head.extend_from_slice(&v.to_le_bytes());
            }
            MetaValue::F32(v) => {
                head.extend_from_slice(&6u32.to_le_bytes());
                head.extend_from_slice(&v.to_le_bytes());
            }
            MetaValue::String(v) => {
                head.extend_from_slice(&8u32.to_le_bytes());
                string(&mut head, v);
            }
        }
    }
    let mut offset = 0usize;
    for tensor in tensors {
        let elements: u64 = tensor.shape.iter().product();
        if elements != tensor.data.len() as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tensor `{}` has shape {:?} but {} values",
                    tensor.name,
                    tensor.shape,
                    tensor.data.len()
                ),
            ));
        }
        string(&mut head, &tensor.name);
        head.extend_from_slice(&(tensor.shape.len() as u32).to_le_bytes());
        for dim in &tensor.shape {
            head.extend_from_slice(&dim.to_le_bytes());
        }
        head.extend_from_slice(&GGML_TYPE_F32.to_le_bytes());
        head.extend_from_slice(&(offset as u64).to_le_bytes());
        offset = (offset + tensor.data.len() * 4).next_multiple_of(ALIGNMENT);
    }
    head.resize(head.len().next_multiple_of(ALIGNMENT), 0);
    out.write_all(&head)?;
    for tensor in tensors {
        let mut bytes: Vec<u8> = tensor.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes.resize(bytes.len().next_multiple_of(ALIGNMENT), 0);
        out.write_all(&bytes)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    #[test]
    fn a_written_file_reads_back() {
        let tensors = vec![
            F32Tensor {
                name: "a".into(),
                shape: vec![3, 2],
                data: vec![1.0; 6],
            },
            F32Tensor {
                name: "b".into(),
                shape: vec![5],
                data: vec![0.5; 5],
            },
        ];
        let metadata = [
            ("general.architecture", MetaValue::String("qwen2".into())),
            ("adapter.lora.alpha", MetaValue::F32(8.0)),
            ("x.count", MetaValue::U32(7)),
        ];
        let mut bytes = Vec::new();
        write_gguf(&mut bytes, &metadata, &tensors).unwrap();
        let gguf =
            crate::reader::read_gguf(std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(gguf.architecture(), Some("qwen2"));
        assert_eq!(gguf.get("adapter.lora.alpha"), Some(&Value::F32(8.0)));
        assert_eq!(gguf.get_u64("x.count"), Some(7));
        assert_eq!(gguf.tensors.len(), 2);
        assert_eq!(gguf.tensors[0].shape, vec![3, 2]);
        assert_eq!(gguf.tensors[0].ggml_type.name(), Some("F32"));
        assert_eq!(gguf.tensors[1].offset, 32);
        let start = gguf.data_offset as usize + 32;
        assert_eq!(&bytes[start..start + 4], &0.5f32.to_le_bytes());
        let bad = F32Tensor {
            name: "c".into(),
            shape: vec![2],
            data: vec![1.0],
        };
        assert!(write_gguf(Vec::new(), &[], &[bad]).is_err());
    }
}
