//! LIKE: a Redis module for exact likes counting. See README.md.
//!
//! Layout: `likeset` is the data structure (plain Rust, no Redis types);
//! `commands` the thin command handlers; `command_table` their metadata;
//! `type_callbacks` the data type's `extern "C"` callbacks; `redis_api` the
//! raw-API wrappers they share.

pub mod likeset;
pub mod userid;

pub mod alloc;
mod command_table;
mod commands;
mod config;
mod redis_api;
mod stats;
mod type_callbacks;

use redis_module::configuration::{register_i64_configuration, ConfigurationFlags};
use redis_module::{raw, redis_module, Context, RedisString, Status};

use type_callbacks::LIKE_TYPE;

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    let options = raw::ModuleOptions::HANDLE_IO_ERRORS | raw::ModuleOptions::NO_IMPLICIT_SIGNAL_MODIFIED;
    if let Some(set_options) = unsafe { raw::RedisModule_SetModuleOptions } {
        unsafe { set_options(ctx.ctx, options.bits()) };
    }
    if let Some(register_info) = unsafe { raw::RedisModule_RegisterInfoFunc } {
        unsafe { register_info(ctx.ctx, Some(stats::info)) };
    }
    register_i64_configuration(
        ctx,
        "packed-max",
        &config::PACKED_MAX,
        likeset::DEFAULT_PACKED_MAX as i64,
        config::PACKED_MAX_MIN,
        config::PACKED_MAX_MAX,
        ConfigurationFlags::DEFAULT,
        None,
    );
    // Applies `like.packed-max` from redis.conf / loadmodule, when the server has module configs.
    if let Some(load_configs) = unsafe { raw::RedisModule_LoadConfigs } {
        unsafe { load_configs(ctx.ctx) };
    }
    match command_table::register(ctx.ctx) {
        Ok(()) => Status::Ok,
        Err(e) => {
            ctx.log_warning(&format!("like: {e}"));
            Status::Err
        }
    }
}

redis_module! {
    name: "like",
    version: 1_00_00,
    allocator: (alloc::ModuleAlloc, alloc::ModuleAlloc),
    data_types: [LIKE_TYPE],
    init: init,
}
