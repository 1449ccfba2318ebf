//! The test harness of the LIKE module: one dev crate used by every integration test in
//! `tests/`, by the cluster fixture and by the examples. Nothing in it ships with the module.
//!
//! * [`server`]: one `redis-server` child process with the module loaded ([`Server`]), for
//!   stand-alone tests and cluster nodes alike: start (with extra configuration, in its own or a
//!   given directory), restart, stop, SIGKILL, logs, connections, INFO; a watchdog kills what a
//!   dead test process left running. [`module_path()`] is the `liblike.so` of the running test
//!   binary's own target directory and profile (`cargo test` and `cargo test --profile
//!   release-test` build it), or `$LIKE_MODULE` (`scripts/test.sh`: the release build).
//! * [`client`]: small helpers around redis-rs (`q`, `ok`, `err`, `int`, `all_users`,
//!   `add_many`, `info`, `like_info`, `wait_until`, ...).
//! * [`dump`]: Redis DUMP payloads of module values: CRC64, framing, parser, builder.
//! * [`cluster`]: a six-node Redis Cluster fixture ([`Cluster`]), shared by the tests of one
//!   binary ([`Shared`]), on the same [`Server`].
//! * [`cluster_client`]: the client side of running LIKE on a cluster (slot routing, per-node
//!   pipelines, feeds over many slots, striped posts), shared by the examples and the tests.
//!
//! Tests write `use like_harness::*;` (servers, clients and the cluster fixture are re-exported
//! here) and name [`dump`] and [`cluster_client`] by their module.

pub mod client;
pub mod cluster;
pub mod cluster_client;
pub mod dump;
pub mod server;

pub use client::*;
pub use cluster::{
    parse_cluster_nodes, restore_cluster, run_bounded, Cluster, NodeLine, Root, Shared,
    NODE_TIMEOUT_MS,
};
pub use server::{
    free_port, info_field, module_path, port_free, raw_ping, scratch_tempdir, spawn_sh, tail,
    Server, START_TIMEOUT,
};
