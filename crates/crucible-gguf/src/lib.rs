//! Defensive reader of GGUF model file metadata (header, key/values, tensor table).
