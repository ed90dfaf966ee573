//! Parses a request's method and path into a typed route. Nothing below this sees raw paths.

use hyper::Method;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerSub {
    Stats,
    Logs,
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessSub {
    Wait,
    Resize,
    Attach,
}

#[derive(Debug, PartialEq)]
pub enum Route {
    State,
    Version,
    Events,
    Metrics,
    Container(String),
    ContainerSub(String, ContainerSub),
    ContainerProcesses(String),
    ContainerProcess(String, i32),
    ProcessSub(String, i32, ProcessSub),
    Checkpoints(String),
    Checkpoint(String, String),
    CheckpointArchive(String, String),
}

impl Route {
    /// The route's shape, as a metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Route::State => "/state",
            Route::Version => "/version",
            Route::Events => "/events",
            Route::Metrics => "/metrics",
            Route::Container(_) => "/containers/{id}",
            Route::ContainerSub(_, ContainerSub::Stats) => "/containers/{id}/stats",
            Route::ContainerSub(_, ContainerSub::Logs) => "/containers/{id}/logs",
            Route::ContainerSub(_, ContainerSub::Wait) => "/containers/{id}/wait",
            Route::ContainerProcesses(_) => "/containers/{id}/process",
            Route::ContainerProcess(..) => "/containers/{id}/process/{pid}",
            Route::ProcessSub(_, _, ProcessSub::Wait) => "/containers/{id}/process/{pid}/wait",
            Route::ProcessSub(_, _, ProcessSub::Resize) => "/containers/{id}/process/{pid}/resize",
            Route::ProcessSub(_, _, ProcessSub::Attach) => "/containers/{id}/process/{pid}/attach",
            Route::Checkpoints(_) => "/containers/{id}/checkpoint",
            Route::Checkpoint(..) => "/containers/{id}/checkpoint/{name}",
            Route::CheckpointArchive(..) => "/containers/{id}/checkpoint/{name}/archive",
        }
    }
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
        Route::State | Route::Version | Route::Events | Route::Metrics => &[Method::GET],
        Route::Container(_) => &[Method::GET, Method::POST, Method::PATCH, Method::DELETE],
        Route::ContainerSub(_, ContainerSub::Wait) => &[Method::POST],
        Route::ContainerSub(..) => &[Method::GET],
        Route::ContainerProcesses(_) => &[Method::PUT, Method::GET],
        Route::ContainerProcess(..) => &[Method::POST],
        Route::ProcessSub(_, _, ProcessSub::Attach) => &[Method::GET, Method::POST],
        Route::ProcessSub(..) => &[Method::POST],
        Route::Checkpoints(_) => &[Method::GET],
        Route::Checkpoint(..) => &[Method::GET, Method::POST, Method::DELETE],
        Route::CheckpointArchive(..) => &[Method::GET, Method::PUT],
    }
}

fn parse_pid(pid: &str) -> Result<i32, ApiError> {
    pid.parse::<i32>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::bad_request(format!("process id {pid:?} is not a pid")))
}

pub fn parse(path: &str) -> Result<Route, ApiError> {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
    let no_route = || ApiError::not_found(format!("no such endpoint: {path}"));
    match segs.as_slice() {
        ["state"] => Ok(Route::State),
        ["version"] => Ok(Route::Version),
        ["events"] => Ok(Route::Events),
        ["metrics"] => Ok(Route::Metrics),
        ["containers", id] => Ok(Route::Container(decode_segment(id)?)),
        ["containers", id, "stats"] => Ok(Route::ContainerSub(decode_segment(id)?, ContainerSub::Stats)),
        ["containers", id, "logs"] => Ok(Route::ContainerSub(decode_segment(id)?, ContainerSub::Logs)),
        ["containers", id, "wait"] => Ok(Route::ContainerSub(decode_segment(id)?, ContainerSub::Wait)),
        ["containers", id, "process" | "processes"] => Ok(Route::ContainerProcesses(decode_segment(id)?)),
        ["containers", id, "checkpoint" | "checkpoints"] => Ok(Route::Checkpoints(decode_segment(id)?)),
        ["containers", id, "checkpoint" | "checkpoints", name] => {
            Ok(Route::Checkpoint(decode_segment(id)?, decode_segment(name)?))
        }
        ["containers", id, "checkpoint" | "checkpoints", name, "archive"] => {
            Ok(Route::CheckpointArchive(decode_segment(id)?, decode_segment(name)?))
        }
        ["containers", id, "process" | "processes", pid] => {
            Ok(Route::ContainerProcess(decode_segment(id)?, parse_pid(pid)?))
        }
        ["containers", id, "process" | "processes", pid, sub] => {
            let sub = match *sub {
                "wait" => ProcessSub::Wait,
                "resize" => ProcessSub::Resize,
                "attach" => ProcessSub::Attach,
                _ => return Err(no_route()),
            };
            Ok(Route::ProcessSub(decode_segment(id)?, parse_pid(pid)?, sub))
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

/// A boolean query parameter (`?x`, `?x=true`, `?x=1`).
pub fn query_flag(query: Option<&str>, name: &str) -> bool {
    matches!(query_param(query, name), Some("true" | "1" | ""))
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
            parse("/containers/web/process/42/attach").ok(),
            Some(Route::ProcessSub("web".into(), 42, ProcessSub::Attach))
        );
        assert_eq!(
            parse("/containers/web/stats").ok(),
            Some(Route::ContainerSub("web".into(), ContainerSub::Stats))
        );
        assert_eq!(
            parse("/containers/web/process/x").map_err(|e| e.status.as_u16()),
            Err(400)
        );
        assert_eq!(
            parse("/containers/web/process/1/nope").map_err(|e| e.status.as_u16()),
            Err(404)
        );
        assert_eq!(parse("/nope").map_err(|e| e.status.as_u16()), Err(404));
        assert_eq!(parse("/containers/%zz").map_err(|e| e.status.as_u16()), Err(400));
    }

    /// docs/openapi.yaml documents exactly the routes this router serves.
    #[test]
    fn openapi_matches_the_router() {
        let doc = include_str!("../../docs/openapi.yaml");
        let documented: Vec<&str> = doc
            .lines()
            .filter(|l| l.starts_with("  /") && l.ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':'))
            .collect();
        assert!(documented.len() >= 14, "{documented:?}");
        for path in &documented {
            let concrete = path
                .replace("{id}", "c1")
                .replace("{pid}", "42")
                .replace("{name}", "n1");
            let route =
                parse(&concrete).unwrap_or_else(|e| panic!("{path} is documented but not routed: {}", e.message));
            assert!(!allowed(&route).is_empty());
        }
        let every_route = [
            Route::State,
            Route::Version,
            Route::Events,
            Route::Metrics,
            Route::Container("c".into()),
            Route::ContainerSub("c".into(), ContainerSub::Stats),
            Route::ContainerSub("c".into(), ContainerSub::Logs),
            Route::ContainerSub("c".into(), ContainerSub::Wait),
            Route::ContainerProcesses("c".into()),
            Route::ContainerProcess("c".into(), 1),
            Route::ProcessSub("c".into(), 1, ProcessSub::Wait),
            Route::ProcessSub("c".into(), 1, ProcessSub::Resize),
            Route::ProcessSub("c".into(), 1, ProcessSub::Attach),
            Route::Checkpoints("c".into()),
            Route::Checkpoint("c".into(), "n".into()),
            Route::CheckpointArchive("c".into(), "n".into()),
        ];
        for r in &every_route {
            assert!(
                documented.contains(&r.label()),
                "{} is routed but not in docs/openapi.yaml",
                r.label()
            );
            let method_lines: Vec<String> = allowed(r)
                .iter()
                .map(|m| format!("    {}:", m.as_str().to_lowercase()))
                .collect();
            let section = doc.split(&format!("\n  {}:\n", r.label())).nth(1).unwrap_or("");
            let section = section.split("\n  /").next().unwrap_or("");
            for m in &method_lines {
                assert!(section.contains(m.as_str()), "{} {m} not documented", r.label());
            }
        }
    }

    #[test]
    fn reads_query_params() {
        assert_eq!(query_param(Some("force=true&x=1"), "force"), Some("true"));
        assert_eq!(query_param(Some("force"), "force"), Some(""));
        assert_eq!(query_param(None, "force"), None);
        assert_eq!(query_param(Some("forced=1"), "force"), None);
        assert!(query_flag(Some("follow=true"), "follow"));
        assert!(!query_flag(Some("follow=false"), "follow"));
    }
}
