//! Shared harness for the integration tests: a real `redis-server` with the
//! module loaded, small helpers around redis-rs, and a parser/builder for
//! Redis 7.0 DUMP payloads of module values (see `dump`).
//!
//! Every test starts its own server (tests of one binary run in parallel
//! threads), on a free loopback port, in its own temporary directory.
#![allow(dead_code)]

pub mod dump;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::Value;

/// How long to wait for a server to answer PING after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the module shared object: `$LIKE_MODULE` (when set and not empty), else
/// `target/release/liblike.so`, else `target/debug/liblike.so`.
pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("LIKE_MODULE") {
        if !p.is_empty() {
            let p = PathBuf::from(p);
            assert!(p.exists(), "LIKE_MODULE={} does not exist", p.display());
            return p;
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for profile in ["release", "debug"] {
        let p = root.join("target").join(profile).join("liblike.so");
        if p.exists() {
            return p;
        }
    }
    panic!(
        "module not found: {}/target/release/liblike.so is missing; \
         run `cargo build --release` first (or set LIKE_MODULE=/path/to/liblike.so)",
        root.display()
    );
}

static PORTS_TAKEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Whether a loopback listener can bind `port` now.
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A loopback port that is free, and whose cluster bus port (port + 10000) is free too (so
/// that the same helper serves stand-alone and cluster servers). Never hands out the same
/// port twice in one process.
pub fn free_port() -> u16 {
    let mut taken = PORTS_TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let seed = (std::process::id() as u64)
        .wrapping_mul(2654435761)
        .wrapping_add(Instant::now().elapsed().as_nanos() as u64)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
    for i in 0..20_000u64 {
        let port = 20_000 + ((seed.wrapping_add(i * 7919)) % 30_000) as u16;
        if taken.contains(&port) || taken.contains(&(port + 10_000)) {
            continue;
        }
        if port_free(port) && port_free(port + 10_000) {
            taken.push(port);
            taken.push(port + 10_000);
            return port;
        }
    }
    panic!("no free loopback port pair found");
}

/// A `redis-server` child process with the module loaded.
pub struct Server {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<(String, String)>,
    module: PathBuf,
}

impl Server {
    /// A server with the default configuration (`--save ""`, no AOF).
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A server with extra `--name value` configuration pairs. A value with
    /// spaces (`("replicaof", "127.0.0.1 6379")`) is passed as several words.
    pub fn start_with(extra: &[(&str, &str)]) -> Server {
        let module = module_path();
        let dir = tempfile::Builder::new().prefix("like-test-").tempdir().expect("tempdir");
        let extra: Vec<(String, String)> =
            extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s = Server { child: None, port: free_port(), dir, extra, module };
        let mut last_err = String::new();
        for _attempt in 0..8 {
            match s.spawn_and_wait() {
                Ok(()) => return s,
                Err(e) => {
                    last_err = e;
                    s.kill_child();
                    s.port = free_port();
                }
            }
        }
        s.child = None;
        panic!("could not start redis-server: {last_err}");
    }

    fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--port".into(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            self.dir.path().display().to_string(),
            "--daemonize".into(),
            "no".into(),
            "--logfile".into(),
            "redis.log".into(),
            "--enable-debug-command".into(),
            "yes".into(),
            "--loadmodule".into(),
            self.module.display().to_string(),
        ];
        let has_save = self.extra.iter().any(|(k, _)| k == "save");
        if !has_save {
            a.push("--save".into());
            a.push("".into());
        }
        for (k, v) in &self.extra {
            a.push(format!("--{k}"));
            if v.is_empty() {
                a.push(String::new());
            } else {
                a.extend(v.split_whitespace().map(|s| s.to_string()));
            }
        }
        a
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(self.args())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        spawn_watchdog(child.id());
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "redis-server exited during startup ({status}); log:\n{}",
                    self.log()
                ));
            }
            if raw_ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server did not answer PING within {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's log file contents.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    /// A RESP2 connection (30 s read timeout so that a hung server fails the test).
    pub fn conn(&self) -> redis::Connection {
        let c =
            self.client().get_connection_with_timeout(Duration::from_secs(10)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
        c
    }

    /// A RESP3 connection.
    pub fn conn_resp3(&self) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{}/?protocol=resp3", self.port);
        let c = redis::Client::open(url)
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(10))
            .expect("connect resp3");
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        c
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().unwrap().is_none(),
        }
    }

    /// Assert the process is alive and answers PING.
    pub fn assert_alive(&mut self) {
        assert!(
            self.is_alive(),
            "redis-server is not running any more; log:\n{}",
            tail(&self.log(), 60)
        );
        assert!(
            raw_ping(self.port),
            "redis-server does not answer PING; log:\n{}",
            tail(&self.log(), 60)
        );
    }

    /// Stop with `SHUTDOWN NOSAVE` (falls back to SIGTERM, then SIGKILL).
    pub fn stop(&mut self) {
        if self.child.is_none() {
            return;
        }
        if let Ok(mut c) = self.client().get_connection_with_timeout(Duration::from_secs(2)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let _: redis::RedisResult<Value> = redis::cmd("SHUTDOWN").arg("NOSAVE").query(&mut c);
        }
        if !self.wait_exit(Duration::from_secs(10)) {
            self.kill_child();
        }
        self.child = None;
    }

    fn wait_exit(&mut self, t: Duration) -> bool {
        let deadline = Instant::now() + t;
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        loop {
            if child.try_wait().unwrap().is_some() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_child(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if child.try_wait().unwrap().is_none() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let deadline = Instant::now() + Duration::from_secs(5);
                while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if child.try_wait().unwrap().is_none() {
                    let _ = child.kill();
                }
            }
            let _ = child.wait();
        }
        self.child = None;
    }

    /// Stop gracefully (SHUTDOWN NOSAVE: the AOF is still flushed) and
    /// start again with the same directory, port and arguments.
    pub fn restart(&mut self) {
        self.stop();
        let mut last = String::new();
        for _ in 0..50 {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(e) => {
                    last = e;
                    self.kill_child();
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        panic!("restart failed: {last}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let died = self.child.is_some() && !self.is_alive();
        if std::thread::panicking() || died {
            eprintln!(
                "---- redis-server log (port {}, tail) ----\n{}\n---- end of log ----",
                self.port,
                tail(&self.log(), 80)
            );
        }
        self.kill_child();
        if died && !std::thread::panicking() {
            panic!("redis-server (port {}) died during the test", self.port);
        }
    }
}

/// If the test process dies without running Drop (SIGKILL, SIGPIPE from
/// `| head`, a harness timeout), a tiny shell loop kills the server it left
/// behind. It exits by itself as soon as the server is gone.
fn spawn_watchdog(server_pid: u32) {
    let me = std::process::id();
    // Kills only while the server pid still names a redis-server (no pid reuse).
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do \
           [ \"$(cat /proc/{server_pid}/comm 2>/dev/null)\" = redis-server ] || exit 0; sleep 1; \
         done; \
         [ \"$(cat /proc/{server_pid}/comm 2>/dev/null)\" = redis-server ] && kill -9 {server_pid}; exit 0"
    );
    let _ = spawn_sh(&script);
}

/// Starts `sh -c script` in the background, detached from the test's stdio.
pub fn spawn_sh(script: &str) -> Option<Child> {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// PING over a raw socket; true only on `+PONG` (not on `-LOADING`).
pub fn raw_ping(port: u16) -> bool {
    let addr = format!("127.0.0.1:{port}");
    let Ok(addr) = addr.parse() else { return false };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"+PONG"),
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------
// Small helpers around redis-rs
// ---------------------------------------------------------------------------

/// A fresh server (default configuration) and a connection to it, with `key` holding the
/// likes `ids`.
pub fn start_with_likes(key: &str, ids: &[&str]) -> (Server, redis::Connection) {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut args = vec!["LIKE.ADD", key];
    args.extend_from_slice(ids);
    ok(&mut c, &args);
    (srv, c)
}

/// Build a command from string-ish args.
pub fn cmd_of<S: AsRef<[u8]>>(args: &[S]) -> redis::Cmd {
    let mut c = redis::cmd(std::str::from_utf8(args[0].as_ref()).unwrap());
    for a in &args[1..] {
        c.arg(a.as_ref());
    }
    c
}

/// Run a command, returning the raw value or the server error text
/// (`"<CODE> <detail>"`, as the server sent it).
pub fn q<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> Result<Value, String> {
    match cmd_of(args).query::<Value>(con) {
        Ok(Value::ServerError(e)) => Err(server_error_text(&e)),
        Ok(v) => Ok(v),
        Err(e) => {
            if e.is_io_error() || e.is_connection_dropped() {
                panic!("connection error running {:?}: {e}", show_args(args));
            }
            Err(redis_error_text(&e))
        }
    }
}

fn show_args<S: AsRef<[u8]>>(args: &[S]) -> Vec<String> {
    args.iter().map(|a| String::from_utf8_lossy(a.as_ref()).into_owned()).collect()
}

pub fn server_error_text(e: &redis::ServerError) -> String {
    match e.details() {
        Some(d) => format!("{} {}", e.code(), d),
        None => e.code().to_string(),
    }
}

pub fn redis_error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(c), Some(d)) => format!("{c} {d}"),
        (Some(c), None) => c.to_string(),
        _ => e.to_string(),
    }
}

/// Run a command that must succeed.
pub fn ok<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> Value {
    match q(con, args) {
        Ok(v) => v,
        Err(e) => panic!("{:?} failed: {e}", show_args(args)),
    }
}

/// Run a command that must fail; returns the error text.
pub fn err<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> String {
    match q(con, args) {
        Ok(v) => panic!("{:?} should have failed, got {v:?}", show_args(args)),
        Err(e) => e,
    }
}

/// Integer reply.
pub fn int<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> i64 {
    let v = ok(con, args);
    as_int(&v).unwrap_or_else(|| panic!("{:?}: expected an integer, got {v:?}", show_args(args)))
}

pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

pub fn as_str(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// An array of integers reply.
pub fn ints<S: AsRef<[u8]>>(con: &mut redis::Connection, args: &[S]) -> Vec<i64> {
    let v = ok(con, args);
    value_ints(&v).unwrap_or_else(|| {
        panic!("{:?}: expected an array of integers, got {v:?}", show_args(args))
    })
}

pub fn value_ints(v: &Value) -> Option<Vec<i64>> {
    match v {
        Value::Array(a) | Value::Set(a) => a.iter().map(as_int).collect(),
        _ => None,
    }
}

pub fn s(x: impl ToString) -> String {
    x.to_string()
}

/// All members of a like-set via LIKE.USERS paging (LIMIT `page`),
/// checking they are strictly ascending.
pub fn all_users_paged(con: &mut redis::Connection, key: &str, page: usize) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let mut args = vec![s("LIKE.USERS"), s(key)];
        if let Some(a) = after {
            args.push(s("AFTER"));
            args.push(s(a));
        }
        args.push(s("LIMIT"));
        args.push(s(page));
        let v = ints(con, &args);
        for &x in &v {
            assert!(x >= 0, "LIKE.USERS {key} returned a negative id {x}");
            let x = x as u64;
            if let Some(&last) = out.last() {
                assert!(x > last, "LIKE.USERS {key} not strictly ascending: {last} then {x}");
            }
            if let Some(a) = after {
                assert!(x > a, "LIKE.USERS {key} AFTER {a} returned {x}");
            }
            out.push(x);
        }
        if v.len() < page {
            break;
        }
        after = out.last().copied();
        assert!(out.len() <= 50_000_000, "LIKE.USERS {key}: paging does not terminate");
    }
    out
}

/// All members via paging with the maximum page size.
pub fn all_users(con: &mut redis::Connection, key: &str) -> Vec<u64> {
    all_users_paged(con, key, 10_000)
}

/// Add many ids, in chunks of `chunk` ids per LIKE.ADD, pipelined. Returns
/// the sum of the replies.
pub fn add_many(con: &mut redis::Connection, key: &str, ids: &[u64], chunk: usize) -> i64 {
    let mut total = 0i64;
    for group in ids.chunks(chunk * 16) {
        let mut p = redis::pipe();
        for c in group.chunks(chunk) {
            let mut cmd = redis::cmd("LIKE.ADD");
            cmd.arg(key);
            for id in c {
                cmd.arg(*id);
            }
            p.add_command(cmd);
        }
        let r: Vec<i64> = p.query(con).expect("pipelined LIKE.ADD");
        total += r.iter().sum::<i64>();
    }
    total
}

/// Delete many ids, in chunks, pipelined. Returns the sum of the replies.
pub fn del_many(con: &mut redis::Connection, key: &str, ids: &[u64], chunk: usize) -> i64 {
    let mut total = 0i64;
    for group in ids.chunks(chunk * 16) {
        let mut p = redis::pipe();
        for c in group.chunks(chunk) {
            let mut cmd = redis::cmd("LIKE.DEL");
            cmd.arg(key);
            for id in c {
                cmd.arg(*id);
            }
            p.add_command(cmd);
        }
        let r: Vec<i64> = p.query(con).expect("pipelined LIKE.DEL");
        total += r.iter().sum::<i64>();
    }
    total
}

/// The RDB version the server writes into DUMP payloads, read from a DUMP of
/// a native string (so the tests hold on every server version).
pub fn server_rdb_version(con: &mut redis::Connection) -> u16 {
    let probe = "__like_test_rdb_version_probe";
    ok(con, &["SET", probe, "x"]);
    let payload = ok(con, &["DUMP", probe]);
    ok(con, &["DEL", probe]);
    let Value::BulkString(payload) = payload else {
        panic!("DUMP of a string: unexpected {payload:?}")
    };
    let (_, version) = dump::unframe(&payload).expect("CRC of a native DUMP");
    version
}

/// DEBUG DIGEST-VALUE of one key, as a string.
pub fn digest_value(con: &mut redis::Connection, key: &str) -> String {
    let v = ok(con, &["DEBUG", "DIGEST-VALUE", key]);
    match &v {
        Value::Array(a) if a.len() == 1 => as_str(&a[0]).expect("digest string"),
        other => {
            as_str(other).unwrap_or_else(|| panic!("DEBUG DIGEST-VALUE: unexpected {other:?}"))
        }
    }
}

/// `INFO <section>` as a map of field -> value.
pub fn info(
    con: &mut redis::Connection,
    section: &str,
) -> std::collections::HashMap<String, String> {
    let v = ok(con, &["INFO", section]);
    let text = as_str(&v).expect("INFO text");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .collect()
}

/// Poll `f` until it returns true or `timeout` passes; panics with `what`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// LIKE.INFO as a field -> value map (works for RESP2 flat arrays and RESP3 maps).
pub fn like_info(
    con: &mut redis::Connection,
    key: &str,
) -> std::collections::HashMap<String, Value> {
    let v = ok(con, &["LIKE.INFO", key]);
    info_value_to_map(&v)
}

pub fn info_value_to_map(v: &Value) -> std::collections::HashMap<String, Value> {
    let mut m = std::collections::HashMap::new();
    match v {
        Value::Array(a) => {
            assert!(a.len() % 2 == 0, "LIKE.INFO flat array of odd length: {v:?}");
            for pair in a.chunks(2) {
                let k = as_str(&pair[0]).unwrap_or_else(|| panic!("LIKE.INFO field name: {v:?}"));
                m.insert(k, pair[1].clone());
            }
        }
        Value::Map(pairs) => {
            for (k, val) in pairs {
                let k = as_str(k).unwrap_or_else(|| panic!("LIKE.INFO field name: {v:?}"));
                m.insert(k, val.clone());
            }
        }
        other => panic!("LIKE.INFO: expected array or map, got {other:?}"),
    }
    m
}

/// Integer value of a field that may be sent as integer or as a string.
pub fn field_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => as_str(other).and_then(|s| s.parse().ok()),
    }
}
