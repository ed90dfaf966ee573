//! `GET /state`: every container and the machine.

use hyper::StatusCode;

use super::types::{Container, Machine, State};
use super::{Ctx, Reply};
use crate::error::ApiError;

pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let containers = ctx.runtime.list().iter().map(Container::from).collect();
    let m = runtime::Runtime::machine();
    let state = State {
        containers,
        machine: Machine {
            id: ctx.machine_id.clone(),
            cpus: m.cpus,
            memory: m.memory,
        },
    };
    Reply::json(StatusCode::OK, &state)
}

/// `GET /version`.
pub fn version(ctx: &Ctx) -> Result<Reply, ApiError> {
    Reply::json(
        StatusCode::OK,
        &serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "apiVersion": crate::API_VERSION,
            "libcontainer": env!("CTRD_LIBCONTAINER_VERSION"),
            "criu": ctx.criu_version,
        }),
    )
}
