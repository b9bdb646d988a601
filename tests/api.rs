//! Integration tests: one binary (link time dominates on small machines),
//! one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[path = "api/audit.rs"]
mod audit;
#[path = "api/checks.rs"]
mod checks;
#[path = "api/client_leftovers.rs"]
mod client_leftovers;
#[path = "api/client_mutations.rs"]
mod client_mutations;
#[path = "api/common.rs"]
mod common;
#[path = "api/crypto_leftovers.rs"]
mod crypto_leftovers;
#[path = "api/crypto_mutations.rs"]
mod crypto_mutations;
#[path = "api/crypto_review.rs"]
mod crypto_review;
#[path = "api/dp.rs"]
mod dp;
#[path = "api/dp_mutations.rs"]
mod dp_mutations;
#[path = "api/dp_review.rs"]
mod dp_review;
#[path = "api/dp_spec.rs"]
mod dp_spec;
#[path = "api/ffi.rs"]
mod ffi;
#[path = "api/fuzz_corpus.rs"]
mod fuzz_corpus;
#[path = "api/harary_attack.rs"]
mod harary_attack;
#[path = "api/hostile.rs"]
mod hostile;
#[path = "api/malicious.rs"]
mod malicious;
#[path = "api/math_checks.rs"]
mod math_checks;
#[path = "api/mutations.rs"]
mod mutations;
#[path = "api/outcomes.rs"]
mod outcomes;
#[path = "api/property.rs"]
mod property;
#[path = "api/readme.rs"]
mod readme;
#[path = "api/resources.rs"]
mod resources;
#[path = "api/review.rs"]
mod review;
#[path = "api/round.rs"]
mod round;
#[path = "api/server_mutations.rs"]
mod server_mutations;
#[path = "api/spec.rs"]
mod spec;
#[path = "api/state.rs"]
mod state;
#[path = "api/state_mutations.rs"]
mod state_mutations;
#[path = "api/vectors.rs"]
mod vectors;
