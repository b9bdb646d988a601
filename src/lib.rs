#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]

#[doc(hidden)]
pub mod bench;
pub mod codec;
#[cfg(test)]
mod conformance;
mod crypto;
pub mod dp;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod graph;
pub mod params;
pub mod protocol;
pub mod simulation;
pub mod vector;

pub use crate::codec::{Decode, Encode};
pub use crate::crypto::identity::{Identity, Roster};
pub use crate::crypto::labels;
pub use crate::crypto::prg::Prg;
pub use crate::error::{
    ClientFault, ClientIndex, DecodeError, Error, Misuse, Outcome, ParamsError, Phase, ServerFault,
};
pub use crate::params::{Graph, Params, ParamsBuilder, Policy, RoundId, ServerModel};
pub use crate::protocol::client::{AwaitingKeys, AwaitingShares, AwaitingUnmask};
pub use crate::protocol::host::{Client, ClientPhase};
pub use crate::protocol::server::{Aggregate, Outbox, Server, Step};
pub use crate::protocol::state::{StateError, StateKey};
#[cfg(feature = "ffi")]
pub mod ffi;
