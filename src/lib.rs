//! LIKE: a Redis module for exact likes counting. See README.md and
//! docs/ARCHITECTURE.md.
//!
//! Two layers: `likeset`, `reactions` and `parse` are plain Rust with no
//! Redis types (unit- and property-tested without a server); `redis` is
//! everything that touches Redis, behind one boundary. `reactions` is a key's
//! whole value: a like-set, or a table of several kinds of reaction.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod likeset;
pub mod parse;
pub mod reactions;
pub mod redis;
