//! In-process llama.cpp backend (llama-cpp-2): batched decoding with a shared prompt KV cache.
