//! What every scenario reports: one [`Measurement`] per figure, collected into a [`Report`] that
//! prints as the human table (the default) or as one JSON document (`--json`) for harnesses and
//! docs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::percentiles::Samples;

/// The unit of a measurement's headline figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Unit {
    #[serde(rename = "jobs/s")]
    JobsPerSecond,
    #[serde(rename = "ms")]
    Milliseconds,
    /// Only the server's memory measurement (`server` feature) reports megabytes.
    #[serde(rename = "MB")]
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    Megabytes,
    /// A place in the order jobs started (1: the first).
    #[serde(rename = "start")]
    StartPlace,
}

/// Another figure a measurement is read against: the database's ceiling, the same scenario on an
/// empty table, the plain drain.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Baseline {
    /// What the baseline is.
    pub(crate) name: String,
    /// Its figure, in the measurement's unit.
    pub(crate) value: f64,
    /// The measurement's value divided by the baseline's.
    pub(crate) ratio: f64,
}

/// One figure of one scenario, with what shaped it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Measurement {
    /// The scenario that produced it, as spelled after `--scenario`; set by the bench loop.
    pub(crate) scenario: String,
    /// What was measured, for people.
    pub(crate) name: String,
    /// The headline figure, in `unit` (for latencies: the p50).
    pub(crate) value: f64,
    pub(crate) unit: Unit,
    /// Jobs the measurement covered.
    pub(crate) jobs: Option<u64>,
    /// The worker's concurrency (worker scenarios only).
    pub(crate) concurrency: Option<usize>,
    /// Wall-clock seconds measured.
    pub(crate) duration_s: Option<f64>,
    pub(crate) jobs_per_s: Option<f64>,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) max_ms: Option<f64>,
    /// Settings that shaped the figure: batch sizes, fetch batch, prefetch, producers, clients.
    pub(crate) settings: BTreeMap<&'static str, serde_json::Value>,
    pub(crate) baseline: Option<Baseline>,
    /// The rest, for people.
    pub(crate) detail: String,
}

impl Measurement {
    /// A figure of `unit`.
    pub(crate) fn new(name: impl Into<String>, value: f64, unit: Unit) -> Measurement {
        Measurement {
            scenario: String::new(),
            name: name.into(),
            value,
            unit,
            jobs: None,
            concurrency: None,
            duration_s: None,
            jobs_per_s: None,
            p50_ms: None,
            p99_ms: None,
            max_ms: None,
            settings: BTreeMap::new(),
            baseline: None,
            detail: String::new(),
        }
    }

    /// `jobs` done in `elapsed`: jobs per second.
    pub(crate) fn rate(name: impl Into<String>, jobs: u64, elapsed: Duration) -> Measurement {
        let per_s = jobs as f64 / elapsed.as_secs_f64().max(1e-9);
        let mut m = Measurement::new(name, per_s, Unit::JobsPerSecond);
        m.jobs = Some(jobs);
        m.duration_s = Some(elapsed.as_secs_f64());
        m.jobs_per_s = Some(per_s);
        m
    }

    /// A duration, in milliseconds.
    pub(crate) fn time(name: impl Into<String>, took: Duration) -> Measurement {
        let mut m = Measurement::new(name, ms(took), Unit::Milliseconds);
        m.duration_s = Some(took.as_secs_f64());
        m
    }

    /// Latency samples: the p50 as the headline, the p99 and max beside it.
    pub(crate) fn latency(name: impl Into<String>, samples: &Samples) -> Measurement {
        let p50 = ms(samples.percentile(50.0));
        let mut m = Measurement::new(name, p50, Unit::Milliseconds);
        m.jobs = Some(samples.len() as u64);
        m.p50_ms = Some(p50);
        m.p99_ms = Some(ms(samples.percentile(99.0)));
        m.max_ms = Some(ms(samples.max()));
        m
    }

    pub(crate) fn concurrency(mut self, concurrency: usize) -> Measurement {
        self.concurrency = Some(concurrency);
        self
    }

    pub(crate) fn jobs(mut self, jobs: u64) -> Measurement {
        self.jobs = Some(jobs);
        self
    }

    pub(crate) fn setting(
        mut self,
        key: &'static str,
        value: impl Into<serde_json::Value>,
    ) -> Measurement {
        self.settings.insert(key, value.into());
        self
    }

    /// Reads this figure against `value` (in the same unit), named `name`.
    pub(crate) fn against(mut self, name: impl Into<String>, value: f64) -> Measurement {
        self.baseline = Some(Baseline {
            name: name.into(),
            value,
            ratio: self.value / value.max(1e-9),
        });
        self
    }

    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Measurement {
        self.detail = detail.into();
        self
    }

    /// The headline as the table shows it.
    fn shown(&self) -> String {
        match (self.unit, self.p99_ms) {
            (Unit::Milliseconds, Some(p99)) => format!("{:.2} / {p99:.2} ms", self.value),
            (Unit::JobsPerSecond, _) => format!("{:.0} jobs/s", self.value),
            (Unit::Milliseconds, None) => format!("{:.2} ms", self.value),
            (Unit::Megabytes, _) => format!("{:.1} MB", self.value),
            (Unit::StartPlace, _) => format!("start #{:.0}", self.value),
        }
    }

    /// The detail column: the concurrency, the detail, and the baseline.
    fn described(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.concurrency {
            parts.push(format!("concurrency {c}"));
        }
        if !self.detail.is_empty() {
            parts.push(self.detail.clone());
        }
        if let Some(b) = &self.baseline {
            parts.push(format!("{:.0} % of {}", 100.0 * b.ratio, b.name));
        }
        parts.join("; ")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Everything one `backlog bench` run measured, and where.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) backlog_version: &'static str,
    /// `postgres` or `sqlite`.
    pub(crate) backend: &'static str,
    /// The database, as described in messages (no password).
    pub(crate) database: String,
    pub(crate) database_version: String,
    /// Cores this process may use (shared with the database server on one machine).
    pub(crate) cores: usize,
    pub(crate) started_at: String,
    /// The run's settings (the command line's, after defaults).
    pub(crate) settings: BTreeMap<&'static str, serde_json::Value>,
    pub(crate) measurements: Vec<Measurement>,
}

impl Report {
    pub(crate) fn print_table(&self) {
        println!(
            "\nbacklog bench — {} ({} {}, {} cores)",
            self.database, self.backend, self.database_version, self.cores
        );
        println!(
            "| {:<10} | {:<40} | {:>18} | detail |",
            "scenario", "measurement", "result"
        );
        println!(
            "|{}|{}|{}|{}|",
            "-".repeat(12),
            "-".repeat(42),
            "-".repeat(20),
            "-".repeat(40)
        );
        for m in &self.measurements {
            println!(
                "| {:<10} | {:<40} | {:>18} | {} |",
                m.scenario,
                m.name,
                m.shown(),
                m.described()
            );
        }
    }

    pub(crate) fn print_json(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(self)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_baselines() {
        let m = Measurement::rate("drain", 1000, Duration::from_millis(500)).against("x", 4000.0);
        assert_eq!(m.value, 2000.0);
        assert_eq!(m.shown(), "2000 jobs/s");
        assert_eq!(m.baseline.as_ref().map(|b| b.ratio), Some(0.5));
        assert!(m.described().contains("50 % of x"));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["unit"], "jobs/s");
        assert_eq!(json["jobs"], 1000);
    }
}
