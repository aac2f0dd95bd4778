//! The Parquet writer's settings, measured: the batches of a dataset's parts (as an ingest
//! wrote them) written again under each setting, single-threaded, median of 3; the time and
//! the file's size. `tools/bench/parquet-writer.sh` runs it on 1M ingested records.
//!
//! ```text
//! cargo run --release -p apex-datasets --example writer_settings -- DATASET_DIR
//! ```

use std::error::Error;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use apex_datasets::schema::{ID_COLUMNS, ROW_GROUP_ROWS, ZSTD_COLUMNS, writer_properties};

/// Before the settings were tuned: Snappy, chunk statistics and dictionaries everywhere but
/// the ids (which had neither).
fn before() -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true);
    for col in ID_COLUMNS {
        b = b
            .set_column_statistics_enabled(ColumnPath::from(*col), EnabledStatistics::None)
            .set_column_dictionary_enabled(ColumnPath::from(*col), false);
    }
    b.build()
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: writer_settings DATASET_DIR (a dataset=NAME directory of parts)")?;
    let mut batches: Vec<RecordBatch> = Vec::new();
    for path in parts(Path::new(&dir))? {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path)?)?
            .with_batch_size(4096)
            .build()?;
        for b in reader {
            batches.push(b?);
        }
    }
    let schema = batches
        .first()
        .ok_or("no records under that directory")?
        .schema();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    println!("{rows} records from {dir}");
    let now = writer_properties();
    let zstd = Compression::ZSTD(ZstdLevel::default());
    let settings: Vec<(&str, WriterProperties)> = vec![
        ("before (Snappy, statistics, dictionaries)", before()),
        ("now (writer_properties)", now.clone()),
        (
            "now, every column Snappy",
            ZSTD_COLUMNS
                .iter()
                .fold(now.clone().into_builder(), |b, col| {
                    b.set_column_compression(ColumnPath::from(*col), Compression::SNAPPY)
                })
                .build(),
        ),
        (
            "now, every column Zstandard 1",
            now.clone().into_builder().set_compression(zstd).build(),
        ),
        (
            "now, others LZ4_RAW",
            now.clone()
                .into_builder()
                .set_compression(Compression::LZ4_RAW)
                .build(),
        ),
    ];
    let out = std::env::temp_dir().join(format!("writer_settings-{}.parquet", std::process::id()));
    println!("{:<44} {:>9} {:>9}", "setting", "median s", "MB");
    for (name, props) in settings {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..3 {
            let start = Instant::now();
            let mut w =
                ArrowWriter::try_new(File::create(&out)?, schema.clone(), Some(props.clone()))?;
            for b in &batches {
                w.write(b)?;
            }
            w.close()?;
            times.push(start.elapsed().as_secs_f64());
            size = std::fs::metadata(&out)?.len();
        }
        times.sort_by(f64::total_cmp);
        println!("{name:<44} {:>9.3} {:>9.1}", times[1], size as f64 / 1e6);
    }
    std::fs::remove_file(&out)?;
    Ok(())
}

/// The part files under `dir`, in path order.
fn parts(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(parts(&path)?);
        } else if path.extension().is_some_and(|x| x == "parquet") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
