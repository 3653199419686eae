//! SQL of the `arrival_histograms` table (each function's inter-arrival histogram, one row per
//! bucket that was hit), the same for SQLite and PostgreSQL. Adding is one upsert that adds to
//! the stored counts, so nodes sharing the store merge what they saw without reading first;
//! it inserts nothing for a function deleted meanwhile. [`arrival_queries!`] instantiates it
//! for one store's pool and database types.

macro_rules! arrival_queries {
    ($pool:ty, $db:ty) => {
        use ridge_core::{ArrivalHistogram, FunctionId};
        use sqlx::QueryBuilder;

        use crate::{Result, StoreError};

        pub(super) async fn add(
            pool: &$pool,
            function: FunctionId,
            arrivals: &ArrivalHistogram,
        ) -> Result<()> {
            if arrivals.is_empty() {
                return Ok(());
            }
            let mut sql = QueryBuilder::<$db>::new(
                "INSERT INTO arrival_histograms (function_id, bucket, count) \
                 SELECT f.id, b.bucket, b.count FROM functions f CROSS JOIN (",
            );
            for (n, (bucket, count)) in arrivals.entries().enumerate() {
                sql.push(if n == 0 {
                    "SELECT "
                } else {
                    " UNION ALL SELECT "
                })
                .push_bind(i64::from(bucket))
                .push(" AS bucket, ")
                .push_bind(i64::try_from(count).unwrap_or(i64::MAX))
                .push(" AS count");
            }
            sql.push(") b WHERE f.id = ")
                .push_bind(function.to_string())
                .push(
                    " ON CONFLICT (function_id, bucket) \
                     DO UPDATE SET count = arrival_histograms.count + excluded.count",
                );
            sql.build().execute(pool).await?;
            Ok(())
        }

        pub(super) async fn get(pool: &$pool, function: FunctionId) -> Result<ArrivalHistogram> {
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT bucket, count FROM arrival_histograms WHERE function_id = $1",
            )
            .bind(function.to_string())
            .fetch_all(pool)
            .await?;
            let mut histogram = ArrivalHistogram::default();
            for (bucket, count) in rows {
                let (Ok(bucket), Ok(count)) = (u16::try_from(bucket), u64::try_from(count)) else {
                    return Err(StoreError::Corrupt {
                        table: "arrival_histograms",
                        detail: format!("bucket `{bucket}` with count `{count}`"),
                    });
                };
                histogram.add(bucket, count);
            }
            Ok(histogram)
        }
    };
}

pub(crate) use arrival_queries;
