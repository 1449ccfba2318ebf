//! LIKE: a Redis module for exact likes counting. See README.md and
//! docs/ARCHITECTURE.md.
//!
//! Two layers: `likeset` and `parse` are plain Rust with no Redis types
//! (unit- and property-tested without a server); `redis` is everything that
//! touches Redis, behind one boundary.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod likeset;
pub mod parse;
pub mod redis;
