//! The figures of a run: `name: value` lines (or one JSON object with `--json`) after a
//! human summary line, and the latency histograms they come from.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, up to an hour, with 3 significant digits.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// An empty latency histogram.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_max(MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// Adds `from` into `into` (both made by [`histogram`], so the bounds match).
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if let Err(e) = into.add(from) {
        tracing::warn!("merging latency histograms: {e:?}");
    }
}

#[derive(Debug, Clone)]
enum Value {
    Int(u64),
    Float(f64, usize),
    Text(String),
}

/// The figures, in the order they are added.
#[derive(Debug, Default)]
pub struct Report {
    entries: Vec<(String, Value)>,
    summary: Vec<String>,
}

/// Milliseconds from microseconds.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Report {
    pub fn int(&mut self, name: &str, v: u64) {
        self.entries.push((name.to_owned(), Value::Int(v)));
    }

    pub fn float(&mut self, name: &str, v: f64, decimals: usize) {
        self.entries
            .push((name.to_owned(), Value::Float(v, decimals)));
    }

    pub fn text(&mut self, name: &str, v: impl Into<String>) {
        self.entries.push((name.to_owned(), Value::Text(v.into())));
    }

    /// A line for humans, printed before the figures (not in `--json`).
    pub fn summary(&mut self, line: String) {
        self.summary.push(line);
    }

    /// Adds `other`'s figures, each name with `{prefix}_` before it, and its summary lines
    /// with `{prefix}: ` before them.
    pub fn append_prefixed(&mut self, prefix: &str, other: Report) {
        self.summary
            .extend(other.summary.into_iter().map(|l| format!("{prefix}: {l}")));
        self.entries.extend(
            other
                .entries
                .into_iter()
                .map(|(n, v)| (format!("{prefix}_{n}"), v)),
        );
    }

    /// The value of a number already added.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries.iter().rev().find_map(|(n, v)| match v {
            Value::Int(i) if n == name => Some(*i as f64),
            Value::Float(f, _) if n == name => Some(*f),
            _ => None,
        })
    }

    /// `{prefix}_p50_ms`, `_p99_ms`, `_p999_ms`, `_max_ms` and `_avg_ms` of a histogram in
    /// microseconds (all 0 when it is empty).
    pub fn latency(&mut self, prefix: &str, h: &Histogram<u64>) {
        let q = |q: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        self.float(&format!("{prefix}_p50_ms"), ms(q(0.5)), 3);
        self.float(&format!("{prefix}_p99_ms"), ms(q(0.99)), 3);
        self.float(&format!("{prefix}_p999_ms"), ms(q(0.999)), 3);
        self.float(&format!("{prefix}_max_ms"), ms(h.max()), 3);
        let avg = if h.is_empty() { 0.0 } else { h.mean() / 1000.0 };
        self.float(&format!("{prefix}_avg_ms"), avg, 3);
    }

    pub fn render(&self, json: bool) -> String {
        let mut out = String::new();
        if json {
            out.push('{');
            for (i, (name, v)) in self.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", json_string(name));
                match v {
                    Value::Int(n) => {
                        let _ = write!(out, "{n}");
                    }
                    Value::Float(f, d) if f.is_finite() => {
                        let _ = write!(out, "{f:.d$}");
                    }
                    Value::Float(..) => out.push_str("null"),
                    Value::Text(s) => out.push_str(&json_string(s)),
                }
            }
            out.push_str("}\n");
        } else {
            for line in &self.summary {
                out.push_str(line);
                out.push('\n');
            }
            for (name, v) in &self.entries {
                let _ = match v {
                    Value::Int(n) => writeln!(out, "{name}: {n}"),
                    Value::Float(f, d) => writeln!(out, "{name}: {f:.d$}"),
                    Value::Text(s) => writeln!(out, "{name}: {s}"),
                };
            }
        }
        out
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json() {
        let mut r = Report::default();
        r.summary("10 records sent".into());
        r.text("topic", "a\"b");
        r.int("produce_records", 10);
        r.float("produce_mb_per_s", 1.25, 1);
        let mut h = histogram();
        h.record(1500).unwrap();
        h.record(2500).unwrap();
        r.latency("produce_latency", &h);
        let text = r.render(false);
        assert!(text.starts_with("10 records sent\ntopic: a\"b\nproduce_records: 10\n"));
        assert!(
            text.contains("produce_mb_per_s: 1.2\n") || text.contains("produce_mb_per_s: 1.3\n")
        );
        assert!(text.contains("produce_latency_max_ms: 2.5"), "{text}");
        let json = r.render(true);
        assert!(json.starts_with("{\"topic\":\"a\\\"b\",\"produce_records\":10,"));
        assert_eq!(r.get("produce_records"), Some(10.0));
        assert_eq!(r.get("topic"), None);
        let mut empty = Report::default();
        empty.latency("x", &histogram());
        assert!(empty.render(false).contains("x_p99_ms: 0.000"));
        let mut both = Report::default();
        both.int("workload", 1);
        both.append_prefixed("rf3", r);
        let text = both.render(false);
        assert!(
            text.starts_with("rf3: 10 records sent\nworkload: 1\nrf3_topic: a\"b\n"),
            "{text}"
        );
        assert_eq!(both.get("rf3_produce_records"), Some(10.0));
    }
}
