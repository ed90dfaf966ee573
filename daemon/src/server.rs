//! The hyper server: accepts on every listener, reads bodies (≤ 1 MiB), routes, answers JSON.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::api::{self, Ctx, Reply};
use crate::error::ApiError;
use crate::router::{self, Route};

pub const MAX_BODY: usize = 1 << 20;

pub type Body = Full<Bytes>;

/// Serves one accepted connection.
pub fn serve_connection<S>(ctx: Arc<Ctx>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let service = service_fn(move |req| {
            let ctx = ctx.clone();
            async move { Ok::<_, Infallible>(handle(ctx, req).await) }
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

fn respond(status: StatusCode, body: Option<Vec<u8>>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.unwrap_or_default())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error_response(e: &ApiError) -> Response<Body> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": e.message })).unwrap_or_default();
    respond(e.status, Some(body))
}

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let result = route(ctx, req).await;
    match result {
        Ok(Reply { status, body }) => {
            tracing::debug!(%method, path, status = status.as_u16(), "request");
            respond(status, body)
        }
        Err(e) => {
            tracing::info!(%method, path, status = e.status.as_u16(), "request failed: {}", e.message);
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
    if let Some(len) = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > MAX_BODY as u64 {
            return Err(too_large());
        }
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
    let force = matches!(router::query_param(req.uri().query(), "force"), Some("true" | "1" | ""));
    let body = read_body(req).await?;
    match (method, route) {
        (Method::GET, Route::State) => api::state::get(&ctx),
        (Method::GET, Route::Version) => Reply::json(
            StatusCode::OK,
            &serde_json::json!({"version": env!("CARGO_PKG_VERSION"), "apiVersion": "1"}),
        ),
        (Method::GET, Route::Container(id)) => api::containers::get(&ctx, &id),
        (Method::POST, Route::Container(id)) => api::containers::start(ctx, id, body).await,
        (Method::PATCH, Route::Container(id)) => api::containers::update(ctx, id, body).await,
        (Method::DELETE, Route::Container(id)) => api::containers::delete(ctx, id, force).await,
        (Method::PUT, Route::ContainerProcesses(id)) => api::process::add(ctx, id, body).await,
        (Method::GET, Route::ContainerProcesses(id)) => api::process::list(&ctx, &id),
        (Method::POST, Route::ContainerProcess(id, pid)) => api::process::signal(&ctx, &id, pid, &body),
        (m, r) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{m} is not served on {r:?}"),
        )),
    }
}
