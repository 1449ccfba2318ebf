#!/usr/bin/env bash
# Installs what building and testing the module needs, if missing:
# redis-server / redis-cli / redis-benchmark (Debian's Redis 7.0), libclang
# (bindgen, used by the redis-module crate) and strace. Needs only Rust.
set -euo pipefail

have_libclang() {
    ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' ||
        compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null
}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
have_libclang || missing+=(libclang-dev)
# tests/durability.rs measures the AOF fsync interval with it.
command -v strace >/dev/null || missing+=(strace)

if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian starts a redis-server service on install; tests and run.sh use their own.
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
