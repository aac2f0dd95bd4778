//! Parquet that already lives where the user keeps it — a pipeline's output directory, a
//! single file, or an object-store URL — attached as a dataset and read in place
//! (`netra-apex datasets attach NAME LOCATION`). Nothing here is ever written or deleted.
//!
//! Every file under the location whose name ends in `.parquet` is read, at any depth; names
//! and directories starting with `.` or `_` are skipped (Spark's and Hive's `_SUCCESS`,
//! `_temporary`, `.staging`). A file must have every column of the per-call workload schema
//! ([`schema::record_schema`]) in a type that converts to it (any integer width for tokens,
//! any timestamp unit; a timestamp without a zone is taken as UTC). The accounting columns
//! (`weight`, `aggregated`, `quality_flags`) may be missing: a pipeline's records are then
//! single calls (weight 1, not aggregated, no flags), as `synth --format parquet` writes them.
//! The `day` of a record is its UTC calendar day, computed from its timestamp, since a
//! pipeline's files need not be partitioned by day.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Float64Type, Int64Type, Schema, SchemaRef, TimestampMillisecondType,
};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, lit};
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetObjectReader};

use crate::schema;
use crate::snapshot::{self, DatasetParts, Part, Snapshot};
use crate::{DatasetError, Engine, Result};
use apex_store::Store;
use apex_store::datasets::{self as catalog, DatasetInfo};

/// An opened location: the store its files are in and the prefix (or file) under it.
#[derive(Debug, Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: ObjPath,
    /// The location as it is recorded in the catalog: an absolute path or a URL.
    pub text: String,
    /// The local directory or file, when the location is on this machine.
    pub local: Option<PathBuf>,
}

/// Open `location`: a local directory or `.parquet` file (relative to the current directory
/// when not absolute), or a URL: `file://…`, or `s3://`, `gs://`, `az://` (and the https
/// forms object_store recognises for them) with credentials from the environment.
pub fn open(location: &str) -> Result<Location> {
    let trimmed = location.trim();
    if trimmed.is_empty() {
        return Err(DatasetError::Invalid(
            "the location to attach is empty; name a directory, a .parquet file or a URL".into(),
        ));
    }
    if let Some((scheme, _)) = trimmed.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+')
    {
        let url = url::Url::parse(trimmed).map_err(|e| {
            DatasetError::Invalid(format!("`{trimmed}` is not a readable URL ({e})"))
        })?;
        if url.scheme() == "file" {
            let path = url.to_file_path().map_err(|_| {
                DatasetError::Invalid(format!("`{trimmed}` is not a local file URL"))
            })?;
            return open_local(&path);
        }
        let (store, prefix) = cloud_store(&url).map_err(|e| {
            DatasetError::Invalid(format!(
                "cannot open `{trimmed}` ({e}); a location is a local directory or file, a file:// URL, or an s3://, gs:// or az:// URL (with credentials in the environment: AWS_*, GOOGLE_*, AZURE_*)"
            ))
        })?;
        return Ok(Location {
            store: Arc::from(store),
            prefix,
            text: trimmed.to_string(),
            local: None,
        });
    }
    open_local(std::path::Path::new(trimmed))
}

/// A store that does not answer fails a query in seconds, not after object_store's default
/// three minutes of retries (every snapshot lists attached datasets).
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 2,
        retry_timeout: std::time::Duration::from_secs(15),
        ..Default::default()
    }
}

/// Timeouts of a cloud store's requests, set as config keys so that what the environment
/// configures (`AWS_ALLOW_HTTP`, proxies) is kept.
const CONNECT: object_store::ClientConfigKey = object_store::ClientConfigKey::ConnectTimeout;
const TIMEOUT: object_store::ClientConfigKey = object_store::ClientConfigKey::Timeout;

/// The object store of a cloud URL, configured from the environment the way object_store's
/// builders document it (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT` for an
/// S3-compatible server, `AWS_ALLOW_HTTP`; `GOOGLE_SERVICE_ACCOUNT`; `AZURE_STORAGE_*`).
fn cloud_store(url: &url::Url) -> object_store::Result<(Box<dyn ObjectStore>, ObjPath)> {
    use object_store::ObjectStoreScheme;
    let (scheme, prefix) = ObjectStoreScheme::parse(url)?;
    let store: Box<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::AmazonS3 => Box::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .with_retry(retry())
                .with_config(object_store::aws::AmazonS3ConfigKey::Client(CONNECT), "5s")
                .with_config(
                    object_store::aws::AmazonS3ConfigKey::Client(TIMEOUT),
                    "120s",
                )
                .build()?,
        ),
        ObjectStoreScheme::GoogleCloudStorage => Box::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry())
                .with_config(object_store::gcp::GoogleConfigKey::Client(CONNECT), "5s")
                .with_config(object_store::gcp::GoogleConfigKey::Client(TIMEOUT), "120s")
                .build()?,
        ),
        ObjectStoreScheme::MicrosoftAzure => Box::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .with_retry(retry())
                .with_config(object_store::azure::AzureConfigKey::Client(CONNECT), "5s")
                .with_config(object_store::azure::AzureConfigKey::Client(TIMEOUT), "120s")
                .build()?,
        ),
        other => {
            return Err(object_store::Error::NotSupported {
                source: format!("{other:?} URLs are not read here").into(),
            });
        }
    };
    Ok((store, prefix))
}

fn open_local(path: &std::path::Path) -> Result<Location> {
    let real = std::fs::canonicalize(path).map_err(|e| {
        DatasetError::Invalid(format!(
            "cannot attach `{}`: {e}; name an existing directory of Parquet files or a .parquet file",
            path.display()
        ))
    })?;
    let prefix = ObjPath::from_absolute_path(&real)
        .map_err(|e| DatasetError::Invalid(format!("cannot attach `{}`: {e}", real.display())))?;
    Ok(Location {
        store: Arc::new(LocalFileSystem::new()),
        prefix,
        text: real.display().to_string(),
        local: Some(real),
    })
}

/// What an attach registered, and the files it left out (by name, with why).
#[derive(Debug, Clone)]
pub struct Attached {
    pub info: DatasetInfo,
    pub files: usize,
    pub skipped: Vec<String>,
}

/// Attach the Parquet files at `location` as dataset `name`: list and check them, count
/// their records, spend and time span with the engine, and register the dataset (storage
/// `external`). Refused when the name is taken or no file is readable.
pub fn attach(store: &Store, name: &str, location: &str) -> Result<Attached> {
    catalog::validate_name(name)?;
    // Before reading any file: a taken name is refused at once (and again at the commit).
    if let Some(old) = catalog::get(store, name)? {
        return Err(catalog::name_taken(&old).into());
    }
    let loc = open(location)?;
    let (parts, skipped, listing) = crate::engine::block_on(parts(&loc))??;
    if parts.is_empty() {
        let why = if skipped.is_empty() {
            "it holds no .parquet file".to_string()
        } else {
            format!("no file is readable: {}", skipped.join("; "))
        };
        return Err(DatasetError::Invalid(format!(
            "nothing to attach at {}: {why}",
            loc.text
        )));
    }
    let provisional = DatasetInfo {
        name: name.to_string(),
        source: "attached".into(),
        created_at: String::new(),
        updated_at: String::new(),
        record_count: parts.iter().map(|p| p.rows).sum(),
        spend_usd: 0.0,
        bytes: parts.iter().map(|p| p.size).sum(),
        first: None,
        last: None,
        storage: catalog::STORAGE_EXTERNAL.into(),
        params: serde_json::json!({ "location": loc.text }),
        summary: serde_json::Value::Null,
        first_part: 0,
        next_part: 0,
    };
    let files = parts.len();
    let engine = Engine::over(Snapshot::of(vec![DatasetParts {
        info: provisional.clone(),
        parts,
        store: Some(loc.store.clone()),
        listing: Some(listing),
    }]))?;
    let batches = engine.collect(&format!(
        "SELECT COUNT(*) AS n, SUM(cost_usd) AS spend, MIN(timestamp) AS first, MAX(timestamp) AS last \
         FROM workload_records WHERE dataset = '{name}'"
    ))?;
    let batch = batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| {
        DatasetError::Query("the figures of the attached files came back empty".into())
    })?;
    let records = batch.column(0).as_primitive::<Int64Type>().value(0).max(0) as u64;
    let spend = batch.column(1).as_primitive::<Float64Type>();
    let spend = if spend.is_null(0) {
        0.0
    } else {
        spend.value(0)
    };
    let ts = |i: usize| {
        let a = batch.column(i).as_primitive::<TimestampMillisecondType>();
        (!a.is_null(0)).then(|| schema::format_timestamp_ms(a.value(0)))
    };
    let (first, last) = (ts(2), ts(3));
    let summary = serde_json::json!({ "files": files, "skipped_files": skipped.len() });
    let info = catalog::attach_external(
        store,
        &catalog::ExternalAttach {
            name,
            location: &loc.text,
            records,
            spend_usd: spend,
            bytes: provisional.bytes,
            first: first.as_deref(),
            last: last.as_deref(),
            summary: &summary,
        },
    )?;
    Ok(Attached {
        info,
        files,
        skipped,
    })
}

/// One file of a location, as listed.
#[derive(Debug, Clone)]
pub struct ExternalFile {
    pub meta: ObjectMeta,
}

/// The Parquet files of a location, sorted by path.
pub async fn list(loc: &Location) -> Result<Vec<ExternalFile>> {
    let listing_error = |e: object_store::Error| {
        DatasetError::Io(format!("cannot list the files of {}: {e}", loc.text))
    };
    // A single file names itself.
    if loc.local.as_ref().is_some_and(|p| p.is_file())
        || (loc.local.is_none() && loc.prefix.as_ref().ends_with(".parquet"))
    {
        let meta = loc.store.head(&loc.prefix).await.map_err(listing_error)?;
        return Ok(vec![ExternalFile { meta }]);
    }
    let prefix = loc.prefix.clone();
    let depth = prefix.parts().count();
    let mut files: Vec<ExternalFile> = loc
        .store
        .list(Some(&prefix))
        .try_filter(|m| {
            let keep = m.location.as_ref().ends_with(".parquet")
                && m.location.parts().skip(depth).all(|p| {
                    let p = p.as_ref();
                    !p.starts_with('.') && !p.starts_with('_')
                });
            futures::future::ready(keep)
        })
        .map_ok(|meta| ExternalFile { meta })
        .try_collect()
        .await
        .map_err(listing_error)?;
    files.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok(files)
}

/// The files of `loc` as parts of a snapshot, each checked (footer readable, columns
/// convertible), with a line for each file left out and why, and the listing's version
/// ([`listing_version`]).
pub async fn parts(loc: &Location) -> Result<(Vec<Part>, Vec<String>, u64)> {
    let files = list(loc).await?;
    let version = listing_version(&files);
    let mut parts = Vec::with_capacity(files.len());
    let mut left_out = Vec::new();
    for (number, f) in files.into_iter().enumerate() {
        let key = format!("{}\u{0}{}", loc.text, f.meta.location);
        let stamp = i128::from(f.meta.last_modified.timestamp_millis()) * 1_000_000;
        let checked = match snapshot::checked_before(&key, f.meta.size, stamp) {
            Some(r) => r,
            None => {
                let r = check(loc, &f.meta).await;
                snapshot::remember(key, f.meta.size, stamp, &r);
                r
            }
        };
        let shown = shown_path(loc, &f.meta.location);
        match checked {
            Ok(rows) => parts.push(Part {
                day: String::new(),
                number: number as u64,
                path: PathBuf::from(&shown),
                size: f.meta.size,
                rows,
                object: Some(f.meta.location.clone()),
            }),
            Err(why) => left_out.push(format!("{shown} was skipped: {why}")),
        }
    }
    Ok((parts, left_out, version))
}

/// A hash of every listed file's path, size, modification time and entity tag: what an
/// attached dataset's recorded facts (its rollup look-up) are valid for.
pub fn listing_version(files: &[ExternalFile]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for f in files {
        h.update(f.meta.location.as_ref().as_bytes());
        h.update(&[0]);
        h.update(&f.meta.size.to_le_bytes());
        h.update(
            &f.meta
                .last_modified
                .timestamp_nanos_opt()
                .unwrap_or_default()
                .to_le_bytes(),
        );
        h.update(f.meta.e_tag.as_deref().unwrap_or_default().as_bytes());
        h.update(&[0]);
    }
    h.digest()
}

/// How a file is named to the user: its local path, or its URL.
fn shown_path(loc: &Location, path: &ObjPath) -> String {
    if loc.local.is_some() {
        format!("/{path}")
    } else {
        let rest = path
            .as_ref()
            .strip_prefix(loc.prefix.as_ref())
            .unwrap_or(path.as_ref());
        format!("{}{rest}", loc.text.trim_end_matches('/'))
    }
}

async fn check(loc: &Location, meta: &ObjectMeta) -> std::result::Result<u64, String> {
    let mut reader = ParquetObjectReader::new(loc.store.clone(), meta.location.clone())
        .with_file_size(meta.size);
    let md = reader
        .get_metadata(None)
        .await
        .map_err(|e| format!("not a readable Parquet file ({e})"))?;
    let arrow = parquet::arrow::parquet_to_arrow_schema(
        md.file_metadata().schema_descr(),
        md.file_metadata().key_value_metadata(),
    )
    .map_err(|e| format!("its schema cannot be read ({e})"))?;
    check_schema(&arrow)?;
    Ok(md.file_metadata().num_rows().max(0) as u64)
}

/// Whether a file's columns can be read as the stored schema: every per-call column present
/// in a convertible type; the accounting columns optional, in their own type when present.
pub fn check_schema(found: &Schema) -> std::result::Result<(), String> {
    let required: Vec<String> = schema::record_schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .filter(|n| found.field_with_name(n).is_err())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "it has no column {} (every file needs the workload schema's columns: {})",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            required.join(", ")
        ));
    }
    for want in schema::arrow_schema().fields() {
        let Ok(have) = found.field_with_name(want.name()) else {
            continue;
        };
        if !convertible(have.data_type(), want.data_type()) {
            return Err(format!(
                "column `{}` is {} where {} (or a type that converts to it) is needed",
                want.name(),
                have.data_type(),
                want.data_type()
            ));
        }
    }
    Ok(())
}

fn convertible(have: &DataType, want: &DataType) -> bool {
    use DataType::*;
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let int = |t: &DataType| t.is_integer();
    match want {
        Utf8 => text(have),
        Int64 => int(have),
        Float64 => int(have) || matches!(have, Float16 | Float32 | Float64 | Decimal128(..)),
        Boolean => matches!(have, Boolean),
        Timestamp(..) => matches!(have, Timestamp(..)),
        other => have == other,
    }
}

/// Reads an attached file as the stored schema: a missing `weight` is 1, a missing
/// `aggregated` false, missing `quality_flags` null (single clean calls); everything else is
/// DataFusion's default (casts to the stored type).
#[derive(Debug)]
pub struct AccountingDefaults;

impl PhysicalExprAdapterFactory for AccountingDefaults {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> Arc<dyn PhysicalExprAdapter> {
        Arc::new(AccountingAdapter {
            logical: logical_file_schema.clone(),
            physical: physical_file_schema.clone(),
            inner: DefaultPhysicalExprAdapterFactory
                .create(logical_file_schema, physical_file_schema),
        })
    }
}

#[derive(Debug)]
struct AccountingAdapter {
    logical: SchemaRef,
    physical: SchemaRef,
    inner: Arc<dyn PhysicalExprAdapter>,
}

impl PhysicalExprAdapter for AccountingAdapter {
    fn rewrite(
        &self,
        expr: Arc<dyn PhysicalExpr>,
    ) -> datafusion::error::Result<Arc<dyn PhysicalExpr>> {
        let filled = expr
            .transform(|e| {
                if let Some(c) = e.as_any().downcast_ref::<Column>()
                    && self.physical.index_of(c.name()).is_err()
                {
                    let default = match c.name() {
                        "weight" => Some(ScalarValue::Int64(Some(1))),
                        "aggregated" => Some(ScalarValue::Boolean(Some(false))),
                        // NULL of the session's text type (`Utf8` or `Utf8View`).
                        "quality_flags" => self
                            .logical
                            .field_with_name("quality_flags")
                            .ok()
                            .and_then(|f| ScalarValue::try_from(f.data_type()).ok()),
                        _ => None,
                    };
                    if let Some(v) = default {
                        return Ok(Transformed::yes(lit(v)));
                    }
                }
                Ok(Transformed::no(e))
            })
            .data()?;
        self.inner.rewrite(filled)
    }
}
