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

unsafe impl GlobalAlloc for ModuleAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match raw::RedisModule_Alloc {
            Some(alloc) => {
                let size = redis_size(layout);
                MODULE_BYTES.fetch_add(size as u64, Ordering::Relaxed);
                alloc(size).cast()
            }
            None => System.alloc(layout),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match raw::RedisModule_Free {
            Some(free) => {
                MODULE_BYTES.fetch_sub(redis_size(layout) as u64, Ordering::Relaxed);
                free(ptr.cast())
            }
            None => System.dealloc(ptr, layout),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match raw::RedisModule_Realloc {
            Some(realloc) if layout.align() <= 8 => {
                MODULE_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
                MODULE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
                realloc(ptr.cast(), new_size).cast()
            }
            Some(_) => {
                // Over-aligned: allocate, copy, free, through the paths above.
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
            None => System.realloc(ptr, layout, new_size),
        }
    }
}
