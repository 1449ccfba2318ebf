//! The set-up script (scripts/deps.sh) decides what to install from what the
//! build and the tests really use. Its detection runs here against fake
//! machines (an `ldconfig -p` listing, a file tree and a PATH of our own), so
//! a machine that has only clang's C++ library is never taken for one that
//! has the libclang bindgen loads.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A fake machine: a root directory, an `ldconfig -p` listing and a PATH.
struct Machine {
    dir: tempfile::TempDir,
}

const TOOLS: &[&str] = &["redis-server", "redis-cli", "redis-benchmark", "strace", "timeout", "cc"];
const CLANG_HEADERS: &str = "usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h";

impl Machine {
    /// Every tool on PATH, no libraries, an empty ldconfig listing.
    fn new() -> Machine {
        let m = Machine { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(m.dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(m.dir.path().join("root")).unwrap();
        for tool in TOOLS {
            m.tool(tool);
        }
        m.listing(&[]);
        m
    }

    fn tool(&self, name: &str) {
        let p = self.dir.path().join("bin").join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn remove_tool(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join("bin").join(name)).unwrap();
    }

    /// A file under the fake root.
    fn file(&self, path: &str) {
        let p = self.dir.path().join("root").join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    /// The `ldconfig -p` output, one library file name per line.
    fn listing(&self, libs: &[&str]) {
        let mut text = format!("{} libs found in cache `/etc/ld.so.cache'\n", libs.len());
        for lib in libs {
            text.push_str(&format!("\t{lib} (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/{lib}\n"));
        }
        std::fs::write(self.dir.path().join("ldconfig.txt"), text).unwrap();
    }

    /// `bash scripts/deps.sh --check` on this machine: (exit code 0?, stderr).
    fn check(&self) -> (bool, String) {
        self.check_with(&[])
    }

    fn check_with(&self, env: &[(&str, &Path)]) -> (bool, String) {
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deps.sh"))
            .arg("--check")
            .env("DEPS_LDCONFIG_LISTING", self.dir.path().join("ldconfig.txt"))
            .env("DEPS_ROOT", self.dir.path().join("root"))
            .env("DEPS_PATH", self.dir.path().join("bin"))
            .env_remove("LIBCLANG_PATH");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run bash scripts/deps.sh --check");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn missing_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("missing: ")).collect()
}

#[test]
fn libclang_cpp_alone_is_reported_missing() {
    // The base image that fooled the old check: ldconfig lists only clang's C++ library.
    let m = Machine::new();
    m.listing(&["libclang-cpp.so.14", "libc.so.6"]);
    m.file("usr/lib/llvm-14/lib/libclang-cpp.so.14");
    m.file("usr/lib/x86_64-linux-gnu/libclang-cpp.so.14");
    m.file(CLANG_HEADERS);
    let (ok, stderr) = m.check();
    assert!(!ok, "libclang-cpp alone passed the check:\n{stderr}");
    let lines = missing_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("libclang shared library"), "{stderr}");
    assert!(lines[0].contains("apt-get install libclang-dev"), "{stderr}");
}

#[test]
fn libclang_is_found_by_every_name_bindgen_loads() {
    for lib in [
        "libclang.so",
        "libclang.so.1",
        "libclang-14.so.1",
        "libclang-14.0.6.so",
        "libclang-16.so.16.0",
    ] {
        // In the ldconfig cache ...
        let m = Machine::new();
        m.listing(&["libclang-cpp.so.14", lib]);
        m.file(CLANG_HEADERS);
        let (ok, stderr) = m.check();
        assert!(ok, "{lib} listed by ldconfig:\n{stderr}");
        // ... or only in an llvm directory ...
        let m = Machine::new();
        m.file(&format!("usr/lib/llvm-14/lib/{lib}"));
        m.file(CLANG_HEADERS);
        let (ok, stderr) = m.check();
        assert!(ok, "{lib} in /usr/lib/llvm-14/lib:\n{stderr}");
        // ... or where LIBCLANG_PATH points.
        let m = Machine::new();
        m.file(&format!("opt/clang/{lib}"));
        m.file(CLANG_HEADERS);
        let (ok, stderr) = m.check_with(&[("LIBCLANG_PATH", &m.dir.path().join("root/opt/clang"))]);
        assert!(ok, "{lib} in LIBCLANG_PATH:\n{stderr}");
    }
}

#[test]
fn libclang_without_clang_headers_is_reported() {
    // libclang1-14 alone: the library is there, clang's stddef.h is not.
    let m = Machine::new();
    m.listing(&["libclang-14.so.1"]);
    let (ok, stderr) = m.check();
    assert!(!ok);
    let lines = missing_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("clang builtin headers"), "{stderr}");
}

#[test]
fn each_missing_tool_gets_one_line_naming_its_package() {
    for (tool, package) in [
        ("redis-server", "redis-server"),
        ("redis-cli", "redis-tools"),
        ("redis-benchmark", "redis-tools"),
        ("strace", "strace"),
        ("cc", "gcc"),
    ] {
        let m = Machine::new();
        m.listing(&["libclang-14.so.1"]);
        m.file(CLANG_HEADERS);
        m.remove_tool(tool);
        let (ok, stderr) = m.check();
        assert!(!ok, "{tool} missing passed the check");
        let lines = missing_lines(&stderr);
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].starts_with(&format!("missing: {tool} ")), "{stderr}");
        assert!(lines[0].ends_with(&format!("apt-get install {package}")), "{stderr}");
    }
}

#[test]
fn a_bare_machine_lists_everything() {
    let m = Machine::new();
    for tool in TOOLS {
        m.remove_tool(tool);
    }
    m.listing(&["libclang-cpp.so.14"]);
    let (ok, stderr) = m.check();
    assert!(!ok);
    assert_eq!(missing_lines(&stderr).len(), 2 + TOOLS.len(), "{stderr}");
}

#[test]
fn this_machine_has_everything() {
    // The test command installed what was missing before building; the real check agrees.
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deps.sh"))
        .arg("--check")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
