//! The stdio transport with the two answers rmcp leaves out: a line that is not JSON gets a
//! JSON-RPC parse error (-32700) and a line over 4 MiB an invalid-request error (-32600),
//! both with `id: null`, and the session goes on. Everything else passes through untouched.
//!
//! stdin -> [filter] -> pipe -> rmcp -> pipe -> [merge] -> stdout; the filter's error replies
//! join the merge at line boundaries so they never split a protocol message.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The two ends rmcp serves on; the returned task owns the process's stdin and stdout.
pub fn filtered_stdio(
    max_line: usize,
) -> (
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
    tokio::task::JoinHandle<()>,
) {
    let (rmcp_in, mut filter_out) = tokio::io::duplex(1 << 20);
    let (rmcp_out, merge_in) = tokio::io::duplex(1 << 20);
    let (err_tx, err_rx) = mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(async move {
        let filter = async {
            filter(tokio::io::stdin(), &mut filter_out, err_tx, max_line).await;
            // Closing rmcp's input ends the session, as EOF on stdin would.
            let _ = filter_out.shutdown().await;
        };
        let merge = merge(merge_in, err_rx, tokio::io::stdout());
        tokio::join!(filter, merge);
    });
    (rmcp_in, rmcp_out, task)
}

/// Run the stdin filter over `input` at once: what passes to rmcp (newline-terminated JSON
/// lines) and the error replies it would send. For the fuzz targets under `fuzz/`.
pub fn filter_bytes(input: &[u8], max_line: usize) -> std::io::Result<(Vec<u8>, Vec<String>)> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut out = Vec::new();
    runtime.block_on(filter(input, &mut out, tx, max_line));
    let mut errors = Vec::new();
    while let Ok(e) = rx.try_recv() {
        errors.push(e);
    }
    Ok((out, errors))
}

async fn filter(
    input: impl AsyncRead + Unpin,
    out: &mut (impl AsyncWrite + Unpin),
    errors: mpsc::UnboundedSender<String>,
    max_line: usize,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let (complete, oversized) = match read_bounded_line(&mut reader, &mut line, max_line).await
        {
            Ok(r) => r,
            Err(_) => return,
        };
        if !complete && line.is_empty() && !oversized {
            return; // EOF
        }
        if oversized {
            let _ = errors.send(error_line(
                -32600,
                &format!("request too large: a message may be at most {max_line} bytes"),
            ));
            if !complete {
                return;
            }
            continue;
        }
        let body = trim_line(&line);
        if body.is_empty() {
            continue;
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body)
            && (e.is_syntax() || e.is_eof())
        {
            let _ = errors.send(error_line(-32700, &format!("parse error: {e}")));
            continue;
        }
        if out.write_all(body).await.is_err() || out.write_all(b"\n").await.is_err() {
            return;
        }
        if out.flush().await.is_err() {
            return;
        }
        if !complete {
            return;
        }
    }
}

/// Read one line into `buf`, keeping at most `max` bytes. Returns (ended with a newline,
/// was longer than `max`).
async fn read_bounded_line(
    reader: &mut (impl AsyncBufReadExt + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(bool, bool)> {
    let mut oversized = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok((false, oversized));
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let n = chunk.len();
        if !oversized {
            if buf.len() + n > max + 1 {
                oversized = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(n);
        if done {
            return Ok((true, oversized));
        }
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

fn error_line(code: i64, message: &str) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}})
        .to_string()
}

async fn merge(
    from_rmcp: impl AsyncRead + Unpin,
    mut errors: mpsc::UnboundedReceiver<String>,
    mut stdout: impl AsyncWrite + Unpin,
) {
    let mut lines = BufReader::new(from_rmcp);
    let mut buf = Vec::new();
    let mut errors_open = true;
    loop {
        tokio::select! {
            r = lines.read_until(b'\n', &mut buf) => {
                match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if stdout.write_all(&buf).await.is_err() || stdout.flush().await.is_err() {
                            return;
                        }
                        buf.clear();
                    }
                }
            }
            e = errors.recv(), if errors_open => {
                match e {
                    Some(line) => {
                        let ok = stdout.write_all(line.as_bytes()).await.is_ok()
                            && stdout.write_all(b"\n").await.is_ok()
                            && stdout.flush().await.is_ok();
                        if !ok {
                            return;
                        }
                    }
                    None => errors_open = false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_lines_become_errors_and_good_lines_pass() {
        let input =
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\nnot json\n\n{\"a\":1}\r\n"
                .to_vec();
        let big = format!("{}\n{{\"ok\":true}}\n", "x".repeat(100));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut out = Vec::new();
        filter(&input[..], &mut out, tx.clone(), 1000).await;
        filter(big.as_bytes(), &mut out, tx, 50).await;
        let passed = String::from_utf8(out).unwrap();
        assert_eq!(
            passed,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n{\"a\":1}\n{\"ok\":true}\n"
        );
        let e1 = rx.recv().await.unwrap();
        assert!(e1.contains("-32700") && e1.contains("\"id\":null"), "{e1}");
        let e2 = rx.recv().await.unwrap();
        assert!(
            e2.contains("-32600") && e2.contains("at most 50 bytes"),
            "{e2}"
        );
    }
}
