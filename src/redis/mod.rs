//! Everything that touches Redis: the module's entry point (OnLoad), the
//! raw API wrappers, the command table and handlers, the data type's
//! callbacks and value word, the allocator, INFO, configuration and the
//! panic policy. The like-set itself (`crate::likeset`) knows none of it.

pub mod alloc;
mod api;
mod callbacks;
mod command_table;
mod commands;
mod config;
mod info;
mod panic;
mod value;

use std::os::raw::c_int;

use redis_module::{raw, redis_module, Context, RedisString, Status};

use callbacks::LIKE_TYPE;

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    panic::install_hook();
    callbacks::keep_like_type();
    let options =
        raw::ModuleOptions::HANDLE_IO_ERRORS | raw::ModuleOptions::NO_IMPLICIT_SIGNAL_MODIFIED;
    // SAFETY: reading function pointers RedisModule_Init wrote once, and
    // calling them from OnLoad with its context, as the API requires.
    unsafe {
        if let Some(set_options) = raw::RedisModule_SetModuleOptions {
            set_options(ctx.ctx, options.bits());
        }
        if let Some(register_info) = raw::RedisModule_RegisterInfoFunc {
            register_info(ctx.ctx, Some(callbacks::info_section));
        }
    }
    let loading = raw::RedisModuleEvent { id: raw::REDISMODULE_EVENT_LOADING, dataver: 1 };
    // SAFETY: as above; the callback is a plain extern "C" fn that lives as long as the module.
    let subscribed = unsafe {
        raw::RedisModule_SubscribeToServerEvent
            .map(|subscribe| subscribe(ctx.ctx, loading, Some(callbacks::loading_event)))
    };
    if subscribed != Some(raw::REDISMODULE_OK as c_int) {
        ctx.log_warning("like: cannot subscribe to the loading event");
        return Status::Err;
    }
    config::register(ctx);
    // Applies `like.packed-max` from redis.conf / loadmodule, when the server has module configs.
    // SAFETY: as above.
    unsafe {
        if let Some(load_configs) = raw::RedisModule_LoadConfigs {
            load_configs(ctx.ctx);
        }
    }
    match command_table::register(ctx.ctx) {
        Ok(()) => Status::Ok,
        Err(e) => {
            ctx.log_warning(&format!("like: {e}"));
            Status::Err
        }
    }
}

// Miri cannot read the module API's extern statics (the allocator's among
// them): under Miri the crate is only its plain-Rust core and unit tests.
#[cfg(not(miri))]
redis_module! {
    name: "like",
    version: 1_00_00,
    allocator: (alloc::ModuleAlloc, alloc::ModuleAlloc),
    data_types: [LIKE_TYPE],
    init: init,
}
