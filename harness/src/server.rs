//! One `redis-server` child process with the LIKE module loaded, for stand-alone tests and for
//! the nodes of a cluster alike.
//!
//! * [`module_path()`]: the `liblike.so` of the running binary's own target directory and profile.
//! * [`free_port`]: a free loopback port whose cluster bus port (+10000) is free too.
//! * [`Server`]: a server on such a port, in its own temporary directory ([`Server::start`],
//!   [`Server::start_with`]) or in a directory the caller chose ([`Server::start_in`]);
//!   restartable with the same directory, port and arguments; killed on drop.
//! * The watchdog: one `sh` process per test process. If the test process dies without running
//!   its destructors (SIGKILL, SIGPIPE from `| head`, a harness timeout), it SIGKILLs every
//!   redis-server the process left running, then removes the process's scratch directory.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::Value;

/// How long to wait for a server to answer PING after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the module shared object: `$LIKE_MODULE` when set and not empty (it must exist),
/// else the `liblike.so` that the running binary's own cargo build produced.
///
/// Cargo puts a test binary at `<target>/<profile>/deps/<test>-<hash>` and an example at
/// `<target>/<profile>/examples/<name>`, and builds the module it depends on as
/// `<target>/<profile>/deps/liblike.so`. That file is the fresh one: `cargo test` rebuilds it
/// after an edit, while the copy at `<target>/<profile>/liblike.so` is only refreshed by
/// `cargo build` (so it can be stale). A `cargo test` loads the module of its own build and
/// profile, never another one. Panics, saying what to run, when neither file exists.
pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("LIKE_MODULE") {
        if !p.is_empty() {
            let p = PathBuf::from(p);
            assert!(p.exists(), "LIKE_MODULE={} does not exist", p.display());
            return p;
        }
    }
    let exe = std::env::current_exe().expect("the path of the running binary");
    let profile_dir = profile_dir_of(&exe);
    let candidates = [profile_dir.join("deps").join("liblike.so"), profile_dir.join("liblike.so")];
    if let Some(p) = candidates.iter().find(|p| p.exists()) {
        return p.clone();
    }
    let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
    let build = match profile.as_str() {
        "debug" => "cargo build".to_string(),
        "release" => "cargo build --release".to_string(),
        other => format!("cargo build --profile {other}"),
    };
    panic!(
        "module not found: neither {} nor {} exists (the running binary {} was built with the \
         `{profile}` profile). Run `{build}`, or set LIKE_MODULE=/path/to/liblike.so",
        candidates[0].display(),
        candidates[1].display(),
        exe.display()
    );
}

/// `<target>/<profile>` for a binary in `<target>/<profile>/deps` or `.../examples` (or
/// directly in `<target>/<profile>`).
fn profile_dir_of(exe: &Path) -> PathBuf {
    let dir = exe.parent().expect("the running binary has a directory");
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("deps") | Some("examples") => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    }
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

// ---------------------------------------------------------------------------
// The process's scratch directory and its watchdog
// ---------------------------------------------------------------------------

/// The directory under which this process keeps its servers' directories, and the pid files
/// the watchdog reads.
struct Scratch {
    dir: PathBuf,
    pids: PathBuf,
}

static SCRATCH: OnceLock<Scratch> = OnceLock::new();

/// The scratch directory of this test process; the first call starts the watchdog.
fn scratch() -> &'static Scratch {
    SCRATCH.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix(&format!("like-harness-{}-", std::process::id()))
            .tempdir()
            .expect("tempdir")
            .keep();
        let pids = dir.join("pids");
        std::fs::create_dir_all(&pids).expect("mkdir pids");
        // Once this process is gone (whatever way it ended), SIGKILL every server it registered
        // (only while the pid still names a redis-server: no pid reuse) and remove the scratch
        // directory. After a normal exit there is nothing left to kill.
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; \
             for f in '{pids}'/*; do \
               [ -f \"$f\" ] || continue; p=$(cat \"$f\"); \
               [ \"$(cat /proc/$p/comm 2>/dev/null)\" = redis-server ] && kill -9 \"$p\"; \
             done; \
             rm -rf '{dir}'; exit 0",
            me = std::process::id(),
            pids = pids.display(),
            dir = dir.display(),
        );
        let _ = spawn_sh(&script);
        Scratch { dir, pids }
    })
}

/// A new temporary directory (removed on drop) under this process's scratch directory.
pub fn scratch_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir_in(&scratch().dir).expect("tempdir")
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

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// A `redis-server` child process with the module loaded.
pub struct Server {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// The directory, when the server owns it (removed on drop).
    _owned_dir: Option<tempfile::TempDir>,
    extra: Vec<(String, String)>,
    module: PathBuf,
}

impl Server {
    /// A server with the default configuration (`--save ""`, no AOF), in its own temporary
    /// directory.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A server with extra `--name value` configuration pairs (they override the defaults
    /// `--save ""` and `--appendonly no`), in its own temporary directory. A value with
    /// spaces (`("replicaof", "127.0.0.1 6379")`) is passed as several words.
    pub fn start_with(extra: &[(&str, &str)]) -> Server {
        let dir = scratch_tempdir("like-test-");
        Server::launch(dir.path().to_path_buf(), Some(dir), extra)
    }

    /// A server in `dir` (created if missing; it belongs to the caller, e.g. a
    /// [`Root`](crate::Root) sub-directory), with extra configuration as for
    /// [`Server::start_with`].
    pub fn start_in(dir: impl Into<PathBuf>, extra: &[(&str, &str)]) -> Server {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).expect("mkdir");
        Server::launch(dir, None, extra)
    }

    fn launch(dir: PathBuf, owned: Option<tempfile::TempDir>, extra: &[(&str, &str)]) -> Server {
        let module = module_path();
        let extra: Vec<(String, String)> =
            extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut s =
            Server { child: None, port: free_port(), dir, _owned_dir: owned, extra, module };
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
            self.dir.display().to_string(),
            "--daemonize".into(),
            "no".into(),
            "--logfile".into(),
            "redis.log".into(),
            "--enable-debug-command".into(),
            "yes".into(),
            "--loadmodule".into(),
            self.module.display().to_string(),
        ];
        for (k, v) in [("save", ""), ("appendonly", "no")] {
            if !self.extra.iter().any(|(e, _)| e == k) {
                a.push(format!("--{k}"));
                a.push(v.into());
            }
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

    /// The watchdog's pid file of this server.
    fn pid_file(&self) -> PathBuf {
        scratch().pids.join(self.port.to_string())
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(self.args())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server (is it installed?): {e}"))?;
        let _ = std::fs::write(self.pid_file(), child.id().to_string());
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.reaped();
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

    /// Forgets the (exited and reaped) child and its pid file.
    fn reaped(&mut self) {
        self.child = None;
        let _ = std::fs::remove_file(self.pid_file());
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The process id, while the harness has a child process for this server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The server's log file contents.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    /// A RESP2 connection within `timeout` (60 s read/write timeouts so that a hung server
    /// fails the test).
    pub fn try_conn(&self, timeout: Duration) -> redis::RedisResult<redis::Connection> {
        let c = self.client().get_connection_with_timeout(timeout)?;
        c.set_read_timeout(Some(Duration::from_secs(60)))?;
        c.set_write_timeout(Some(Duration::from_secs(60)))?;
        Ok(c)
    }

    /// A RESP2 connection (60 s read/write timeouts so that a hung server fails the test).
    pub fn conn(&self) -> redis::Connection {
        self.try_conn(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.addr()))
    }

    /// A RESP3 connection.
    pub fn conn_resp3(&self) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{}/?protocol=resp3", self.port);
        let c = redis::Client::open(url)
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(10))
            .expect("connect resp3");
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
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

    /// The text of `INFO section` (`field:value` lines).
    pub fn info(&self, section: &str) -> String {
        let mut c = self.conn();
        redis::cmd("INFO").arg(section).query::<String>(&mut c).unwrap_or_default()
    }

    /// One field of `INFO section`.
    pub fn info_field(&self, section: &str, field: &str) -> Option<String> {
        info_field(&self.info(section), field)
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
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        self.reaped();
    }

    /// SIGKILL, then reap. No-op if not running.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.reaped();
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

    /// SIGTERM, then SIGKILL after 5 s; reaps.
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
        self.reaped();
    }

    /// Stop gracefully (SHUTDOWN NOSAVE: the AOF is still flushed; a no-op after
    /// [`Server::kill9`] or a crash) and start again with the same directory, port and
    /// arguments; waits until it answers PING (loading finished).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !port_free(self.port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
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
        panic!("redis-server on {} did not restart: {last}", self.port);
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

/// A field of an INFO reply.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        let (k, v) = l.trim_end().split_once(':')?;
        (k == field).then(|| v.to_string())
    })
}

/// The last `n` lines of `s`.
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
