//! Library facade: configuration, backend factory, generate and eval pipelines.
