//! The results: one entry per scenario with its rows, printed as a table and written as JSON.

use std::path::Path;

use anyhow::Context;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use crate::load::LoadResult;
use crate::stats::Latency;

/// How a scenario ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum Status {
    Ran,
    /// Expected to run and could not: the run exits non-zero.
    Failed(String),
}

/// One line of the table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub case: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<f64>,
    /// A single figure (memory, a ratio, a duration) with its unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Row {
    /// A row from a load run.
    pub fn load(case: impl Into<String>, r: &LoadResult) -> Self {
        Self {
            case: case.into(),
            requests: Some(r.requests()),
            errors: Some(r.errors),
            latency: r.latency(),
            throughput: Some(r.throughput()),
            note: r.first_error.as_ref().map(|e| format!("first error: {e}")),
            ..Self::default()
        }
    }

    /// A row with a single figure.
    pub fn value(case: impl Into<String>, value: f64, unit: &str) -> Self {
        Self {
            case: case.into(),
            value: Some(value),
            unit: Some(unit.to_owned()),
            ..Self::default()
        }
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        let note = note.into();
        self.note = Some(match self.note.take() {
            Some(old) => format!("{note}; {old}"),
            None => note,
        });
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub id: u8,
    pub name: String,
    pub status: Status,
    pub seconds: f64,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub mem_total_bytes: u64,
    pub kernel: String,
    pub python: String,
    pub peer: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub date: String,
    pub command: String,
    pub quick: bool,
    pub machine: Machine,
    pub ridge_config: String,
    pub scenarios: Vec<ScenarioReport>,
}

impl Report {
    pub fn failed(&self) -> Vec<&ScenarioReport> {
        self.scenarios
            .iter()
            .filter(|s| matches!(s.status, Status::Failed(_)))
            .collect()
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
    }

    pub fn table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "#", "case", "n", "err", "p50 ms", "p90 ms", "p99 ms", "per s", "value", "note",
        ]);
        for s in &self.scenarios {
            let state = match &s.status {
                Status::Ran => format!("{:.0} s", s.seconds),
                Status::Failed(r) => format!("FAILED: {r}"),
            };
            t.add_row([
                s.id.to_string(),
                s.name.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                state,
            ]);
            for r in &s.rows {
                let l = r.latency;
                t.add_row([
                    String::new(),
                    format!("  {}", r.case),
                    opt(r.requests),
                    opt(r.errors),
                    ms(l.map(|l| l.p50_ms)),
                    ms(l.map(|l| l.p90_ms)),
                    ms(l.map(|l| l.p99_ms)),
                    r.throughput.map(|t| format!("{t:.0}")).unwrap_or_default(),
                    r.value
                        .map(|v| format!("{} {}", num(v), r.unit.as_deref().unwrap_or("")))
                        .unwrap_or_default(),
                    r.note.clone().unwrap_or_default(),
                ]);
            }
        }
        t.to_string()
    }
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn ms(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}

/// Three significant figures or so, without noise digits.
fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
