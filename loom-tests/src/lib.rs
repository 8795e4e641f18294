//! loom models live in `tests/`; this library is empty so the crate builds in a normal workspace build.
