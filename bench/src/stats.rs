//! Latency histograms (HDR, microseconds) and the output format: one JSON line
//! per scenario on stdout, and a readable table on stderr.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// A histogram of microseconds, 1 µs to 10 min, 3 significant digits.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

/// p50/p90/p95/p99/max in milliseconds (two decimals) plus the sample count.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    json!({
        "count": h.len(),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p95_ms": ms(h.value_at_quantile(0.95)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "max_ms": ms(h.max()),
    })
}

pub fn p99_ms(h: &Histogram<u64>) -> f64 {
    ms(h.value_at_quantile(0.99))
}

/// Rounds to one decimal for reports.
pub fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Prints the scenario's JSON line on stdout and a two-column table on stderr.
pub fn emit(title: &str, line: &Value, rows: &[(String, String)]) {
    println!("{line}");
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    eprintln!("\n== {title} ==");
    for (k, v) in rows {
        eprintln!("  {k:<width$}  {v}");
    }
    eprintln!();
}

/// Table rows for a latency summary.
pub fn latency_rows(prefix: &str, h: &Histogram<u64>) -> Vec<(String, String)> {
    vec![(
        format!("{prefix} latency p50/p95/p99/max"),
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2} ms  (n={})",
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.95)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            h.len()
        ),
    )]
}

/// CPU seconds this process has used so far (user + system), from
/// /proc/self/stat; assumes the usual 100 clock ticks per second. Used to show
/// whether the generator itself was the bottleneck.
pub fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)`, which may contain spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
