//! The module's global allocator: Redis's allocator once the module is loaded
//! (so `used_memory`, MEMORY USAGE and maxmemory see every byte), the system
//! allocator otherwise (unit tests, benches, and any code linking the rlib
//! outside Redis, where `RedisAlloc` would abort). Nothing is allocated
//! before `RedisModule_Init`, so one allocator never frees the other's memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use redis_module::raw;

pub struct ModuleAlloc;

/// Bytes currently allocated through Redis by this module (INFO like_memory).
pub static MODULE_BYTES: AtomicU64 = AtomicU64::new(0);

/// Redis (jemalloc) aligns every allocation to 8 bytes, and to 16 from 16
/// bytes up; larger alignments round the size up so that jemalloc's size
/// classes give them (as redis-module's RedisAlloc does).
fn redis_size(layout: Layout) -> usize {
    if layout.align() <= 8 {
        layout.size()
    } else {
        (layout.size() + layout.align() - 1) & !(layout.align() - 1)
    }
}

/// Redis's allocation functions, once RedisModule_Init has filled them.
fn redis_allocator() -> Option<RedisAllocator> {
    // SAFETY: reading function pointers RedisModule_Init writes once, before
    // the module allocates anything (see the module docs), never after.
    let fns = unsafe { (raw::RedisModule_Alloc, raw::RedisModule_Free, raw::RedisModule_Realloc) };
    match fns {
        (Some(alloc), Some(free), Some(realloc)) => Some(RedisAllocator { alloc, free, realloc }),
        _ => None,
    }
}

struct RedisAllocator {
    alloc: unsafe extern "C" fn(usize) -> *mut std::ffi::c_void,
    free: unsafe extern "C" fn(*mut std::ffi::c_void),
    realloc: unsafe extern "C" fn(*mut std::ffi::c_void, usize) -> *mut std::ffi::c_void,
}

// SAFETY: every method forwards to Redis's allocator (jemalloc/libc: valid,
// aligned to at least 8, and to 16 from 16 bytes up; larger alignments get a
// size rounded up to a multiple of the alignment, which jemalloc's size
// classes align) or, outside Redis, to the system allocator with the same
// layout. Memory is always freed by the allocator that gave it: the choice
// is fixed before the first allocation.
unsafe impl GlobalAlloc for ModuleAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match redis_allocator() {
            Some(redis) => {
                let size = redis_size(layout);
                MODULE_BYTES.fetch_add(size as u64, Ordering::Relaxed);
                // SAFETY: Redis's malloc; `size` is non-zero (GlobalAlloc's contract).
                unsafe { (redis.alloc)(size).cast() }
            }
            // SAFETY: the caller's layout contract passes through.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match redis_allocator() {
            Some(redis) => {
                MODULE_BYTES.fetch_sub(redis_size(layout) as u64, Ordering::Relaxed);
                // SAFETY: `ptr` came from `alloc`/`realloc` above, i.e. from Redis.
                unsafe { (redis.free)(ptr.cast()) }
            }
            // SAFETY: `ptr` came from System with this layout.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match redis_allocator() {
            Some(redis) if layout.align() <= 8 => {
                MODULE_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
                MODULE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
                // SAFETY: `ptr` came from Redis; an alignment of at most 8 is
                // kept by every Redis (re)allocation.
                unsafe { (redis.realloc)(ptr.cast(), new_size).cast() }
            }
            Some(_) => {
                // Over-aligned: allocate, copy, free, through the paths above.
                let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                    return std::ptr::null_mut();
                };
                // SAFETY: a valid non-zero layout (GlobalAlloc::realloc's contract).
                let new = unsafe { self.alloc(new_layout) };
                if !new.is_null() {
                    // SAFETY: both blocks are live and at least this long; they differ.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
            // SAFETY: the caller's contract passes through.
            None => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}
