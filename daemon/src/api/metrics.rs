//! `GET /metrics`: Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hyper::StatusCode;

use super::{Ctx, Reply};
use crate::error::ApiError;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
pub struct Metrics {
    starts: AtomicU64,
    start_errors: AtomicU64,
    start_latency: Mutex<Histogram>,
    requests: Mutex<BTreeMap<(&'static str, String, u16), Histogram>>,
}

impl Metrics {
    pub fn record_start(&self, secs: f64, ok: bool) {
        if ok {
            self.starts.fetch_add(1, Ordering::Relaxed);
            self.start_latency
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(secs);
        } else {
            self.start_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record_request(&self, route: &'static str, method: &str, code: u16, secs: f64) {
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((route, method.to_owned(), code)).or_default().observe(secs);
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

pub fn get(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut out = String::new();
    let list = ctx.runtime.list();
    let mut by_status: BTreeMap<&str, usize> = [("running", 0), ("paused", 0), ("stopped", 0)].into();
    let mut exits = 0u64;
    for c in &list {
        *by_status.entry(c.status.as_str()).or_default() += 1;
        if c.status == runtime::Status::Stopped {
            exits += 1;
        }
    }
    out.push_str("# HELP ctrd_containers Containers by status.\n# TYPE ctrd_containers gauge\n");
    for (s, n) in &by_status {
        let _ = writeln!(out, "ctrd_containers{{status=\"{s}\"}} {n}");
    }
    out.push_str(
        "# HELP ctrd_container_starts_total Containers started.\n# TYPE ctrd_container_starts_total counter\n",
    );
    let _ = writeln!(
        out,
        "ctrd_container_starts_total {}",
        ctx.metrics.starts.load(Ordering::Relaxed)
    );
    out.push_str("# HELP ctrd_container_start_errors_total Container starts that failed.\n# TYPE ctrd_container_start_errors_total counter\n");
    let _ = writeln!(
        out,
        "ctrd_container_start_errors_total {}",
        ctx.metrics.start_errors.load(Ordering::Relaxed)
    );
    out.push_str("# HELP ctrd_container_exits Containers known to have exited (stopped, not yet deleted).\n# TYPE ctrd_container_exits gauge\n");
    let _ = writeln!(out, "ctrd_container_exits {exits}");
    out.push_str("# HELP ctrd_container_start_seconds Daemon-internal start latency (request accepted to process running).\n# TYPE ctrd_container_start_seconds histogram\n");
    ctx.metrics
        .start_latency
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .render(&mut out, "ctrd_container_start_seconds", "");
    out.push_str("# HELP ctrd_http_request_seconds API requests by route, method and code.\n# TYPE ctrd_http_request_seconds histogram\n");
    {
        let m = ctx.metrics.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((route, method, code), h) in m.iter() {
            let labels = format!("route=\"{route}\",method=\"{method}\",code=\"{code}\"");
            h.render(&mut out, "ctrd_http_request_seconds", &labels);
        }
    }
    out.push_str("# HELP ctrd_open_fds Open file descriptors of the daemon.\n# TYPE ctrd_open_fds gauge\n");
    let _ = writeln!(out, "ctrd_open_fds {}", open_fds());
    let mut reply = Reply::stream("text/plain; version=0.0.4", crate::body::full(out));
    reply.status = StatusCode::OK;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_renders_cumulative_buckets() {
        let mut h = Histogram::default();
        h.observe(0.004);
        h.observe(0.2);
        let mut s = String::new();
        h.render(&mut s, "x", "");
        assert!(s.contains("x_bucket{le=\"0.005\"} 1"));
        assert!(s.contains("x_bucket{le=\"0.25\"} 2"));
        assert!(s.contains("x_bucket{le=\"+Inf\"} 2"));
        assert!(s.contains("x_count 2"));
    }
}
