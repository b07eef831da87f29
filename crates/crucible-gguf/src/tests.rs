//! Tests of the reader on hand-built files: valid, corrupt, truncated and randomly mutated.
#![expect(
    clippy::print_stderr,
    reason = "the real-model test says how long parsing took"
)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

/// Writes small GGUF files byte by byte, so tests control every field.
struct Builder {
    version: u32,
    metadata: Vec<u8>,
    n_metadata: u64,
    tensors: Vec<u8>,
    n_tensors: u64,
    data_len: u64,
    alignment: u64,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            version: 3,
            metadata: Vec::new(),
            n_metadata: 0,
            tensors: Vec::new(),
            n_tensors: 0,
            data_len: 0,
            alignment: 32,
        }
    }

    /// A metadata entry with a raw type id and an already encoded value.
    fn kv(mut self, key: &str, type_id: u32, value: &[u8]) -> Builder {
        self.metadata.extend(enc_str(key));
        self.metadata.extend(type_id.to_le_bytes());
        self.metadata.extend(value);
        self.n_metadata += 1;
        self
    }

    fn kv_u32(self, key: &str, value: u32) -> Builder {
        self.kv(key, 4, &value.to_le_bytes())
    }

    fn kv_str(self, key: &str, value: &str) -> Builder {
        self.kv(key, 8, &enc_str(value))
    }

    fn kv_strs(self, key: &str, values: &[&str]) -> Builder {
        let mut payload = enc_array_header(8, values.len() as u64);
        for value in values {
            payload.extend(enc_str(value));
        }
        self.kv(key, 9, &payload)
    }

    /// A tensor placed after the previous one, with room for its data.
    fn tensor(mut self, name: &str, shape: &[u64], type_id: u32) -> Builder {
        let offset = self.data_len.next_multiple_of(self.alignment);
        self = self.tensor_at(name, shape, type_id, offset);
        let (block, block_bytes) = GgmlType(type_id).block().expect("tests use known types");
        let elements: u64 = shape.iter().product();
        self.data_len = offset + elements / block * block_bytes;
        self
    }

    /// A tensor entry with an explicit offset and no data accounting.
    fn tensor_at(mut self, name: &str, shape: &[u64], type_id: u32, offset: u64) -> Builder {
        self.tensors.extend(enc_str(name));
        self.tensors.extend((shape.len() as u32).to_le_bytes());
        for dim in shape {
            self.tensors.extend(dim.to_le_bytes());
        }
        self.tensors.extend(type_id.to_le_bytes());
        self.tensors.extend(offset.to_le_bytes());
        self.n_tensors += 1;
        self
    }

    fn build(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_metadata.to_le_bytes());
        out.extend(&self.metadata);
        out.extend(&self.tensors);
        if self.n_tensors > 0 {
            let data_start = (out.len() as u64).next_multiple_of(self.alignment);
            out.resize((data_start + self.data_len) as usize, 0xAB);
        }
        out
    }
}

fn enc_str(text: &str) -> Vec<u8> {
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text.as_bytes());
    out
}

fn enc_array_header(type_id: u32, len: u64) -> Vec<u8> {
    let mut out = type_id.to_le_bytes().to_vec();
    out.extend(len.to_le_bytes());
    out
}

const TEMPLATE: &str =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";

/// A small but complete model header in the shape of a real `qwen2` file.
fn toy_model() -> Builder {
    Builder::new()
        .kv_str("general.architecture", "qwen2")
        .kv_str("general.name", "Toy Coder")
        .kv_u32("general.file_type", 15)
        .kv_u32("qwen2.context_length", 4096)
        .kv_u32("qwen2.embedding_length", 256)
        .kv_u32("qwen2.block_count", 2)
        .kv_u32("qwen2.attention.head_count", 4)
        .kv_u32("qwen2.attention.head_count_kv", 2)
        .kv_strs("tokenizer.ggml.tokens", &["<s>", "</s>", "a", "b", "ab"])
        .kv_u32("tokenizer.ggml.bos_token_id", 0)
        .kv_u32("tokenizer.ggml.eos_token_id", 1)
        .kv_str("tokenizer.chat_template", TEMPLATE)
        .tensor("token_embd.weight", &[256, 5], 14)
        .tensor("blk.0.attn_q.weight", &[256, 256], 12)
        .tensor("blk.1.attn_q.weight", &[256, 256], 12)
        .tensor("output_norm.weight", &[256], 0)
}

fn parse_err(bytes: &[u8]) -> Error {
    match parse_gguf(bytes) {
        Ok(gguf) => panic!("expected an error, parsed {} tensors", gguf.tensors.len()),
        Err(err) => err,
    }
}

/// Header bytes with the given counts, to which a test appends the body it wants.
fn header(version: u32, n_tensors: u64, n_metadata: u64) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(version.to_le_bytes());
    out.extend(n_tensors.to_le_bytes());
    out.extend(n_metadata.to_le_bytes());
    out
}

#[test]
fn parses_a_complete_toy_model() {
    let bytes = toy_model().build();
    let gguf = parse_gguf(&bytes).unwrap();
    assert_eq!(gguf.version, 3);
    assert_eq!(gguf.metadata.len(), 12);
    assert_eq!(gguf.tensors.len(), 4);
    assert_eq!(gguf.alignment, 32);
    assert_eq!(gguf.data_offset % 32, 0);
    let q = &gguf.tensors[1];
    assert_eq!(q.name, "blk.0.attn_q.weight");
    assert_eq!(q.shape, vec![256, 256]);
    assert_eq!(q.ggml_type.name(), Some("Q4_K"));
    assert_eq!(q.elements, 65_536);
    assert_eq!(q.n_bytes, Some(65_536 / 256 * 144));
    assert_eq!(gguf.tensors[0].offset, 0);
    assert_eq!(q.offset, (1280u64 / 256 * 210).next_multiple_of(32));

    let info = gguf.model_info();
    let expected = ModelInfo {
        name: Some("Toy Coder".into()),
        architecture: Some("qwen2".into()),
        parameter_count: 1280 + 2 * 65_536 + 256,
        tensor_count: 4,
        file_type: Some(FileType(15)),
        dominant_tensor_type: Some(GgmlType(12)),
        context_length: Some(4096),
        embedding_length: Some(256),
        block_count: Some(2),
        head_count: Some(4),
        head_count_kv: Some(2),
        vocab_size: Some(5),
        chat_template: Some(TEMPLATE.into()),
        bos_token_id: Some(0),
        eos_token_id: Some(1),
        gguf_version: 3,
        file_size: bytes.len() as u64,
    };
    assert_eq!(info, expected);
    assert_eq!(info.quantization().as_deref(), Some("Q4_K_M"));
}

#[test]
fn parses_version_2_and_every_value_type() {
    let mut nested = enc_array_header(9, 2);
    nested.extend(enc_array_header(4, 2));
    nested.extend(1u32.to_le_bytes());
    nested.extend(2u32.to_le_bytes());
    nested.extend(enc_array_header(8, 1));
    nested.extend(enc_str("x"));
    let mut builder = Builder::new()
        .kv("u8", 0, &[200])
        .kv("i8", 1, &[0xFF])
        .kv("u16", 2, &60_000u16.to_le_bytes())
        .kv("i16", 3, &(-2i16).to_le_bytes())
        .kv("u32", 4, &7u32.to_le_bytes())
        .kv("i32", 5, &(-7i32).to_le_bytes())
        .kv("f32", 6, &1.5f32.to_le_bytes())
        .kv("bool", 7, &[1])
        .kv("string", 8, &enc_str("héllo"))
        .kv("u64", 10, &u64::MAX.to_le_bytes())
        .kv("i64", 11, &i64::MIN.to_le_bytes())
        .kv("f64", 12, &(-0.25f64).to_le_bytes())
        .kv("nested", 9, &nested)
        .kv("empty", 9, &enc_array_header(6, 0));
    builder.version = 2;
    let gguf = parse_gguf(&builder.build()).unwrap();
    assert_eq!(gguf.version, 2);
    let get = |key: &str| gguf.get(key).unwrap().clone();
    assert_eq!(get("u8"), Value::U8(200));
    assert_eq!(get("i8"), Value::I8(-1));
    assert_eq!(get("u16"), Value::U16(60_000));
    assert_eq!(get("i16"), Value::I16(-2));
    assert_eq!(get("u32"), Value::U32(7));
    assert_eq!(get("i32"), Value::I32(-7));
    assert_eq!(get("f32"), Value::F32(1.5));
    assert_eq!(get("bool"), Value::Bool(true));
    assert_eq!(get("string"), Value::String("héllo".into()));
    assert_eq!(get("u64"), Value::U64(u64::MAX));
    assert_eq!(get("i64"), Value::I64(i64::MIN));
    assert_eq!(get("f64"), Value::F64(-0.25));
    let expected_nested = Array::Array(vec![
        Array::U32(vec![1, 2]),
        Array::String(vec!["x".into()]),
    ]);
    assert_eq!(get("nested"), Value::Array(expected_nested));
    assert_eq!(get("empty"), Value::Array(Array::F32(vec![])));
    assert_eq!(get("i32").as_u64(), None);
    assert_eq!(get("u16").as_u64(), Some(60_000));
    assert_eq!(
        get("nested").to_string(),
        "[array; 2] [[u32; 2] [1, 2], [string; 1] [\"x\"]]"
    );
}

#[test]
fn rejects_versions_it_does_not_read() {
    for version in [0, 1, 4, 1000] {
        let bytes = header(version, 0, 0);
        assert!(
            matches!(parse_err(&bytes), Error::UnsupportedVersion { version: v } if v == version),
            "version {version}"
        );
    }
    let bytes = header(3u32.swap_bytes(), 0, 0);
    assert!(matches!(parse_err(&bytes), Error::BigEndian { .. }));
    let message = parse_err(&header(1, 0, 0)).to_string();
    assert_eq!(
        message,
        "GGUF version 1 is not supported (this reader supports versions 2 and 3)"
    );
}

#[test]
fn names_what_a_non_gguf_file_looks_like() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00rest of a wheel",
            "zip archive",
        ),
        (b"<!DOCTYPE html><html><body>404</body></html>", "HTML"),
        (b"  <html>", "HTML"),
        (
            b"version https://git-lfs.github.com/spec/v1\noid sha256:",
            "Git LFS",
        ),
        (
            b"\x10\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{}}",
            "safetensors",
        ),
        (b"{\"error\": \"unauthorized\"}", "JSON"),
        (b"lmgg\x01\x00\x00\x00", "legacy GGML"),
        (b"\x7fELF\x02\x01\x01", "executable"),
        (b"hello world", "some other kind"),
        (b"xy", "some other kind"),
    ];
    for (bytes, expected) in cases {
        let err = parse_err(bytes);
        let Error::BadMagic { looks_like, .. } = &err else {
            panic!("{bytes:?} gave {err:?}");
        };
        assert!(
            looks_like.contains(expected),
            "{bytes:?} looked like {looks_like}"
        );
        assert!(
            err.to_string()
                .starts_with("not a GGUF file: it starts with `")
        );
    }
    let err = parse_err(b"PK\x03\x04\x14\x00");
    assert_eq!(
        err.to_string().split(',').next().unwrap(),
        "not a GGUF file: it starts with `PK\\x03\\x04`"
    );
}

#[test]
fn an_empty_file_is_reported_as_empty() {
    assert!(matches!(parse_err(b""), Error::Empty));
    assert!(parse_err(b"").is_truncated());
}

#[test]
fn every_proper_prefix_of_a_valid_file_is_truncated() {
    let bytes = toy_model().build();
    assert!(parse_gguf(&bytes).is_ok());
    for len in 0..bytes.len() {
        let err = parse_err(&bytes[..len]);
        assert!(err.is_truncated(), "prefix of {len} bytes gave {err}");
    }
}

#[test]
fn a_cut_data_section_names_the_last_tensor_and_the_sizes() {
    let bytes = toy_model().build();
    let cut = &bytes[..bytes.len() - 100];
    let err = parse_err(cut);
    let Error::Truncated {
        section,
        needed,
        file_size,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        *section,
        Section::TensorData {
            name: "output_norm.weight".into()
        }
    );
    assert_eq!(*needed, bytes.len() as u64);
    assert_eq!(*file_size, cut.len() as u64);
    assert_eq!(
        err.to_string(),
        format!(
            "the file is truncated: the data of tensor `output_norm.weight` needs at least {} bytes but the file has {}",
            bytes.len(),
            cut.len()
        )
    );
}

#[test]
fn huge_claimed_sizes_fail_before_allocating() {
    // A key claiming u64::MAX bytes.
    let mut bytes = header(3, 0, 1);
    bytes.extend(u64::MAX.to_le_bytes());
    bytes.extend([0; 16]);
    assert!(matches!(
        parse_err(&bytes),
        Error::LimitExceeded {
            what: "key length",
            ..
        }
    ));

    // An array under the cap whose elements cannot fit in the file.
    let mut bytes = header(3, 0, 1);
    bytes.extend(enc_str("big"));
    bytes.extend(9u32.to_le_bytes());
    bytes.extend(enc_array_header(10, 10_000_000));
    let err = parse_err(&bytes);
    assert!(
        matches!(&err, Error::Truncated { needed, .. } if *needed > 80_000_000),
        "{err:?}"
    );

    // An array over the cap.
    let mut bytes = header(3, 0, 1);
    bytes.extend(enc_str("big"));
    bytes.extend(9u32.to_le_bytes());
    bytes.extend(enc_array_header(0, 1 << 40));
    assert!(matches!(
        parse_err(&bytes),
        Error::LimitExceeded {
            what: "array length",
            ..
        }
    ));

    // Counts over the caps, and under the caps but beyond the file.
    assert!(matches!(
        parse_err(&header(3, u64::MAX, 0)),
        Error::LimitExceeded {
            what: "tensor count",
            ..
        }
    ));
    assert!(matches!(
        parse_err(&header(3, 0, u64::MAX)),
        Error::LimitExceeded {
            what: "metadata entry count",
            ..
        }
    ));
    assert!(parse_err(&header(3, 1000, 0)).is_truncated());
    assert!(parse_err(&header(3, 0, 1000)).is_truncated());
}

#[test]
fn deeply_nested_arrays_are_refused() {
    let mut value = Vec::new();
    for _ in 0..20 {
        value.extend(enc_array_header(9, 1));
    }
    value.extend(enc_array_header(0, 0));
    let bytes = Builder::new().kv("deep", 9, &value).build();
    assert!(matches!(
        parse_err(&bytes),
        Error::LimitExceeded {
            what: "array nesting depth",
            ..
        }
    ));
}

#[test]
fn malformed_metadata_is_named() {
    let bytes = Builder::new().kv("flag", 7, &[2]).build();
    assert_eq!(
        parse_err(&bytes).to_string(),
        "invalid boolean byte 2 in the value of metadata key `flag`"
    );
    let bytes = Builder::new().kv("odd", 13, &[0]).build();
    assert_eq!(
        parse_err(&bytes).to_string(),
        "unknown value type 13 in the value of metadata key `odd`"
    );
    let bytes = Builder::new().kv_u32("a", 1).kv_u32("a", 2).build();
    assert_eq!(
        parse_err(&bytes).to_string(),
        "metadata key `a` appears twice"
    );
    let bytes = Builder::new().kv_u32("general.alignment", 24).build();
    assert!(matches!(
        parse_err(&bytes),
        Error::BadAlignment { value: 24 }
    ));
    let bytes = Builder::new().kv_str("general.alignment", "32").build();
    assert!(matches!(parse_err(&bytes), Error::BadAlignment { .. }));
}

#[test]
fn malformed_tensor_entries_are_named() {
    let five_dims = Builder::new()
        .tensor_at("t", &[1, 1, 1, 1, 1], 0, 0)
        .build();
    assert!(matches!(
        parse_err(&five_dims),
        Error::LimitExceeded {
            what: "tensor dimension count",
            ..
        }
    ));
    let overflow = Builder::new()
        .tensor_at("t", &[1 << 40, 1 << 40], 0, 0)
        .build();
    assert!(matches!(parse_err(&overflow), Error::BadShape { .. }));
    let misaligned = Builder::new().tensor_at("t", &[8], 0, 3).build();
    assert_eq!(
        parse_err(&misaligned).to_string(),
        "tensor `t` starts at offset 3, not a multiple of the alignment 32"
    );
    let bad_block = Builder::new().tensor_at("t", &[100, 2], 12, 0).build();
    assert_eq!(
        parse_err(&bad_block).to_string(),
        "tensor `t` has rows of 100 elements, not a multiple of the `Q4_K` block of 256"
    );
    let duplicate = Builder::new()
        .tensor("t", &[8], 0)
        .tensor("t", &[8], 0)
        .build();
    assert!(matches!(
        parse_err(&duplicate),
        Error::DuplicateTensor { .. }
    ));
    let far_offset = Builder::new()
        .tensor_at("t", &[8], 0, u64::MAX - 31)
        .build();
    assert!(parse_err(&far_offset).is_truncated());
}

#[test]
fn tensors_of_unknown_types_parse_without_a_size() {
    let bytes = Builder::new().tensor_at("t", &[7, 3], 1234, 0).build();
    let gguf = parse_gguf(&bytes).unwrap();
    assert_eq!(gguf.tensors[0].n_bytes, None);
    assert_eq!(gguf.tensors[0].ggml_type.to_string(), "ggml type 1234");
    assert_eq!(gguf.parameter_count(), 21);
}

#[test]
fn widening_re_encodes_q5_0_tensors_and_copies_everything_else() {
    let builder = toy_model()
        .tensor("blk.0.ffn_up.weight", &[64, 3], 6)
        .tensor("blk.1.ffn_up.weight", &[32, 1], 6);
    let mut bytes = builder.build();
    let gguf = parse_gguf(&bytes).unwrap();
    // Distinct data in every tensor, so a misplaced copy shows.
    let mut state = 7u32;
    for byte in &mut bytes[gguf.data_offset as usize..] {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *byte = (state >> 24) as u8;
    }
    let mut out = Vec::new();
    let widened = widen_q5_0(&gguf, &mut std::io::Cursor::new(&bytes), &mut out).unwrap();
    assert_eq!(widened.tensors, 2);
    assert_eq!(widened.bytes, out.len() as u64);

    let wide = parse_gguf(&out).unwrap();
    assert_eq!(wide.metadata, gguf.metadata);
    assert_eq!(wide.tensors.len(), gguf.tensors.len());
    assert_eq!(q5_0_tensors(&wide), 0);
    let data = |file: &[u8], header: &Gguf, index: usize| {
        let tensor = &header.tensors[index];
        let start = (header.data_offset + tensor.offset) as usize;
        file[start..start + tensor.n_bytes.unwrap() as usize].to_vec()
    };
    for (index, (old, new)) in gguf.tensors.iter().zip(&wide.tensors).enumerate() {
        assert_eq!(old.name, new.name);
        assert_eq!(old.shape, new.shape);
        assert_eq!(new.offset % wide.alignment, 0);
        let before = data(&bytes, &gguf, index);
        let after = data(&out, &wide, index);
        if old.ggml_type == Q5_0 {
            assert_eq!(new.ggml_type, Q8_0);
            let expected: Vec<u8> = before
                .chunks_exact(22)
                .flat_map(|block| q5_0_block_to_q8_0(block.try_into().unwrap()))
                .collect();
            assert_eq!(after, expected, "{}", old.name);
        } else {
            assert_eq!(new.ggml_type, old.ggml_type);
            assert_eq!(after, before, "{} is copied unchanged", old.name);
        }
    }
    // The widened file has nothing left to widen: a second pass copies it byte for byte.
    let mut again = Vec::new();
    let second = widen_q5_0(&wide, &mut std::io::Cursor::new(&out), &mut again).unwrap();
    assert_eq!(second.tensors, 0);
    assert_eq!(again, out);
}

#[test]
fn widening_refuses_tensors_of_unknown_size() {
    let bytes = Builder::new().tensor_at("t", &[7, 3], 1234, 0).build();
    let gguf = parse_gguf(&bytes).unwrap();
    let err = widen_q5_0(&gguf, &mut std::io::Cursor::new(&bytes), &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("tensor `t` has ggml type 1234"),
        "{err}"
    );
}

#[test]
fn model_info_falls_back_to_the_dominant_tensor_type() {
    let bytes = Builder::new()
        .kv_str("general.architecture", "llama")
        .kv_u32("llama.vocab_size", 32_000)
        .tensor("a", &[64], 0)
        .tensor("b", &[32, 4], 8)
        .build();
    let info = parse_gguf(&bytes).unwrap().model_info();
    assert_eq!(info.file_type, None);
    assert_eq!(info.dominant_tensor_type, Some(GgmlType(8)));
    assert_eq!(info.quantization().as_deref(), Some("Q8_0"));
    assert_eq!(info.vocab_size, Some(32_000));
    assert_eq!(info.context_length, None);
    assert_eq!(info.chat_template, None);
}

#[test]
fn human_units() {
    assert_eq!(human_count(494_032_768), "494.0M");
    assert_eq!(human_count(1_543_714_304), "1.5B");
    assert_eq!(human_count(999), "999");
    assert_eq!(human_bytes(491_400_064), "468.6 MiB");
    assert_eq!(human_bytes(12), "12 B");
}

#[test]
fn load_names_missing_paths_directories_and_bad_files() {
    let dir = std::env::temp_dir().join(format!("crucible-gguf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("nope.gguf");
    let err = load_gguf(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("`{}` does not exist", missing.display())
    );

    let err = load_gguf(&dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("`{}` is a directory, not a GGUF file", dir.display())
    );

    let html = dir.join("page.gguf");
    std::fs::write(&html, "<!doctype html><title>Not Found</title>").unwrap();
    let err = load_gguf(&html).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { source, .. } if matches!(**source, Error::BadMagic { .. }))
    );
    assert_eq!(
        err.to_string(),
        format!("`{}` is not a valid GGUF model", html.display())
    );

    let good = dir.join("toy.gguf");
    std::fs::write(&good, toy_model().build()).unwrap();
    assert_eq!(load_gguf(&good).unwrap().model_info().block_count, Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One way to damage a file.
#[derive(Debug, Clone)]
enum Mutation {
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match mutation {
        Mutation::Set { at, byte } => bytes[at % len] = *byte,
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::Insert { at, bytes: new } => {
            let at = at % (len + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Remove { at, len: n } => {
            let at = at % len;
            bytes.drain(at..(at + n).min(len));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Random damage to a valid file yields a parse or an error, never a panic, and a parsed
    /// result never claims more tensor data than the file holds.
    #[test]
    fn mutations_never_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut bytes = toy_model().build();
        for mutation in &mutations {
            if bytes.is_empty() {
                break;
            }
            apply(&mut bytes, mutation);
        }
        if let Ok(gguf) = parse_gguf(&bytes) {
            for tensor in &gguf.tensors {
                if let Some(n_bytes) = tensor.n_bytes {
                    prop_assert!(gguf.data_offset + tensor.offset + n_bytes <= bytes.len() as u64);
                }
            }
            let _ = gguf.model_info();
        }
    }

    /// Arbitrary bytes after a valid magic and version never panic either, and every error
    /// they cause has a message in house style (lowercase start, no trailing period).
    #[test]
    fn random_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
        bytes.extend(body);
        match parse_gguf(&bytes) {
            Ok(gguf) => prop_assert!(gguf.data_offset <= bytes.len() as u64 || gguf.tensors.is_empty()),
            Err(err) => {
                let message = err.to_string();
                prop_assert!(message.starts_with(|c: char| c.is_lowercase() || c == '`' || c == 'G'));
                prop_assert!(!message.ends_with('.'));
            }
        }
    }
}

/// Where the real default model may be: the Crucible home, or the copy used while developing.
fn real_model_path() -> Option<PathBuf> {
    let home = std::env::var_os("CRUCIBLE_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            let data = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".local/share")))?;
            Some(data.join("crucible"))
        });
    let candidates = [
        home.map(|home| home.join("models/qwen2.5-coder-0.5b-instruct.gguf")),
        Some(PathBuf::from("/tmp/qwen05.gguf")),
    ];
    candidates.into_iter().flatten().find(|path| path.is_file())
}

/// Needs the default model, which scripts/test.sh pulls; without it the test fails with the
/// command to run rather than passing without having checked anything.
#[test]
fn reads_the_real_default_model() {
    let path = real_model_path().expect(
        "the default model is not installed (CRUCIBLE_HOME/models/qwen2.5-coder-0.5b-instruct.gguf); run `crucible model pull` (scripts/test.sh does)",
    );
    check_real_model(&path);
}

fn check_real_model(path: &Path) {
    let started = std::time::Instant::now();
    let gguf = load_gguf(path).unwrap();
    let elapsed = started.elapsed();
    let info = gguf.model_info();
    assert_eq!(info.architecture.as_deref(), Some("qwen2"));
    assert_eq!(info.quantization().as_deref(), Some("Q4_K_M"));
    // Rows of 896 do not split into 256-element k-quant blocks, so most tensors fall back to Q5_0.
    assert_eq!(info.dominant_tensor_type, Some(GgmlType(6)));
    assert_eq!(
        info.name.as_deref(),
        Some("Qwen2.5 Coder 0.5B Instruct AWQ")
    );
    assert_eq!(info.context_length, Some(32_768));
    assert_eq!(info.embedding_length, Some(896));
    assert_eq!(info.block_count, Some(24));
    assert_eq!(info.head_count, Some(14));
    assert_eq!(info.head_count_kv, Some(2));
    assert_eq!(info.vocab_size, Some(151_936));
    assert_eq!(info.eos_token_id, Some(151_645));
    // The file stores `output.weight` apart from `token_embd.weight`, so the tensor sum is
    // above the 494M of the tied checkpoint.
    assert_eq!(info.parameter_count, 630_167_424);
    assert_eq!(info.tensor_count, 291);
    assert_eq!(info.bos_token_id, Some(151_643));
    assert!(info.chat_template.unwrap().contains("<|im_start|>"));
    assert_eq!(info.file_size, 491_400_064);
    eprintln!("parsed {} in {elapsed:?}", path.display());
}
