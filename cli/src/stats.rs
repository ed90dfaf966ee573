//! Summary statistics of latency samples, computed like the seed's (go-metrics) histograms.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: f64,
    pub median: f64,
    pub p75: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
}

/// The mean of the samples (0 for none).
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Population standard deviation (as go-metrics' `SampleStdDev`).
pub fn stddev(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

/// The p-th percentile (p in 0..=1) of sorted samples, interpolated at position p·(n+1)
/// as go-metrics' `SamplePercentiles` does.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    let pos = p * (n as f64 + 1.0);
    if pos < 1.0 {
        sorted[0]
    } else if pos >= n as f64 {
        sorted[n - 1]
    } else {
        let lower = sorted[pos as usize - 1];
        let upper = sorted[pos as usize];
        lower + (pos - pos.floor()) * (upper - lower)
    }
}

pub fn summarize(samples: &[f64]) -> Summary {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    Summary {
        count: s.len(),
        min: s.first().copied().unwrap_or(0.0),
        max: s.last().copied().unwrap_or(0.0),
        mean: mean(&s),
        stddev: stddev(&s),
        median: percentile(&s, 0.5),
        p75: percentile(&s, 0.75),
        p95: percentile(&s, 0.95),
        p99: percentile(&s, 0.99),
        p999: percentile(&s, 0.999),
    }
}

impl Summary {
    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count, "min": self.min, "max": self.max, "mean": self.mean,
            "stddev": self.stddev, "median": self.median, "p75": self.p75, "p95": self.p95,
            "p99": self.p99, "p999": self.p999,
        })
    }

    /// Human lines, one figure per line, in milliseconds.
    pub fn lines(&self, title: &str) -> String {
        if self.count == 0 {
            return format!("{title}: no samples\n");
        }
        let mut out = format!("{title}\n");
        out.push_str(&format!("  count:   {}\n", self.count));
        for (name, v) in [
            ("min", self.min),
            ("max", self.max),
            ("mean", self.mean),
            ("stddev", self.stddev),
            ("median", self.median),
            ("75%", self.p75),
            ("95%", self.p95),
            ("99%", self.p99),
            ("99.9%", self.p999),
        ] {
            out.push_str(&format!("  {:<8} {:.3} ms\n", format!("{name}:"), v));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn known_inputs() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = summarize(&v);
        assert_eq!(s.count, 10);
        assert!(close(s.min, 1.0) && close(s.max, 10.0));
        assert!(close(s.mean, 5.5));
        assert!(close(s.stddev, 8.25f64.sqrt()));
        // pos = 0.5 * 11 = 5.5 → between the 5th and 6th values.
        assert!(close(s.median, 5.5));
        // pos = 0.75 * 11 = 8.25 → 8 + 0.25.
        assert!(close(s.p75, 8.25));
        // pos = 10.45 ≥ n → max.
        assert!(close(s.p95, 10.0));
        assert!(close(s.p99, 10.0) && close(s.p999, 10.0));
    }

    #[test]
    fn order_does_not_matter_and_edges() {
        let s = summarize(&[3.0, 1.0, 2.0]);
        assert!(close(s.median, 2.0));
        assert!(close(s.min, 1.0));
        assert!(close(percentile(&[1.0, 2.0, 3.0], 0.1), 1.0));
        let e = summarize(&[]);
        assert_eq!(e.count, 0);
        assert!(close(e.mean, 0.0) && close(e.p99, 0.0));
        let one = summarize(&[7.0]);
        assert!(close(one.stddev, 0.0) && close(one.median, 7.0));
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let s = summarize(&v);
        assert!(close(s.p99, 990.99));
        assert!(close(s.p999, 999.999));
        assert!(close(s.stddev, ((1000.0f64 * 1000.0 - 1.0) / 12.0).sqrt()));
    }
}
