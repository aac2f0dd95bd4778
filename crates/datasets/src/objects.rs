//! A read-only object store over one [`Snapshot`]: it lists exactly the snapshot's checked
//! parts, under virtual Hive paths `dataset=<name>/day=<day>/part-NNNNN.parquet`, and reads
//! them from the local files. DataFusion's listing table over it then sees one table with
//! `dataset` and `day` partition columns (and prunes by them) while never seeing a part that
//! is uncommitted, replaced or damaged.
//!
//! Attached datasets get a second store ([`SnapshotStore::external`]) under
//! [`EXTERNAL_URL`], with the virtual paths `<name>/NNNNN.parquet`, each read from the store
//! the dataset's location is in.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::snapshot::Snapshot;

/// The URL the snapshot store of our own parts is registered under.
pub const URL: &str = "apex-datasets://snapshot/";
/// The URL the snapshot store of attached datasets is registered under.
pub const EXTERNAL_URL: &str = "apex-external://snapshot/";

/// Virtual path -> (the store the file is in, its path there, its metadata as listed).
type Files = BTreeMap<String, (Arc<dyn ObjectStore>, Path, ObjectMeta)>;

#[derive(Debug)]
pub struct SnapshotStore {
    files: Files,
}

impl fmt::Display for SnapshotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotStore({} parts)", self.files.len())
    }
}

impl SnapshotStore {
    /// Our own datasets' parts, under `dataset=<name>/day=<day>/`.
    pub fn new(snapshot: &Snapshot) -> Self {
        let mut files = Files::new();
        let local: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
        for ds in snapshot.datasets.iter().filter(|d| d.store.is_none()) {
            for p in &ds.parts {
                let Ok(real) = Path::from_absolute_path(&p.path) else {
                    continue;
                };
                let virt = format!(
                    "dataset={}/day={}/{}",
                    ds.info.name,
                    p.day,
                    crate::layout::part_file_name(p.number)
                );
                let modified = std::fs::metadata(&p.path)
                    .and_then(|m| m.modified())
                    .map(chrono::DateTime::<chrono::Utc>::from)
                    .unwrap_or_default();
                let meta = ObjectMeta {
                    location: Path::from(virt.as_str()),
                    last_modified: modified,
                    size: p.size,
                    e_tag: None,
                    version: None,
                };
                files.insert(virt, (local.clone(), real, meta));
            }
        }
        Self { files }
    }

    /// Attached datasets' files, under `<name>/NNNNN.parquet`.
    pub fn external(snapshot: &Snapshot) -> Self {
        let mut files = Files::new();
        for ds in &snapshot.datasets {
            let Some(store) = &ds.store else { continue };
            for p in &ds.parts {
                let Some(real) = &p.object else { continue };
                let virt = format!("{}/{:05}.parquet", ds.info.name, p.number);
                let meta = ObjectMeta {
                    location: Path::from(virt.as_str()),
                    last_modified: chrono::DateTime::<chrono::Utc>::default(),
                    size: p.size,
                    e_tag: None,
                    version: None,
                };
                files.insert(virt, (store.clone(), real.clone(), meta));
            }
        }
        Self { files }
    }

    fn real(&self, location: &Path) -> object_store::Result<(&Arc<dyn ObjectStore>, &Path)> {
        self.files
            .get(location.as_ref())
            .map(|(store, real, _)| (store, real))
            .ok_or_else(|| object_store::Error::NotFound {
                path: location.to_string(),
                source: "not a part of this dataset snapshot".into(),
            })
    }

    fn under<'a>(&'a self, prefix: Option<&Path>) -> impl Iterator<Item = &'a ObjectMeta> + 'a {
        let prefix = prefix
            .map(|p| format!("{}/", p.as_ref()))
            .filter(|p| p != "/")
            .unwrap_or_default();
        self.files
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, (_, _, meta))| meta)
    }
}

fn read_only() -> object_store::Error {
    object_store::Error::NotSupported {
        source: "the dataset snapshot is read-only".into(),
    }
}

#[async_trait]
impl ObjectStore for SnapshotStore {
    async fn put_opts(
        &self,
        _location: &Path,
        _payload: PutPayload,
        _opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(read_only())
    }

    async fn put_multipart_opts(
        &self,
        _location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(read_only())
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let (store, real) = self.real(location)?;
        let mut result = store.get_opts(real, options).await?;
        result.meta.location = location.clone();
        Ok(result)
    }

    async fn delete(&self, _location: &Path) -> object_store::Result<()> {
        Err(read_only())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let found: Vec<_> = self.under(prefix).cloned().map(Ok).collect();
        stream::iter(found).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let base = prefix.map(|p| p.as_ref().to_string()).unwrap_or_default();
        let skip = if base.is_empty() { 0 } else { base.len() + 1 };
        let mut common: Vec<Path> = Vec::new();
        let mut objects = Vec::new();
        for meta in self.under(prefix) {
            let rest = &meta.location.as_ref()[skip..];
            match rest.split_once('/') {
                Some((dir, _)) => {
                    let p = if base.is_empty() {
                        Path::from(dir)
                    } else {
                        Path::from(format!("{base}/{dir}"))
                    };
                    if common.last() != Some(&p) {
                        common.push(p);
                    }
                }
                None => objects.push(meta.clone()),
            }
        }
        Ok(ListResult {
            common_prefixes: common,
            objects,
        })
    }

    async fn copy(&self, _from: &Path, _to: &Path) -> object_store::Result<()> {
        Err(read_only())
    }

    async fn copy_if_not_exists(&self, _from: &Path, _to: &Path) -> object_store::Result<()> {
        Err(read_only())
    }
}
