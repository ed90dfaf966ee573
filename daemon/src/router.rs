//! Parses a request's method and path into a typed route. Nothing below this sees raw paths.

use hyper::Method;

use crate::error::ApiError;

#[derive(Debug, PartialEq)]
pub enum Route {
    State,
    Version,
    Events,
    Container(String),
    ContainerProcesses(String),
    ContainerProcess(String, i32),
}

/// Decodes `%XX` escapes of one path segment.
fn decode_segment(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::bad_request(format!("bad escape in path segment {s:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request(format!("path segment {s:?} is not UTF-8")))
}

/// Which methods each route accepts (for 405 answers).
pub fn allowed(route: &Route) -> &'static [Method] {
    match route {
        Route::State | Route::Version | Route::Events => &[Method::GET],
        Route::Container(_) => &[Method::GET, Method::POST, Method::PATCH, Method::DELETE],
        Route::ContainerProcesses(_) => &[Method::PUT, Method::GET],
        Route::ContainerProcess(..) => &[Method::POST],
    }
}

pub fn parse(path: &str) -> Result<Route, ApiError> {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
    let no_route = || ApiError::not_found(format!("no such endpoint: {path}"));
    match segs.as_slice() {
        ["state"] => Ok(Route::State),
        ["version"] => Ok(Route::Version),
        ["events"] => Ok(Route::Events),
        ["containers", id] => Ok(Route::Container(decode_segment(id)?)),
        ["containers", id, "process" | "processes"] => Ok(Route::ContainerProcesses(decode_segment(id)?)),
        ["containers", id, "process" | "processes", pid] => {
            let pid = pid
                .parse::<i32>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| ApiError::bad_request(format!("process id {pid:?} is not a pid")))?;
            Ok(Route::ContainerProcess(decode_segment(id)?, pid))
        }
        _ => Err(no_route()),
    }
}

/// The value of one query parameter.
pub fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| match kv.split_once('=') {
        Some((k, v)) if k == name => Some(v),
        None if kv == name => Some(""),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routes() {
        assert_eq!(parse("/state").ok(), Some(Route::State));
        assert_eq!(parse("/containers/web").ok(), Some(Route::Container("web".into())));
        assert_eq!(parse("/containers/web/").ok(), Some(Route::Container("web".into())));
        assert_eq!(parse("/containers/a%2Fb").ok(), Some(Route::Container("a/b".into())));
        assert_eq!(
            parse("/containers/web/process").ok(),
            Some(Route::ContainerProcesses("web".into()))
        );
        assert_eq!(
            parse("/containers/web/processes").ok(),
            Some(Route::ContainerProcesses("web".into()))
        );
        assert_eq!(
            parse("/containers/web/process/42").ok(),
            Some(Route::ContainerProcess("web".into(), 42))
        );
        assert_eq!(
            parse("/containers/web/process/x").map_err(|e| e.status.as_u16()),
            Err(400)
        );
        assert_eq!(parse("/nope").map_err(|e| e.status.as_u16()), Err(404));
        assert_eq!(parse("/containers/%zz").map_err(|e| e.status.as_u16()), Err(400));
    }

    #[test]
    fn reads_query_params() {
        assert_eq!(query_param(Some("force=true&x=1"), "force"), Some("true"));
        assert_eq!(query_param(Some("force"), "force"), Some(""));
        assert_eq!(query_param(None, "force"), None);
        assert_eq!(query_param(Some("forced=1"), "force"), None);
    }
}
