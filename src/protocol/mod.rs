//! The protocol: messages and the sans-IO client and server state machines
//! (spec/protocol.md).

pub mod client;
pub mod host;
pub mod messages;
pub mod outbox;
mod parallel;
pub mod server;
pub(crate) mod signed;
pub mod state;
