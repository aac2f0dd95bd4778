//! Spike: run the report's queries over a Parquet directory with DataFusion.
//! Usage: spike DIR QUERIES.sql [concurrent]
use std::time::Instant;

use datafusion::arrow::datatypes::DataType;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::*;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> datafusion::error::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = &args[1];
    let text = std::fs::read_to_string(&args[2])?;
    let concurrent = args.get(3).is_some_and(|a| a == "concurrent");
    let cfg = SessionConfig::new().with_target_partitions(2);
    let ctx = SessionContext::new_with_config(cfg);
    let opts = ParquetReadOptions::default()
        .table_partition_cols(vec![("day".to_string(), DataType::Utf8)]);
    ctx.register_parquet("workload_records", dir, opts).await?;
    let sqlopts = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let queries: Vec<String> = text
        .split(";\n")
        .map(|q| {
            q.lines()
                .filter(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|q| !q.trim().is_empty())
        .collect();
    let t0 = Instant::now();
    if concurrent {
        let mut handles = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            let ctx = ctx.clone();
            let q = q.clone();
            handles.push(tokio::spawn(async move {
                let t = Instant::now();
                let df = ctx.sql_with_options(&q, sqlopts).await?;
                let b = df.collect().await?;
                let rows: usize = b.iter().map(|b| b.num_rows()).sum();
                Ok::<_, datafusion::error::DataFusionError>((i, rows, t.elapsed()))
            }));
        }
        for h in handles {
            let (i, rows, el) = h.await.unwrap()?;
            println!("q{i}: {rows} rows {:.3}s", el.as_secs_f64());
        }
    } else {
        for (i, q) in queries.iter().enumerate() {
            let t = Instant::now();
            let df = ctx.sql_with_options(q, sqlopts).await?;
            let b = df.collect().await?;
            let rows: usize = b.iter().map(|b| b.num_rows()).sum();
            println!("q{i}: {rows} rows {:.3}s", t.elapsed().as_secs_f64());
            if i == 0 {
                println!(
                    "{}",
                    datafusion::arrow::util::pretty::pretty_format_batches(&b)?
                );
            }
        }
    }
    println!("total {:.3}s", t0.elapsed().as_secs_f64());
    Ok(())
}
