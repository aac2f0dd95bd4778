//! The query engine over workload datasets: a DataFusion session on one [`Snapshot`], with
//! the table `workload_records` (every dataset; `dataset` and `day` are its Hive partition
//! columns, so `WHERE dataset = '…'` reads that dataset's files only), one view per dataset
//! under its own name, and the catalog as the table `datasets`.
//!
//! Client SQL is read-only by DataFusion's planner (`SQLOptions`: no DDL, no DML, no
//! statements), one statement, bounded in rows, time and memory. The analyses run their own
//! SQL through [`Engine::collect`]. It knows no figure (that is `agents`).

use std::num::NonZeroUsize;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::layout::Scratch;
use crate::objects::{EXTERNAL_URL, SnapshotStore, URL};
use crate::schema;
use crate::snapshot::Snapshot;
use crate::{DatasetError, Result};
use apex_store::Store;
use apex_store::datasets::DatasetInfo;

/// Memory the engine may hold for one session's queries (hash tables, sorts); a query that
/// needs more fails with a clear error instead of growing the process.
pub const MEMORY_LIMIT: usize = 640 << 20;

/// Rows per batch through the engine's operators (DataFusion's default is 8,192): fewer,
/// larger batches cut the per-batch overhead of the report's scans and aggregations.
const BATCH_ROWS: usize = 32 * 1024;

/// The engine's threads: DataFusion is async; callers are blocking threads.
static RUNTIME: LazyLock<std::io::Result<tokio::runtime::Runtime>> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads())
        .thread_name("apex-datasets")
        .enable_all()
        .build()
});

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Run a future on the engine's runtime from a blocking thread.
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output> {
    match &*RUNTIME {
        Ok(rt) => Ok(rt.block_on(f)),
        Err(e) => Err(DatasetError::Io(format!(
            "cannot start the query engine's threads: {e}"
        ))),
    }
}

/// Bounds of a client's ad-hoc query.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub timeout: Duration,
}

/// The rows of an ad-hoc query.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// True when the query had more rows than `max_rows`; the rest were not read.
    pub truncated: bool,
    pub elapsed_ms: u64,
    /// Parts left out (damaged or unreadable), by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why an ad-hoc query was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(
        "sql: only one read-only SELECT statement is accepted (optionally starting with WITH); {0}"
    )]
    NotASelect(String),
    #[error("sql: the query ran longer than {0} ms and was stopped; narrow it or add a LIMIT")]
    Timeout(u64),
    #[error("sql: {0}")]
    Failed(String),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

/// A session over one snapshot of the datasets.
pub struct Engine {
    ctx: SessionContext,
    snapshot: Snapshot,
    /// Where the engine's sorts spill, when opened over a store: a scratch directory under
    /// its datasets dir, removed with the engine (after the session, whose files are in it).
    _spill: Option<Scratch>,
    /// The memory budget, in bytes.
    limit: usize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("datasets", &self.snapshot.datasets.len())
            .finish()
    }
}

/// How a session's table reads the part files' text columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// As `Utf8`: each batch's strings copied into one buffer. Grouping by near-unique text
    /// keys stays within the memory limit (client SQL may group by anything).
    Copied,
    /// The repeating text columns (provider, model, feature, status...) as `Utf8View`, which
    /// the Parquet reader decodes without copying each string; the random ids stay `Utf8`.
    /// For the reports' own queries, which group by the repeating columns only: 7-17 %
    /// faster each at 10M records (BENCHMARKS.md). Grouping by near-unique keys with views
    /// of the repeating columns is not (the duplicate-prompt SQL: 1.7 -> 9.7 s, held up by
    /// the memory limit), which is why client SQL gets [`Text::Copied`]. Datasets attached
    /// from outside the data dir are read the same way (their files' strings decoded as
    /// views whatever type they were written with).
    Views,
}

impl Engine {
    /// A session over every dataset (or only `only`), text copied ([`Text::Copied`]).
    pub fn open(store: &Store, only: Option<&[&str]>) -> Result<Engine> {
        Self::open_within(store, only, MEMORY_LIMIT)
    }

    /// [`Engine::open`] with a memory budget of `limit` bytes instead of [`MEMORY_LIMIT`].
    pub fn open_within(store: &Store, only: Option<&[&str]>, limit: usize) -> Result<Engine> {
        let spill = spill_dir(store);
        Self::within(Snapshot::take(store, only)?, Text::Copied, limit, spill)
    }

    /// A session over `only` for the analyses' own queries ([`Text::Views`]).
    pub fn open_for_analysis(store: &Store, only: &[&str]) -> Result<Engine> {
        Self::open_for_analysis_within(store, only, MEMORY_LIMIT)
    }

    /// A session over a snapshot already taken.
    pub fn over(snapshot: Snapshot) -> Result<Engine> {
        Self::over_with(snapshot, Text::Copied)
    }

    /// A session over a snapshot already taken, reading text as `text` says; its sorts
    /// spill to the system's temporary directory.
    pub fn over_with(snapshot: Snapshot, text: Text) -> Result<Engine> {
        Self::within(snapshot, text, MEMORY_LIMIT, None)
    }

    /// [`Engine::open_for_analysis`] with a memory budget of `limit` bytes instead of
    /// [`MEMORY_LIMIT`] (the tests' way to a join that does not fit).
    pub fn open_for_analysis_within(store: &Store, only: &[&str], limit: usize) -> Result<Engine> {
        let spill = spill_dir(store);
        Self::within(
            Snapshot::take(store, Some(only))?,
            Text::Views,
            limit,
            spill,
        )
    }

    fn within(
        snapshot: Snapshot,
        text: Text,
        limit: usize,
        spill: Option<Scratch>,
    ) -> Result<Engine> {
        // Fair to spilling operators (a sort-merge join's two sorts share what is left, each
        // spills at its share) where the greedy pool let the first take all and failed the
        // second; the five largest consumers are named when memory runs out.
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(limit),
            NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN),
        );
        let mut runtime = RuntimeEnvBuilder::new().with_memory_pool(Arc::new(pool));
        if let Some(dir) = &spill {
            runtime = runtime.with_temp_file_path(dir.path());
        }
        let runtime = runtime.build_arc().map_err(df)?;
        // A smaller budget, smaller batches (a sort holds a whole batch before it can spill).
        let rows = (BATCH_ROWS as u128 * limit as u128 / MEMORY_LIMIT as u128) as usize;
        let mut config = SessionConfig::new()
            .with_target_partitions(threads())
            .with_batch_size(rows.clamp(1024, BATCH_ROWS))
            .with_information_schema(false);
        // What a sort that spills holds back for merging its runs: DataFusion's 10 MB, less
        // for a smaller budget (a sixteenth of it).
        let merge = &mut config.options_mut().execution.sort_spill_reservation_bytes;
        *merge = (*merge).min(limit / 16);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let url = ObjectStoreUrl::parse(URL.trim_end_matches('/')).map_err(df)?;
        ctx.register_object_store(url.as_ref(), Arc::new(SnapshotStore::new(&snapshot)));
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![
                ("dataset".to_string(), DataType::Utf8),
                ("day".to_string(), DataType::Utf8),
            ])
            .with_target_partitions(threads())
            .with_collect_stat(true);
        let attached: Vec<&str> = snapshot
            .datasets
            .iter()
            .filter(|d| d.store.is_some())
            .map(|d| d.info.name.as_str())
            .collect();
        let table_schema = match text {
            Text::Views => schema::arrow_schema_with_views(),
            Text::Copied => schema::arrow_schema(),
        };
        let table_url = ListingTableUrl::parse(URL).map_err(df)?;
        let config = ListingTableConfig::new(table_url)
            .with_listing_options(options)
            .with_schema(table_schema.clone());
        let table = ListingTable::try_new(config).map_err(df)?;
        if attached.is_empty() {
            ctx.register_table("workload_records", Arc::new(table))
                .map_err(df)?;
        } else {
            ctx.register_table(OWN_PARTS, Arc::new(table)).map_err(df)?;
            register_attached(&ctx, &snapshot, &attached, table_schema)?;
        }
        let infos: Vec<DatasetInfo> = snapshot.datasets.iter().map(|d| d.info.clone()).collect();
        ctx.register_table("datasets", Arc::new(catalog_table(&infos)?))
            .map_err(df)?;
        let engine = Engine {
            ctx,
            snapshot,
            _spill: spill,
            limit,
        };
        for ds in &engine.snapshot.datasets {
            let name = &ds.info.name;
            if name == "workload_records" || name == "datasets" {
                continue;
            }
            let view = format!(
                "CREATE VIEW \"{name}\" AS SELECT * FROM workload_records WHERE dataset = '{name}'"
            );
            block_on(async {
                engine.ctx.sql(&view).await?.collect().await?;
                Ok::<_, DataFusionError>(())
            })?
            .map_err(df)?;
        }
        Ok(engine)
    }

    /// The session's table `workload_records` when datasets are attached: our own parts,
    /// then each attached dataset's files with `dataset` and `day` (its UTC day) added.
    /// The day is the timestamp cast to a date, written as text (`YYYY-MM-DD`):
    /// `to_char(timestamp, '%Y-%m-%d')` parses its format anew for every record, a tenth of
    /// a 100M-record report's CPU.
    fn union_view(attached: &[&str]) -> String {
        let mut sql = format!("CREATE VIEW workload_records AS SELECT * FROM \"{OWN_PARTS}\"");
        for (i, name) in attached.iter().enumerate() {
            sql.push_str(&format!(
                " UNION ALL SELECT *, '{name}' AS dataset, CAST(CAST(timestamp AS DATE) AS VARCHAR) AS day FROM \"{ATTACHED}{i}\""
            ));
        }
        sql
    }

    /// Define (or replace) view `name` as trusted `select`, for the client queries that
    /// follow (e.g. the analyses' definition of a model call).
    pub fn create_view(&self, name: &str, select: &str) -> Result<()> {
        let view = format!(
            "CREATE OR REPLACE VIEW \"{}\" AS {select}",
            name.replace('"', "\"\"")
        );
        block_on(async {
            self.ctx.sql(&view).await?.collect().await?;
            Ok::<_, DataFusionError>(())
        })?
        .map_err(df)
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Parts left out of this session, by name, and why.
    pub fn warnings(&self) -> &[String] {
        &self.snapshot.warnings
    }

    /// Run trusted SQL (the analyses' own) and collect its batches.
    pub fn collect(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut all = self.collect_all(&[sql.to_string()], None)?;
        Ok(all.pop().unwrap_or_default())
    }

    /// Plan this session's equi-joins from now on as sort-merge joins, whose sorts spill to
    /// disk past the memory budget, instead of hash joins, whose build side must fit in it
    /// (a join over a few tens of millions of ids does not). True when it changed.
    pub fn spill_joins(&self) -> bool {
        let state = self.ctx.state_ref();
        let mut state = state.write();
        let optimizer = &mut state.config_mut().options_mut().optimizer;
        let changed = optimizer.prefer_hash_join;
        optimizer.prefer_hash_join = false;
        if changed {
            tracing::info!(
                "a query needed more than the engine's memory budget: joins spill to disk from now on"
            );
        }
        changed
    }

    /// Run `attempt`; when it ran out of the memory budget (`over_budget` tells which of its
    /// errors that is) while this session's joins were still hashed, plan them to spill
    /// ([`Engine::spill_joins`]) and run it once more. Every way into the engine (collected
    /// queries, client SELECTs, the callers of [`Engine::scan`]) retries through this.
    pub fn retry_spilling<T, E>(
        &self,
        attempt: impl Fn() -> std::result::Result<T, E>,
        over_budget: impl Fn(&E) -> bool,
    ) -> std::result::Result<T, E> {
        match attempt() {
            Err(e) if over_budget(&e) && self.spill_joins() => attempt(),
            other => other,
        }
    }

    /// Run several trusted queries at once (they share the cores); results in order. A
    /// cancelled `cancel` stops them all.
    pub fn collect_all(
        &self,
        sqls: &[String],
        cancel: Option<&CancellationToken>,
    ) -> Result<Vec<Vec<RecordBatch>>> {
        self.retry_spilling(
            || self.collect_all_once(sqls, cancel),
            |e| matches!(e, DatasetError::OverBudget(_)),
        )
    }

    fn collect_all_once(
        &self,
        sqls: &[String],
        cancel: Option<&CancellationToken>,
    ) -> Result<Vec<Vec<RecordBatch>>> {
        let runs = sqls.iter().map(|sql| {
            let ctx = self.ctx.clone();
            let sql = sql.clone();
            async move {
                tokio::spawn(async move { ctx.sql(&sql).await?.collect().await })
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
            }
        });
        let never = CancellationToken::new();
        let cancel = cancel.unwrap_or(&never);
        let all = block_on(async {
            tokio::select! {
                r = futures::future::join_all(runs) => Some(r),
                _ = cancel.cancelled() => None,
            }
        })?
        .ok_or(DatasetError::Cancelled)?;
        all.into_iter().map(|r| r.map_err(df_query)).collect()
    }

    /// Run trusted SQL and hand each batch to `each` as it comes, on the caller's thread (the
    /// engine's threads read and filter the next ones meanwhile): for a consumer whose state
    /// is bounded where the collected result would not be. A cancelled `cancel` stops it. A
    /// query over the memory budget stops with [`DatasetError::OverBudget`]: the caller may
    /// start its count again through [`Engine::retry_spilling`].
    pub fn scan(
        &self,
        sql: &str,
        cancel: Option<&CancellationToken>,
        mut each: impl FnMut(&RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let never = CancellationToken::new();
        let cancel = cancel.unwrap_or(&never);
        block_on(async {
            let mut stream = self
                .ctx
                .sql(sql)
                .await
                .map_err(df_query)?
                .execute_stream()
                .await
                .map_err(df_query)?;
            loop {
                let next = tokio::select! {
                    b = stream.next() => b,
                    _ = cancel.cancelled() => return Err(DatasetError::Cancelled),
                };
                match next {
                    Some(batch) => each(&batch.map_err(df_query)?)?,
                    None => return Ok(()),
                }
            }
        })?
    }

    /// Run one client SELECT: read-only by the planner, at most `limits.max_rows` rows,
    /// stopped after `limits.timeout`. A query over the memory budget runs once more, in
    /// the time left, with its joins spilling to disk ([`Engine::spill_joins`]).
    pub fn query(&self, sql: &str, limits: QueryLimits) -> Result<QueryResult, QueryError> {
        guard_select(sql)?;
        let started = Instant::now();
        let deadline = started + limits.timeout;
        let (schema, rows, truncated) = self
            .retry_spilling(
                || self.query_once(sql, limits, deadline),
                |e| matches!(e, QueryError::Dataset(DatasetError::OverBudget(_))),
            )
            .map_err(|e| match e {
                QueryError::Dataset(DatasetError::OverBudget(text)) => QueryError::Failed(format!(
                    "the query needs more than the engine's memory budget of {}, even with its \
                     joins and sorts spilling to disk; narrow it with a WHERE (on `day` or \
                     `dataset`), group by fewer distinct keys, or aggregate before a join \
                     ({text})",
                    if self.limit.is_multiple_of(1 << 20) {
                        format!("{} MiB", self.limit >> 20)
                    } else {
                        format!("{} KiB", self.limit >> 10)
                    }
                )),
                QueryError::Failed(text)
                    if text.contains("table '") && text.contains("not found") =>
                {
                    QueryError::Failed(format!("{text}; {}", self.tables_hint()))
                }
                other => other,
            })?;
        Ok(QueryResult {
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            rows,
            truncated,
            elapsed_ms: started.elapsed().as_millis() as u64,
            warnings: self.snapshot.warnings.clone(),
        })
    }

    /// What a query can read, for the error of one that names another table.
    fn tables_hint(&self) -> String {
        let columns: Vec<String> = schema::arrow_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut views: Vec<&str> = self
            .snapshot
            .datasets
            .iter()
            .map(|d| d.info.name.as_str())
            .filter(|n| *n != "workload_records" && *n != "datasets")
            .collect();
        views.sort_unstable();
        format!(
            "the tables are `workload_records` (every dataset's records; filter on `dataset` and `day`; columns: {}), \
             `datasets` (the catalog) and one view per dataset, named as it is: {}",
            columns.join(", "),
            if views.is_empty() {
                "none yet".to_string()
            } else {
                views.join(", ")
            }
        )
    }

    /// One try of [`Engine::query`], stopped at `deadline`; over the memory budget,
    /// [`DatasetError::OverBudget`].
    fn query_once(
        &self,
        sql: &str,
        limits: QueryLimits,
        deadline: Instant,
    ) -> Result<(Schema, Vec<Vec<Value>>, bool), QueryError> {
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let run = async {
            let df = self
                .ctx
                .sql_with_options(sql, options)
                .await
                .map_err(refusal)?;
            let schema = df.schema().as_arrow().clone();
            let mut stream = df.execute_stream().await.map_err(refusal)?;
            let mut rows: Vec<Vec<Value>> = Vec::new();
            let mut truncated = false;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(refusal)?;
                let room = limits.max_rows - rows.len();
                if batch.num_rows() > room {
                    truncated = true;
                }
                rows.extend(json_rows(&batch.slice(0, batch.num_rows().min(room)))?);
                if truncated || rows.len() == limits.max_rows {
                    // One more row tells whether there was more.
                    if !truncated {
                        while let Some(b) = stream.next().await {
                            if b.map_err(refusal)?.num_rows() > 0 {
                                truncated = true;
                                break;
                            }
                        }
                    }
                    break;
                }
            }
            Ok::<_, QueryError>((schema, rows, truncated))
        };
        let left = deadline.saturating_duration_since(Instant::now());
        block_on(async { tokio::time::timeout(left, run).await })?
            .map_err(|_| QueryError::Timeout(limits.timeout.as_millis() as u64))?
    }
}

/// Our own parts, when attached datasets make `workload_records` a view over more tables.
const OWN_PARTS: &str = "__apex_parts";
/// The table of the i-th attached dataset: `__apex_attached_<i>`.
const ATTACHED: &str = "__apex_attached_";

/// One table per attached dataset over the external snapshot store, then the view.
/// `schema`: the session's, as its text columns are read ([`Text`]).
fn register_attached(
    ctx: &SessionContext,
    snapshot: &Snapshot,
    attached: &[&str],
    schema: arrow::datatypes::SchemaRef,
) -> Result<()> {
    let url = ObjectStoreUrl::parse(EXTERNAL_URL.trim_end_matches('/')).map_err(df)?;
    ctx.register_object_store(url.as_ref(), Arc::new(SnapshotStore::external(snapshot)));
    for (i, name) in attached.iter().enumerate() {
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_target_partitions(threads())
            // No file statistics at planning: a column a file lacks would have all-null
            // statistics, which the scan takes for a constant NULL before the adapter's
            // defaults apply. Row groups are still pruned by their own statistics.
            .with_collect_stat(false);
        let table_url = ListingTableUrl::parse(format!("{EXTERNAL_URL}{name}/")).map_err(df)?;
        let config = ListingTableConfig::new(table_url)
            .with_listing_options(options)
            .with_schema(schema.clone())
            .with_expr_adapter_factory(Arc::new(crate::external::AccountingDefaults));
        let table = ListingTable::try_new(config).map_err(df)?;
        ctx.register_table(format!("{ATTACHED}{i}"), Arc::new(table))
            .map_err(df)?;
    }
    let view = Engine::union_view(attached);
    block_on(async {
        ctx.sql(&view).await?.collect().await?;
        Ok::<_, DataFusionError>(())
    })?
    .map_err(df)
}

fn df(e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Query(e.to_string())
}

/// A scratch directory for an engine's spilled sorts under `store`'s datasets dir (not the
/// system's temporary directory, often a RAM disk); None, and the system's, when it cannot
/// be made.
fn spill_dir(store: &Store) -> Option<Scratch> {
    Scratch::create(&crate::root_of(store), "engine-spill")
        .inspect_err(|e| tracing::warn!(error = %e, "no scratch directory for the engine's spills; using the system's temporary directory"))
        .ok()
}

/// Whether the engine ran out of its memory budget.
fn over_budget(e: &DataFusionError) -> bool {
    matches!(e.find_root(), DataFusionError::ResourcesExhausted(_))
}

/// A query's error: [`DatasetError::OverBudget`] when it ran out of memory.
fn df_query(e: DataFusionError) -> DatasetError {
    if over_budget(&e) {
        DatasetError::OverBudget(e.to_string())
    } else {
        df(e)
    }
}

/// Name what DataFusion refused in the words of the contract.
fn refusal(e: DataFusionError) -> QueryError {
    if over_budget(&e) {
        return QueryError::Dataset(DatasetError::OverBudget(e.to_string()));
    }
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("only supports a single sql statement") {
        QueryError::NotASelect("the text holds more than one statement".into())
    } else if lower.contains("ddl not supported")
        || lower.contains("dml not supported")
        || lower.contains("statement not supported")
        || (lower.contains("not implemented")
            && ["insert", "update", "delete", "merge", "copy"]
                .iter()
                .any(|w| lower.contains(&format!("query {w}"))))
    {
        QueryError::NotASelect(format!(
            "the statement would modify data or the session ({text})"
        ))
    } else {
        QueryError::Failed(text)
    }
}

/// Skip whitespace and SQL comments at the start of `sql`.
fn strip_leading_comments(mut sql: &str) -> &str {
    loop {
        sql = sql.trim_start();
        if let Some(rest) = sql.strip_prefix("--") {
            sql = rest.split_once('\n').map(|x| x.1).unwrap_or("");
        } else if let Some(rest) = sql.strip_prefix("/*") {
            sql = rest.split_once("*/").map(|x| x.1).unwrap_or("");
        } else {
            return sql;
        }
    }
}

/// Check that `sql` starts with SELECT or WITH, before the planner sees it.
pub fn guard_select(sql: &str) -> Result<(), QueryError> {
    let body = strip_leading_comments(sql);
    let first: String = body
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    if first != "SELECT" && first != "WITH" {
        let shown = if first.is_empty() {
            "the statement is empty or does not start with a keyword".to_string()
        } else {
            format!("got a statement starting with `{first}`")
        };
        return Err(QueryError::NotASelect(shown));
    }
    Ok(())
}

/// The catalog as a table: name, source, created_at, updated_at, record_count, spend_usd,
/// bytes, first, last, params, summary.
fn catalog_table(infos: &[DatasetInfo]) -> Result<MemTable> {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        text("source"),
        text("created_at"),
        text("updated_at"),
        Field::new("record_count", DataType::Int64, false),
        Field::new("spend_usd", DataType::Float64, false),
        Field::new("bytes", DataType::Int64, false),
        text("first"),
        text("last"),
        text("params"),
        text("summary"),
    ]));
    let s = |f: &dyn Fn(&DatasetInfo) -> Option<String>| -> ArrayRef {
        Arc::new(infos.iter().map(f).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        s(&|d| Some(d.name.clone())),
        s(&|d| Some(d.source.clone())),
        s(&|d| Some(d.created_at.clone())),
        s(&|d| Some(d.updated_at.clone())),
        Arc::new(arrow::array::Int64Array::from_iter_values(
            infos.iter().map(|d| d.record_count as i64),
        )),
        Arc::new(arrow::array::Float64Array::from_iter_values(
            infos.iter().map(|d| d.spend_usd),
        )),
        Arc::new(arrow::array::Int64Array::from_iter_values(
            infos.iter().map(|d| d.bytes as i64),
        )),
        s(&|d| d.first.clone()),
        s(&|d| d.last.clone()),
        s(&|d| Some(d.params.to_string())),
        s(&|d| Some(d.summary.to_string())),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(df)?;
    MemTable::try_new(schema, vec![vec![batch]]).map_err(df)
}

/// A batch as JSON rows: numbers as numbers, text as text, anything else in its display form.
pub fn json_rows(batch: &RecordBatch) -> Result<Vec<Vec<Value>>, QueryError> {
    let options = FormatOptions::default();
    let mut out: Vec<Vec<Value>> = (0..batch.num_rows())
        .map(|_| Vec::with_capacity(batch.num_columns()))
        .collect();
    for col in batch.columns() {
        let fmt = ArrayFormatter::try_new(col.as_ref(), &options)
            .map_err(|e| QueryError::Failed(e.to_string()))?;
        for (i, row) in out.iter_mut().enumerate() {
            row.push(cell(col, i, &fmt));
        }
    }
    Ok(out)
}

fn cell(col: &ArrayRef, i: usize, fmt: &ArrayFormatter<'_>) -> Value {
    use arrow::datatypes::*;
    if col.is_null(i) {
        return Value::Null;
    }
    let float = |v: f64| {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    };
    match col.data_type() {
        DataType::Boolean => Value::Bool(col.as_boolean().value(i)),
        DataType::Int8 => Value::from(col.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => Value::from(col.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Value::from(col.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::from(col.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::from(col.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => Value::from(col.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => Value::from(col.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => Value::from(col.as_primitive::<UInt64Type>().value(i)),
        DataType::Float32 => float(f64::from(col.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => float(col.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Value::String(
            schema::format_timestamp_ms(col.as_primitive::<TimestampMillisecondType>().value(i)),
        ),
        _ => Value::String(fmt.value(i).to_string()),
    }
}
