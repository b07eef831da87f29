//! Known models, model resolution (name, path, hf: reference) and provisioning.
