#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]

pub mod codec;
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
pub use crate::error::{
    ClientFault, ClientIndex, DecodeError, Error, Misuse, ParamsError, Phase, ServerFault,
};
pub use crate::params::{Graph, Params, ParamsBuilder, Policy, RoundId, ServerModel};
pub use crate::protocol::client::{AwaitingKeys, AwaitingShares, AwaitingUnmask};
pub use crate::protocol::server::{Aggregate, Server, Step};
#[cfg(feature = "ffi")]
pub mod ffi;
