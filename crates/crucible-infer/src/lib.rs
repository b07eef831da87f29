//! Generator trait, sampling, beam search, prompts, chat templates and code extraction.
