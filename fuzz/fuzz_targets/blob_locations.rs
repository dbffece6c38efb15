#![no_main]
//! Shim: `dxf_proto::fuzzing::blob_locations` (the corpus replays on stable in dxf-proto/tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| dxf_proto::fuzzing::blob_locations(data));
