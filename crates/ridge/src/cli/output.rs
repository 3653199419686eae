//! The one printer of the CLI. Data goes to stdout in the chosen format; notes and warnings go
//! to stderr, so that `-f json` and `-f value` output can always be piped.
//!
//! - `table`: a two-column Field/Value table for one resource, one column per field for lists;
//! - `json`: the resource as pretty JSON (a list as a JSON array);
//! - `value`: bare values, one per line for one resource and one space-separated row per line
//!   for lists; a null prints as `None`, as in `openstack -f value`, so that rows keep their
//!   column count.
//!
//! Nothing is cut: a long `input` or `result` is printed in full (tables wrap it to the
//! terminal's width when stdout is a terminal).

use std::io::{IsTerminal, Write};

use anyhow::Context;
use comfy_table::{ContentArrangement, Table};
use ridge_core::api::{
    AliasView, ExecutionView, FunctionView, JobView, PoolView, RuntimeView, VersionView,
    WebhookView,
};
use serde::Serialize;
use serde_json::{Map, Value};

/// openstack's table look: ASCII borders, a `-` line under the header, no lines between rows.
const TABLE_STYLE: &str = "||--+-++|    ++++++";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable tables.
    Table,
    /// Pretty JSON, for scripts.
    Json,
    /// Bare values, one per line (lists: one space-separated row per line).
    Value,
}

/// The fields a resource shows as columns in a list, in order; `show` prints every field.
pub trait Columns {
    const COLUMNS: &'static [&'static str];
}

impl Columns for ridge_core::api::WorkerView {
    const COLUMNS: &'static [&'static str] = &["function_id", "function_version", "worker_name"];
}

impl Columns for RuntimeView {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "name",
        "image",
        "status",
        "is_public",
        "trusted",
        "created_at",
    ];
}

impl Columns for FunctionView {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "name",
        "runtime_id",
        "entry",
        "cpu",
        "memory_size",
        "timeout",
        "count",
        "created_at",
    ];
}

impl Columns for ExecutionView {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "function_id",
        "function_version",
        "status",
        "sync",
        "input",
        "result",
        "created_at",
    ];
}

impl Columns for VersionView {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "function_id",
        "version_number",
        "description",
        "count",
        "created_at",
    ];
}

impl Columns for AliasView {
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "function_id",
        "function_version",
        "description",
        "created_at",
    ];
}

impl Columns for WebhookView {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "function_id",
        "function_alias",
        "function_version",
        "has_secret",
        "webhook_url",
    ];
}

impl Columns for ridge_core::api::EventTriggerView {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "function_id",
        "function_alias",
        "queue",
        "event_types",
        "status",
        "last_error",
    ];
}

impl Columns for JobView {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "name",
        "function_id",
        "function_alias",
        "pattern",
        "status",
        "next_execution_time",
        "count",
    ];
}

impl Columns for ridge_core::api::ProjectView {
    const COLUMNS: &'static [&'static str] = &["id", "description", "created_at"];
}

impl Columns for ridge_core::api::UserView {
    const COLUMNS: &'static [&'static str] = &["id", "name", "project_id", "role", "created_at"];
}

impl Columns for ridge_core::api::TokenView {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "user_id",
        "description",
        "expires_at",
        "revoked",
        "created_at",
    ];
}

impl Columns for PoolView {
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "capacity.total",
        "capacity.available",
        "prestarted.size",
        "prestarted.ready",
    ];
}

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    format: Format,
    /// Wrap tables to the terminal's width (only when stdout is a terminal).
    wrap: bool,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            wrap: std::io::stdout().is_terminal(),
        }
    }

    /// Prints one resource.
    pub fn show<T: Serialize>(&self, item: &T) -> anyhow::Result<()> {
        emit(&self.render_one(item)?)
    }

    /// Prints a list of resources.
    pub fn list<T: Serialize + Columns>(&self, items: &[T]) -> anyhow::Result<()> {
        emit(&self.render_list(items)?)
    }

    /// Prints free text (an execution log) as is; with `-f json`, as `{"id": .., "<key>": text}`.
    pub fn text(&self, id: &str, key: &str, text: &str) -> anyhow::Result<()> {
        let out = match self.format {
            Format::Json => {
                let mut obj = Map::new();
                obj.insert("id".into(), Value::from(id));
                obj.insert(key.into(), Value::from(text));
                let mut s = serde_json::to_string_pretty(&obj)?;
                s.push('\n');
                s
            }
            Format::Table | Format::Value => {
                let mut s = text.to_owned();
                if !s.is_empty() && !s.ends_with('\n') {
                    s.push('\n');
                }
                s
            }
        };
        emit(&out)
    }

    /// Writes raw bytes to stdout (a downloaded package sent to `-o -`).
    pub fn bytes(&self, data: &[u8]) -> anyhow::Result<()> {
        write_stdout(data)
    }

    /// A diagnostic for the person at the terminal: stderr, never mixed with the data.
    pub fn note(&self, msg: impl std::fmt::Display) {
        eprintln!("{msg}");
    }

    pub(crate) fn render_one<T: Serialize>(&self, item: &T) -> anyhow::Result<String> {
        let value = serde_json::to_value(item).context("cannot render the response")?;
        Ok(match self.format {
            Format::Json => pretty(&value)?,
            Format::Table => {
                let mut table = self.table();
                table.set_header(["Field", "Value"]);
                for (field, v) in fields(&value) {
                    table.add_row([field, cell(&v, "")]);
                }
                format!("{table}\n")
            }
            Format::Value => fields(&value)
                .into_iter()
                .map(|(_, v)| cell(&v, "None") + "\n")
                .collect(),
        })
    }

    pub(crate) fn render_list<T: Serialize + Columns>(
        &self,
        items: &[T],
    ) -> anyhow::Result<String> {
        let values = items
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .context("cannot render the response")?;
        Ok(match self.format {
            Format::Json => pretty(&Value::Array(values))?,
            Format::Table => {
                let mut table = self.table();
                table.set_header(T::COLUMNS.iter().copied());
                for v in &values {
                    table.add_row(row(v, T::COLUMNS, ""));
                }
                format!("{table}\n")
            }
            Format::Value => values
                .iter()
                .map(|v| row(v, T::COLUMNS, "None").join(" ") + "\n")
                .collect(),
        })
    }

    fn table(&self) -> Table {
        let mut table = Table::new();
        table.load_preset(TABLE_STYLE);
        if self.wrap {
            table.set_content_arrangement(ContentArrangement::Dynamic);
        } else {
            table.force_no_tty();
        }
        table
    }
}

fn pretty(value: &Value) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}

/// The fields of a resource in order, nested objects flattened as `parent.child`
/// (`capacity.total`, `code.md5sum`).
fn fields(value: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        flatten("", map, &mut out);
    }
    out
}

fn flatten(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (key, v) in map {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match v {
            Value::Object(inner) if !inner.is_empty() => flatten(&name, inner, out),
            other => out.push((name, other.clone())),
        }
    }
}

fn row(value: &Value, columns: &[&str], null: &str) -> Vec<String> {
    let fields = fields(value);
    columns
        .iter()
        .map(|c| {
            fields
                .iter()
                .find(|(name, _)| name == c)
                .map_or_else(|| null.to_owned(), |(_, v)| cell(v, null))
        })
        .collect()
}

/// One value as text: strings bare, null as `null`, anything else as compact JSON.
fn cell(value: &Value, null: &str) -> String {
    match value {
        Value::Null => null.to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn emit(s: &str) -> anyhow::Result<()> {
    write_stdout(s.as_bytes())
}

fn write_stdout(data: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(data).and_then(|()| out.flush()) {
        // The reader went away (`| head`): what it did not read is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution() -> ExecutionView {
        ExecutionView {
            id: "6b1ac5a4-6a43-4e4b-8a8c-8d3c0f1f1b11".into(),
            function_id: "0c7d1d0e-1111-4a4b-9c9c-222233334444".into(),
            function_version: 0,
            function_alias: None,
            description: None,
            status: "success".into(),
            sync: true,
            input: Some(r#"{"name": "bar"}"#.into()),
            result: Some(format!(
                r#"{{"duration": 0.044, "output": "{}"}}"#,
                "x".repeat(300)
            )),
            project_id: "default".into(),
            created_at: "2019-06-11T00:16:54Z".into(),
            updated_at: Some("2019-06-11T00:16:55Z".into()),
            node: Some("node-a".into()),
        }
    }

    fn pool() -> PoolView {
        serde_json::from_value(serde_json::json!({
            "name": "rt-1", "capacity": {"total": 3, "available": 2},
            "prestarted": {"setting": null, "default_size": 2, "max_size": 32, "size": 4,
                           "ready": 1, "workers": ["python3-prestarted-1-1"],
                           "unavailable": null, "last_error": null}
        }))
        .expect("a pool view")
    }

    fn printer(format: Format) -> Printer {
        Printer {
            format,
            wrap: false,
        }
    }

    #[test]
    fn table_shows_one_resource_as_field_value_rows_in_full() {
        let out = printer(Format::Table)
            .render_one(&execution())
            .expect("renders");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("| Field") && lines[1].contains("| Value"));
        assert!(out.contains("| status "), "{out}");
        assert!(out.contains(&"x".repeat(300)), "not cut: {out}");
        let description = lines
            .iter()
            .find(|l| l.starts_with("| description"))
            .expect("a description row");
        assert_eq!(description.trim_end_matches(['|', ' ']), "| description");
    }

    #[test]
    fn json_is_the_view_itself() {
        let out = printer(Format::Json)
            .render_one(&execution())
            .expect("renders");
        let back: ExecutionView = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(back, execution());
        assert!(out.contains("\n  \"status\": \"success\""), "pretty: {out}");
    }

    #[test]
    fn value_prints_one_value_per_line_in_field_order() {
        let out = printer(Format::Value)
            .render_one(&execution())
            .expect("renders");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "6b1ac5a4-6a43-4e4b-8a8c-8d3c0f1f1b11");
        assert_eq!(lines[2], "0");
        assert_eq!(lines[3], "None", "a null function_alias");
        assert_eq!(lines[5], "success");
        assert_eq!(lines[6], "true");
        assert_eq!(lines[7], r#"{"name": "bar"}"#);
        assert!(lines[8].ends_with(&format!("{}\"}}", "x".repeat(300))));
        assert_eq!(lines[12], "node-a", "Ridge's node, after Qinling's fields");
        assert_eq!(lines.len(), 13);
    }

    #[test]
    fn nested_objects_are_flattened() {
        let out = printer(Format::Table).render_one(&pool()).expect("renders");
        assert!(out.contains("| capacity.total          | 3 "), "{out}");
        assert!(out.contains("| prestarted.ready        | 1 "), "{out}");
        let out = printer(Format::Value)
            .render_list(&[pool()])
            .expect("renders");
        assert_eq!(out, "rt-1 3 2 4 1\n");
    }

    #[test]
    fn lists_render_in_every_format() {
        let items = [execution(), execution()];
        let table = printer(Format::Table).render_list(&items).expect("renders");
        let header = table.lines().nth(1).expect("a header");
        for column in ExecutionView::COLUMNS {
            assert!(header.contains(column), "{column} in {header}");
        }
        assert_eq!(table.lines().count(), 3 + 2 + 1, "{table}");

        let json = printer(Format::Json).render_list(&items).expect("renders");
        let back: Vec<ExecutionView> = serde_json::from_str(&json).expect("a JSON array");
        assert_eq!(back.len(), 2);

        let value = printer(Format::Value).render_list(&items).expect("renders");
        let rows: Vec<&str> = value.lines().collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].starts_with(
            "6b1ac5a4-6a43-4e4b-8a8c-8d3c0f1f1b11 0c7d1d0e-1111-4a4b-9c9c-222233334444 0 success true"
        ));
    }

    #[test]
    fn an_empty_list_is_an_empty_json_array() {
        let out = printer(Format::Json)
            .render_list::<RuntimeView>(&[])
            .expect("renders");
        assert_eq!(out, "[]\n");
        let out = printer(Format::Value)
            .render_list::<RuntimeView>(&[])
            .expect("renders");
        assert_eq!(out, "");
    }
}
