#!/usr/bin/env bash
# Makes sure everything building and testing the module needs is here, and
# installs (apt-get) what is not. Needs only Rust and a Debian-like system.
#
#   bash scripts/deps.sh           install what is missing, then verify
#   bash scripts/deps.sh --check   only verify: one line per missing tool, exit 1
#
# Each need is checked by what the build or the tests really use, never by a
# package name: bindgen (the redis-module crate's build) loads the shared
# library libclang.so / libclang-<N>.so (NOT libclang-cpp, clang's C++ API,
# which base images often ship) and reads clang's builtin headers (stddef.h).
# Installing what is already there is harmless; skipping what is missing is not.
#
# For the set-up test (tests/setup.rs), the places looked at can be replaced:
#   DEPS_LDCONFIG_LISTING  a file with `ldconfig -p` output to use instead of ldconfig
#   DEPS_ROOT              a directory to look in instead of / (for the llvm and clang dirs)
#   DEPS_PATH              the PATH used to look for commands
set -euo pipefail

root="${DEPS_ROOT:-}"

# The `ldconfig -p` listing of shared libraries.
ldconfig_listing() {
    if [ -n "${DEPS_LDCONFIG_LISTING:-}" ]; then
        cat "$DEPS_LDCONFIG_LISTING"
    else
        { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null || true
    fi
}

# True when a file name is the libclang bindgen loads: libclang.so[.V],
# libclang-<N>[.M...].so[.V]; false for libclang-cpp.so.* and the like.
is_libclang_name() {
    [[ "$1" =~ ^libclang(-[0-9]+(\.[0-9]+)*)?\.so(\.[0-9]+)*$ ]]
}

have_libclang_library() {
    local name path
    if [ -n "${LIBCLANG_PATH:-}" ]; then
        for path in "$LIBCLANG_PATH"/libclang*.so*; do
            is_libclang_name "$(basename "$path")" && return 0
        done
    fi
    # `ldconfig -p` lines: "\tlibclang-14.so.1 (libc6,x86-64) => /usr/lib/...".
    while read -r name _; do
        is_libclang_name "$name" && return 0
    done < <(ldconfig_listing)
    # bindgen also searches the llvm directories, which ldconfig may not list.
    for path in "$root"/usr/lib/llvm-*/lib/libclang*.so* "$root"/usr/lib/*/libclang*.so* "$root"/usr/lib/libclang*.so*; do
        [ -e "$path" ] && is_libclang_name "$(basename "$path")" && return 0
    done
    return 1
}

# clang's own headers (stddef.h, stdarg.h), which glibc's headers include.
have_clang_headers() {
    local path
    for path in "$root"/usr/lib/llvm-*/lib/clang/*/include/stddef.h "$root"/usr/lib/clang/*/include/stddef.h \
        "$root"/usr/include/clang/*/include/stddef.h; do
        [ -e "$path" ] && return 0
    done
    return 1
}

have_command() {
    PATH="${DEPS_PATH:-$PATH}" command -v "$1" >/dev/null 2>&1
}

# One line per missing need: "<what>|<why>|<Debian package>".
missing_needs() {
    have_libclang_library || echo "libclang shared library (libclang.so)|bindgen loads it to build the module|libclang-dev"
    have_clang_headers || echo "clang builtin headers (stddef.h)|bindgen reads them to build the module|libclang-dev"
    have_command redis-server || echo "redis-server|the tests and scripts/run.sh start it|redis-server"
    have_command redis-cli || echo "redis-cli|scripts/run.sh and the cluster tests call it|redis-tools"
    have_command redis-benchmark || echo "redis-benchmark|bench/run.sh drives the load with it|redis-tools"
    # tests/durability.rs measures the AOF fsync interval with it.
    have_command strace || echo "strace|the durability tests trace fsync with it|strace"
    have_command timeout || echo "timeout|the durability tests bound strace with it|coreutils"
    have_command cc || echo "cc (a C compiler)|the redis-module crate compiles C|gcc"
}

report() {
    local what why pkg
    while IFS='|' read -r what why pkg; do
        echo "missing: $what ($why): install it with: apt-get install $pkg" >&2
    done <<<"$1"
}

if ! command -v cargo >/dev/null; then
    echo "missing: cargo (builds the module): install Rust from https://rustup.rs" >&2
    exit 1
fi

missing="$(missing_needs)"
if [ "${1:-}" = "--check" ]; then
    [ -z "$missing" ] && exit 0
    report "$missing"
    exit 1
fi

if [ -n "$missing" ]; then
    packages="$(cut -d'|' -f3 <<<"$missing" | sort -u | tr '\n' ' ')"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if command -v apt-get >/dev/null && { [ -z "$sudo" ] || command -v sudo >/dev/null; }; then
        echo "installing: $packages"
        had_redis_server=0
        have_command redis-server && had_redis_server=1
        $sudo apt-get update -qq
        # shellcheck disable=SC2086 # one word per package
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null
        # Debian's package starts a redis-server service on 6379; the tests and
        # scripts/run.sh start their own, so stop the one this install started.
        if [ "$had_redis_server" = 0 ]; then
            { $sudo service redis-server stop || $sudo systemctl stop redis-server; } >/dev/null 2>&1 || true
        fi
        missing="$(missing_needs)"
    fi
fi
if [ -n "$missing" ]; then
    report "$missing"
    exit 1
fi
