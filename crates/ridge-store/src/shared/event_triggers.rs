//! SQL of the `event_triggers` table, the same for SQLite and PostgreSQL: placeholders are `$N`,
//! each first used in order, which SQLite binds by position too. [`event_triggers_queries!`]
//! instantiates it for one store's pool and database.

macro_rules! event_triggers_queries {
    ($pool:ty, $db:ty) => {
        use ridge_core::{EventSource, EventTrigger, EventTriggerId, ProjectId, TriggerState};

        use crate::codec;
        use crate::rows::event_triggers::{ACTIVE, COLUMNS, EventTriggerRow, PAUSED};
        use crate::rows::target;
        use crate::{ProjectScope, Result, StoreError};

        fn fk(e: sqlx::Error, trigger: &EventTrigger) -> StoreError {
            match (&e, trigger.target.function_id()) {
                (sqlx::Error::Database(db), Some(id)) if db.is_foreign_key_violation() => {
                    StoreError::FunctionNotFound { id }
                }
                _ => StoreError::Database(e),
            }
        }

        type Query<'q> =
            sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        /// Binds the columns from `function_id` to `last_error`, in [`COLUMNS`]' order: all
        /// but the id, the project and the two times.
        fn bind_settings<'q>(query: Query<'q>, t: &'q EventTrigger) -> Result<Query<'q>> {
            let c = target::columns(&t.target);
            let (queue, exchange, keys): (_, _, &[String]) = match &t.source {
                EventSource::Queue(q) => (Some(q.as_str()), None, &[]),
                EventSource::Exchange {
                    exchange,
                    binding_keys,
                } => (None, Some(exchange.as_str()), binding_keys),
            };
            Ok(query
                .bind(c.function_id)
                .bind(c.function_version)
                .bind(c.function_alias)
                .bind(t.description.as_deref())
                .bind(t.amqp_url.as_str())
                .bind(t.amqp_url_sealed.as_str())
                .bind(queue)
                .bind(exchange)
                .bind(codec::json_text(&keys))
                .bind(codec::json_text(&t.event_types))
                .bind(i64::from(t.options.prefetch))
                .bind(i64::from(t.options.max_retries))
                .bind(codec::int("retry_backoff_ms", t.options.retry_backoff_ms)?)
                .bind(t.options.dead_letter_exchange.as_deref())
                .bind(t.options.dead_letter_routing_key.as_deref())
                .bind(t.options.reply_exchange.as_deref())
                .bind(if t.paused { PAUSED } else { ACTIVE })
                .bind(t.state.as_str())
                .bind(t.last_error.as_deref()))
        }

        pub(super) async fn create(pool: &$pool, t: &EventTrigger) -> Result<()> {
            let sql = format!(
                "INSERT INTO event_triggers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
            );
            let query = sqlx::query(&sql)
                .bind(t.id.to_string())
                .bind(t.project_id.as_str());
            bind_settings(query, t)?
                .bind(codec::ts(&t.created_at))
                .bind(codec::opt_ts(t.updated_at.as_ref()))
                .execute(pool)
                .await
                .map_err(|e| fk(e, t))?;
            Ok(())
        }

        pub(super) async fn get(pool: &$pool, id: EventTriggerId) -> Result<EventTrigger> {
            let row: Option<EventTriggerRow> =
                sqlx::query_as(&format!("SELECT {COLUMNS} FROM event_triggers WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(pool)
                    .await?;
            row.ok_or(StoreError::EventTriggerNotFound { id })?
                .try_into()
        }

        pub(super) async fn list(pool: &$pool, scope: &ProjectScope) -> Result<Vec<EventTrigger>> {
            let rows: Vec<EventTriggerRow> = match scope {
                ProjectScope::Project(project) => {
                    sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM event_triggers WHERE project_id = $1 \
                         ORDER BY created_at, id"
                    ))
                    .bind(project.as_str())
                    .fetch_all(pool)
                    .await?
                }
                ProjectScope::All => {
                    sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM event_triggers ORDER BY created_at, id"
                    ))
                    .fetch_all(pool)
                    .await?
                }
            };
            rows.into_iter().map(EventTrigger::try_from).collect()
        }

        pub(super) async fn count(pool: &$pool, project: &ProjectId) -> Result<u64> {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM event_triggers WHERE project_id = $1")
                    .bind(project.as_str())
                    .fetch_one(pool)
                    .await?;
            Ok(u64::try_from(n).unwrap_or(0))
        }

        /// Writes every column but the id, project and creation time.
        pub(super) async fn update(pool: &$pool, t: &EventTrigger) -> Result<()> {
            let query = sqlx::query(
                "UPDATE event_triggers SET function_id = $1, function_version = $2, \
                 function_alias = $3, description = $4, amqp_url = $5, amqp_url_sealed = $6, \
                 queue = $7, exchange = $8, binding_keys = $9, event_types = $10, prefetch = $11, \
                 max_retries = $12, retry_backoff_ms = $13, dead_letter_exchange = $14, \
                 dead_letter_routing_key = $15, reply_exchange = $16, desired = $17, state = $18, \
                 last_error = $19, updated_at = $20 WHERE id = $21",
            );
            let done = bind_settings(query, t)?
                .bind(codec::opt_ts(t.updated_at.as_ref()))
                .bind(t.id.to_string())
                .execute(pool)
                .await
                .map_err(|e| fk(e, t))?;
            if done.rows_affected() == 0 {
                return Err(StoreError::EventTriggerNotFound { id: t.id });
            }
            Ok(())
        }

        /// What a consumer reports: only the state and the last error change.
        pub(super) async fn set_state(
            pool: &$pool,
            id: EventTriggerId,
            state: TriggerState,
            last_error: Option<&str>,
        ) -> Result<()> {
            let done = sqlx::query(
                "UPDATE event_triggers SET state = $1, last_error = $2 WHERE id = $3",
            )
            .bind(state.as_str())
            .bind(last_error)
            .bind(id.to_string())
            .execute(pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::EventTriggerNotFound { id });
            }
            Ok(())
        }

        pub(super) async fn delete(pool: &$pool, id: EventTriggerId) -> Result<()> {
            let done = sqlx::query("DELETE FROM event_triggers WHERE id = $1")
                .bind(id.to_string())
                .execute(pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::EventTriggerNotFound { id });
            }
            Ok(())
        }
    };
}

pub(crate) use event_triggers_queries;
