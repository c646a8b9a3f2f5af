//! Empty: the benchmarks live in `benches/core.rs`.
