//! A Redis Cluster of real redis-server processes on loopback, built on [`Server`].
//!
//! * [`Root`]: a temporary directory for the servers of one test (under the process's scratch
//!   directory, so the harness watchdog cleans it up if the test process dies).
//! * [`Cluster`]: six servers with `cluster-enabled yes`, joined by
//!   `redis-cli --cluster create ... --cluster-replicas 1`, ready once every node reports
//!   `cluster_state:ok` and every replica is in sync.
//! * [`Shared`]: one cluster shared by the tests of one test binary, stopped after the last.
//! * [`NodeLine`], [`parse_cluster_nodes`]: `CLUSTER NODES` parsed.
//! * [`run_bounded`]: runs a command (`redis-cli --cluster ...`, `strace`) with a time limit.
//!
//! Every wait is bounded by a timeout.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::wait_until;
use crate::server::{info_field, scratch_tempdir, Server};

/// Runs a command with a time limit; its stdout and stderr go to `log`.
/// Returns (success, combined output). Panics if it does not finish in time.
pub fn run_bounded(mut cmd: Command, log: &Path, timeout: Duration) -> (bool, String) {
    let out = fs::File::create(log).expect("create log");
    let err = out.try_clone().expect("clone log");
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait().expect("try_wait") {
            Some(status) => {
                let text = fs::read_to_string(log).unwrap_or_default();
                return (status.success(), text);
            }
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let text = fs::read_to_string(log).unwrap_or_default();
                panic!("{cmd:?} did not finish within {timeout:?}; output:\n{text}");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A temporary directory for the servers of one test (removed on drop; removed by the harness
/// watchdog if the test process dies).
pub struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    pub fn new(label: &str) -> Root {
        Root { dir: scratch_tempdir(&format!("like-{label}-")) }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh sub-directory for one server.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::create_dir_all(&p).expect("mkdir");
        p
    }
}

/// One line of CLUSTER NODES.
#[derive(Clone, Debug)]
pub struct NodeLine {
    pub id: String,
    pub addr: String,
    pub flags: Vec<String>,
    pub master_id: Option<String>,
    pub connected: bool,
    pub slots: Vec<(u16, u16)>,
}

impl NodeLine {
    pub fn is_master(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }
    pub fn failed(&self) -> bool {
        self.flags.iter().any(|f| f == "fail" || f == "fail?")
    }
    pub fn slot_count(&self) -> usize {
        self.slots.iter().map(|(a, b)| (*b - *a) as usize + 1).sum()
    }
}

pub fn parse_cluster_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let addr = f[1].split('@').next().unwrap_or("").to_string();
            let mut slots = Vec::new();
            for s in f.iter().skip(8) {
                if s.starts_with('[') {
                    continue; // migrating/importing marker
                }
                match s.split_once('-') {
                    Some((a, b)) => slots.push((a.parse().unwrap(), b.parse().unwrap())),
                    None => {
                        let n: u16 = s.parse().unwrap();
                        slots.push((n, n));
                    }
                }
            }
            NodeLine {
                id: f[0].to_string(),
                addr,
                flags: f[2].split(',').map(|s| s.to_string()).collect(),
                master_id: (f[3] != "-").then(|| f[3].to_string()),
                connected: f.get(7) == Some(&"connected"),
                slots,
            }
        })
        .collect()
}

/// Six cluster nodes (3 primaries, 3 replicas) with the module loaded.
pub struct Cluster {
    pub nodes: Vec<Server>,
    root: Root,
}

pub const NODE_TIMEOUT_MS: u64 = 2000;

impl Cluster {
    pub fn start(n: usize, replicas: usize) -> Cluster {
        let root = Root::new("cluster");
        let timeout = NODE_TIMEOUT_MS.to_string();
        let nodes: Vec<Server> = (0..n)
            .map(|i| {
                Server::start_in(
                    root.subdir(&format!("node{i}")),
                    &[
                        ("cluster-enabled", "yes"),
                        ("cluster-config-file", "nodes.conf"),
                        ("cluster-node-timeout", &timeout),
                    ],
                )
            })
            .collect();
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        for s in &nodes {
            cmd.arg(s.addr());
        }
        cmd.arg("--cluster-replicas").arg(replicas.to_string()).arg("--cluster-yes");
        let (ok, out) = run_bounded(cmd, &root.path().join("create.log"), Duration::from_secs(60));
        assert!(ok, "redis-cli --cluster create failed:\n{out}");
        let cluster = Cluster { nodes, root };
        cluster.wait_healthy(Duration::from_secs(60));
        cluster
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn seeds(&self) -> Vec<String> {
        self.nodes.iter().map(|s| s.addr()).collect()
    }

    /// Addresses of the nodes whose process is running.
    pub fn live_seeds(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &mut self.nodes {
            if s.is_alive() {
                out.push(s.addr());
            }
        }
        out
    }

    pub fn server(&self, addr: &str) -> &Server {
        self.nodes.iter().find(|s| s.addr() == addr).unwrap_or_else(|| panic!("no node {addr}"))
    }

    pub fn server_mut(&mut self, addr: &str) -> &mut Server {
        self.nodes.iter_mut().find(|s| s.addr() == addr).unwrap_or_else(|| panic!("no node {addr}"))
    }

    /// A redis-rs cluster connection seeded with every node.
    pub fn client(&self) -> redis::cluster::ClusterConnection {
        Self::client_for(&self.seeds())
    }

    pub fn client_for(seeds: &[String]) -> redis::cluster::ClusterConnection {
        let urls: Vec<String> = seeds.iter().map(|s| format!("redis://{s}/")).collect();
        redis::cluster::ClusterClient::builder(urls)
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(10))
            .build()
            .expect("cluster client")
            .get_connection()
            .expect("cluster connection")
    }

    /// CLUSTER NODES as seen by the node at `addr`.
    pub fn nodes_seen_by(&self, addr: &str) -> Vec<NodeLine> {
        let mut c = self.server(addr).conn();
        let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c).expect("CLUSTER NODES");
        parse_cluster_nodes(&text)
    }

    /// Waits until every running node reports `cluster_state:ok`, agrees on the same set of
    /// primaries covering all 16384 slots, sees no failing node, and every replica's link to
    /// its primary is up and caught up.
    pub fn wait_healthy(&self, timeout: Duration) {
        wait_until(timeout, "a healthy cluster (state ok, replicas in sync)", || self.is_healthy());
    }

    pub fn is_healthy(&self) -> bool {
        let live: Vec<&Server> =
            self.nodes.iter().filter(|s| s.try_conn(Duration::from_millis(300)).is_ok()).collect();
        let mut views = Vec::new();
        for s in &live {
            let Ok(mut c) = s.try_conn(Duration::from_millis(500)) else {
                return false;
            };
            let Ok(info) = redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c) else {
                return false;
            };
            if info_field(&info, "cluster_state").as_deref() != Some("ok") {
                return false;
            }
            let Ok(text) = redis::cmd("CLUSTER").arg("NODES").query::<String>(&mut c) else {
                return false;
            };
            let nodes = parse_cluster_nodes(&text);
            let mut masters: Vec<(String, Vec<(u16, u16)>)> = nodes
                .iter()
                .filter(|n| n.is_master() && !n.slots.is_empty())
                .map(|n| (n.addr.clone(), n.slots.clone()))
                .collect();
            masters.sort();
            let covered: usize =
                nodes.iter().filter(|n| n.is_master()).map(|n| n.slot_count()).sum();
            if covered != 16384 {
                return false;
            }
            // Every live node must be known and healthy from this node's point of view.
            for other in &live {
                let Some(line) = nodes.iter().find(|n| n.addr == other.addr()) else {
                    return false;
                };
                if line.failed() || (!line.flags.iter().any(|f| f == "myself") && !line.connected) {
                    return false;
                }
            }
            if text.contains("handshake") || text.contains("noaddr") {
                return false;
            }
            views.push(masters);
            let Ok(repl) = redis::cmd("INFO").arg("replication").query::<String>(&mut c) else {
                return false;
            };
            if info_field(&repl, "role").as_deref() == Some("slave") {
                if info_field(&repl, "master_link_status").as_deref() != Some("up") {
                    return false;
                }
                if info_field(&repl, "master_sync_in_progress").as_deref() == Some("1") {
                    return false;
                }
            }
        }
        !views.is_empty() && views.windows(2).all(|w| w[0] == w[1])
    }

    /// Waits until each replica's replication offset equals its primary's.
    pub fn wait_replicas_caught_up(&self, timeout: Duration) {
        wait_until(timeout, "replicas caught up with their primaries", || {
            let mut offsets: Vec<(String, String, i64)> = Vec::new(); // (addr, role, offset)
            for s in &self.nodes {
                let Ok(mut c) = s.try_conn(Duration::from_millis(300)) else {
                    continue;
                };
                let Ok(repl) = redis::cmd("INFO").arg("replication").query::<String>(&mut c) else {
                    return false;
                };
                let role = info_field(&repl, "role").unwrap_or_default();
                if role == "master" {
                    let off = info_field(&repl, "master_repl_offset")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(-1);
                    offsets.push((s.addr(), role, off));
                } else {
                    let host = info_field(&repl, "master_host").unwrap_or_default();
                    let port = info_field(&repl, "master_port").unwrap_or_default();
                    let off = info_field(&repl, "slave_repl_offset")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(-2);
                    offsets.push((format!("{host}:{port}"), role, off));
                }
            }
            offsets.iter().filter(|(_, r, _)| r == "slave").all(|(primary, _, off)| {
                offsets.iter().any(|(a, r, o)| a == primary && r == "master" && o == off)
            })
        });
    }

    /// (node id, address) of the primaries that own slots, ordered by first slot.
    pub fn primaries(&self) -> Vec<NodeLine> {
        let live = self
            .nodes
            .iter()
            .find(|s| s.try_conn(Duration::from_millis(300)).is_ok())
            .expect("a live node");
        let mut v: Vec<NodeLine> = self
            .nodes_seen_by(&live.addr())
            .into_iter()
            .filter(|n| n.is_master() && !n.slots.is_empty() && !n.failed())
            .collect();
        v.sort_by_key(|n| n.slots.first().map(|s| s.0).unwrap_or(u16::MAX));
        v
    }

    /// Runs `f` on a plain connection to every primary.
    pub fn on_primaries(&self, mut f: impl FnMut(&mut redis::Connection)) {
        for p in self.primaries() {
            let mut c = self.server(&p.addr).conn();
            f(&mut c);
        }
    }

    /// FLUSHALL on every primary (replicated to the replicas).
    pub fn flushall(&self) {
        self.on_primaries(|c| {
            redis::cmd("FLUSHALL").query::<()>(c).expect("FLUSHALL");
        });
    }

    /// Kills every node now.
    pub fn shutdown(&mut self) {
        for s in &mut self.nodes {
            s.kill9();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A process-wide cluster shared by several #[test]s of one test binary.
///
/// Each test calls [`Shared::run`]: tests take turns (a mutex), the cluster is started by the
/// first one, and killed by the last of `expected` tests to finish (even when tests fail).
/// `expected` counts the tests of a default run (not the `#[ignore]`d ones). If fewer tests run
/// (a name filter, `--ignored`), the harness watchdog kills the servers when the test process
/// exits; if more run (`--include-ignored`), a test that comes after the last expected one starts
/// a fresh cluster.
pub struct Shared {
    state: Mutex<SharedState>,
    expected: usize,
}

struct SharedState {
    cluster: Option<Cluster>,
    finished: usize,
}

impl Shared {
    pub const fn new(expected: usize) -> Shared {
        Shared { state: Mutex::new(SharedState { cluster: None, finished: 0 }), expected }
    }

    pub fn run<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        struct Finish<'a> {
            state: &'a mut SharedState,
            expected: usize,
        }
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.state.finished += 1;
                if self.state.finished >= self.expected {
                    if let Some(mut c) = self.state.cluster.take() {
                        c.shutdown();
                    }
                }
            }
        }
        let fin = Finish { state: &mut guard, expected: self.expected };
        if fin.state.cluster.is_none() {
            let started = Instant::now();
            fin.state.cluster = Some(Cluster::start(6, 1));
            println!("cluster of 6 nodes ready in {:.1} s", started.elapsed().as_secs_f64());
        }
        let cluster = fin.state.cluster.as_mut().unwrap();
        // A previous test may have failed half way: make sure the cluster is whole again.
        restore_cluster(cluster);
        f(cluster)
    }
}

/// Restarts any node that is not running and waits for the cluster to be healthy.
pub fn restore_cluster(cluster: &mut Cluster) {
    let mut restarted = false;
    for s in &mut cluster.nodes {
        if !s.is_alive() {
            s.restart();
            restarted = true;
        }
    }
    let timeout = if restarted { Duration::from_secs(60) } else { Duration::from_secs(30) };
    cluster.wait_healthy(timeout);
}
