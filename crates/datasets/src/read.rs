//! Reading a dataset's records back whole, part by part in day order (exports, tests and the
//! conversion checks); analyses never do this, they ask the engine for aggregates.

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::schema::batch_to_records;
use crate::snapshot::Snapshot;
use crate::{DatasetError, Result};
use apex_core::workload::WorkloadRecord;
use apex_store::Store;

/// Call `f` with the records of dataset `name`, at most `batch` at a time, in day order and
/// within a day in the order they were written. Returns the number of records read.
pub fn for_each_batch(
    store: &Store,
    name: &str,
    batch: usize,
    mut f: impl FnMut(&[WorkloadRecord]) -> Result<()>,
) -> Result<u64> {
    let snapshot = Snapshot::take(store, Some(&[name]))?;
    let Some(ds) = snapshot.dataset(name) else {
        return Err(DatasetError::Invalid(format!("`{name}` does not exist")));
    };
    if let Some(at) = ds.info.location() {
        return Err(DatasetError::Invalid(format!(
            "`{name}` is attached from {at}: read it with SQL (query_data) or from its files"
        )));
    }
    let mut total = 0;
    for part in &ds.parts {
        let file = std::fs::File::open(&part.path)
            .map_err(|e| DatasetError::Io(format!("{}: {e}", part.path.display())))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(batch.max(1)).build())
            .map_err(|e| DatasetError::Io(format!("{}: {e}", part.path.display())))?;
        for b in reader {
            let b = b.map_err(|e| DatasetError::Io(format!("{}: {e}", part.path.display())))?;
            let records = batch_to_records(&b).map_err(DatasetError::Invalid)?;
            total += records.len() as u64;
            f(&records)?;
        }
    }
    Ok(total)
}
