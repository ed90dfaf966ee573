//! The hyper server: accepts on every listener, checks who the peer is, reads bodies (≤ 1 MiB),
//! routes, answers JSON (or a stream, or an upgraded connection for attach).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::api::{self, Ctx, Reply};
use crate::body::Body;
use crate::error::ApiError;
use crate::router::{self, ContainerSub, ProcessSub, Route};

pub const MAX_BODY: usize = 1 << 20;

/// Serves one accepted connection. `denied` carries the reason when the peer may not use the
/// API: every request on it then gets 403.
pub fn serve_connection<S>(ctx: Arc<Ctx>, stream: S, denied: Option<String>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let denied = denied.map(Arc::new);
        let service = service_fn(move |req| {
            let ctx = ctx.clone();
            let denied = denied.clone();
            async move {
                Ok::<_, Infallible>(match denied {
                    Some(why) => error_response(&ApiError::new(StatusCode::FORBIDDEN, why.as_str())),
                    None => handle(ctx, req).await,
                })
            }
        });
        if let Err(e) = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
            .await
        {
            tracing::debug!("connection ended: {e}");
        }
    });
}

fn respond(reply: Reply) -> Response<Body> {
    let mut resp = Response::new(reply.body);
    *resp.status_mut() = reply.status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    for (k, v) in reply.headers {
        resp.headers_mut().insert(k, v);
    }
    resp
}

fn error_response(e: &ApiError) -> Response<Body> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": e.message })).unwrap_or_default();
    let mut resp = Response::new(crate::body::full(body));
    *resp.status_mut() = e.status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let label = router::parse(&path).map(|r| r.label()).unwrap_or("unknown");
    let result = route(ctx.clone(), req).await;
    let code = match &result {
        Ok(r) => r.status.as_u16(),
        Err(e) => e.status.as_u16(),
    };
    ctx.metrics
        .record_request(label, method.as_str(), code, started.elapsed().as_secs_f64());
    match result {
        Ok(reply) => {
            tracing::debug!(%method, path, status = code, "request");
            respond(reply)
        }
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(%method, path, status = code, "request failed: {}", e.message);
            } else {
                tracing::info!(%method, path, status = code, "request refused: {}", e.message);
            }
            error_response(&e)
        }
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is over {MAX_BODY} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY as u64) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!("reading request body: {e}"))),
    }
}

async fn route(ctx: Arc<Ctx>, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let route = router::parse(req.uri().path())?;
    let method = req.method().clone();
    if !router::allowed(&route).contains(&method) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {}", req.uri().path()),
        ));
    }
    let query = req.uri().query().map(str::to_owned);
    let q = query.as_deref();
    if let Route::ProcessSub(id, pid, ProcessSub::Attach) = &route {
        return api::attach::attach(&ctx, id, *pid, req);
    }
    // Archives are streamed both ways: no 1 MiB body limit there.
    if let Route::CheckpointArchive(id, name) = route {
        return match method {
            Method::GET => api::checkpoint::export(&ctx, id, name, q),
            _ => api::checkpoint::import(ctx, id, name, req.into_body()).await,
        };
    }
    let body = read_body(req).await?;
    match (method, route) {
        (Method::GET, Route::State) => api::state::get(&ctx),
        (Method::GET, Route::Version) => api::state::version(&ctx),
        (Method::GET, Route::Metrics) => api::metrics::get(&ctx),
        (Method::GET, Route::Events) => api::events::stream(&ctx, router::query_param(q, "id").map(str::to_owned)),
        (Method::GET, Route::Container(id)) => api::containers::get(&ctx, &id),
        (Method::POST, Route::Container(id)) => api::containers::start(ctx, id, body).await,
        (Method::PATCH, Route::Container(id)) => api::containers::update(ctx, id, body).await,
        (Method::DELETE, Route::Container(id)) => {
            api::containers::delete(ctx, id, router::query_flag(q, "force")).await
        }
        (Method::GET, Route::ContainerSub(id, ContainerSub::Stats)) => {
            api::stats::get(ctx, id, router::query_flag(q, "stream")).await
        }
        (Method::GET, Route::ContainerSub(id, ContainerSub::Logs)) => api::logs::get(ctx, id, query).await,
        (Method::POST, Route::ContainerSub(id, ContainerSub::Wait)) => api::wait::container(ctx, id).await,
        (Method::PUT, Route::ContainerProcesses(id)) => api::process::add(ctx, id, body).await,
        (Method::GET, Route::ContainerProcesses(id)) => api::process::list(&ctx, &id),
        (Method::POST, Route::ContainerProcess(id, pid)) => api::process::signal(&ctx, &id, pid, &body),
        (Method::POST, Route::ProcessSub(id, pid, ProcessSub::Wait)) => api::wait::process(ctx, id, pid).await,
        (Method::POST, Route::ProcessSub(id, pid, ProcessSub::Resize)) => api::attach::resize(&ctx, &id, pid, &body),
        (Method::GET, Route::Checkpoints(id)) => api::checkpoint::list(ctx, id).await,
        (Method::GET, Route::Checkpoint(id, name)) => api::checkpoint::get(ctx, id, name).await,
        (Method::POST, Route::Checkpoint(id, name)) => api::checkpoint::create(ctx, id, name, body).await,
        (Method::DELETE, Route::Checkpoint(id, name)) => api::checkpoint::delete(ctx, id, name).await,
        (m, r) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{m} is not served on {}", r.label()),
        )),
    }
}
