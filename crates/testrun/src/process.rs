//! Starting a runner in its own process group, streaming its stdout and stderr line by
//! line, and killing the whole group on timeout or cancellation (or when the runner
//! leaves processes behind). It does not know what the lines mean.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::parse::{Stream, strip_ansi};

/// A command to run.
#[derive(Debug, Clone)]
pub struct Exec {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Every line of output goes here (stdout and stderr interleaved as they arrive).
    pub log_path: PathBuf,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    TimedOut,
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Ending {
    pub how: How,
    /// The last lines of output, for error messages.
    pub tail: String,
    /// The process group id the runner ran in.
    pub pgid: u32,
}

const TAIL_LINES: usize = 40;
/// Longest line handed to parsers; longer lines are cut (the log keeps them whole).
const MAX_LINE: usize = 1 << 20;
/// How long output may keep flowing after the runner exits (a child holding the pipe).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Run `exec`, calling `on_line` for each line as it arrives. Returns how it ended; an
/// error only when the program could not be started.
pub async fn run(
    exec: &Exec,
    cancel: &CancellationToken,
    on_line: &mut (dyn FnMut(Stream, &str) + Send),
) -> std::io::Result<Ending> {
    let mut cmd = tokio::process::Command::new(&exec.program);
    cmd.args(&exec.args)
        .current_dir(&exec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in &exec.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn()?;
    let pgid = child.id().unwrap_or(0);
    let mut log = std::io::BufWriter::new(std::fs::File::create(&exec.log_path)?);

    let (tx, mut rx) = mpsc::channel::<(Stream, Vec<u8>)>(1024);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, Stream::Stdout, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, Stream::Stderr, tx.clone()));
    }
    drop(tx);

    let deadline = tokio::time::Instant::now() + exec.timeout;
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut drain_until: Option<tokio::time::Instant> = None;
    let mut how: Option<How> = None;
    let mut pipes_open = true;

    let mut handle = |stream: Stream, bytes: Vec<u8>, tail: &mut VecDeque<String>| {
        let text = String::from_utf8_lossy(&bytes);
        let line = strip_ansi(text.trim_end_matches(['\n', '\r']));
        // Lines of Netra Apex's own plugins (marked with RS) are data, not console output.
        if !line.starts_with('\u{1e}') {
            let _ = writeln!(log, "{line}");
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(apex_core::events::truncate_chars(&line, 500));
        }
        let cut = if line.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            &line[..end]
        } else {
            &line[..]
        };
        on_line(stream, cut);
    };

    while how.is_none() && (pipes_open || exit.is_none()) {
        let grace = async {
            match drain_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.recv(), if pipes_open => match msg {
                Some((stream, bytes)) => handle(stream, bytes, &mut tail),
                None => pipes_open = false,
            },
            status = child.wait(), if exit.is_none() => {
                exit = Some(status?);
                drain_until = Some(tokio::time::Instant::now() + DRAIN_GRACE);
            },
            _ = grace => break,
            _ = tokio::time::sleep_until(deadline) => how = Some(How::TimedOut),
            _ = cancel.cancelled() => how = Some(How::Cancelled),
        }
    }

    // Whatever ended the run, nothing it started may outlive it.
    kill_group(pgid).await;
    if exit.is_none() {
        exit = child.wait().await.ok();
    }
    // Output written before the kill still counts: read the pipes to their end (they close
    // once the group is gone), but never wait long for them.
    while let Ok(Some((stream, bytes))) =
        tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
    {
        handle(stream, bytes, &mut tail);
    }
    let _ = log.flush();
    let how = how.unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        How::Exited {
            code: exit.and_then(|s| s.code()),
            signal: exit.and_then(|s| s.signal()),
        }
    });
    Ok(Ending {
        how,
        tail: tail.into_iter().collect::<Vec<_>>().join("\n"),
        pgid,
    })
}

async fn pump(reader: impl AsyncRead + Unpin, stream: Stream, tx: mpsc::Sender<(Stream, Vec<u8>)>) {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    loop {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if tx.send((stream, buf)).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// Send SIGTERM to the whole group, give it a moment, then SIGKILL what is left.
pub async fn kill_group(pgid: u32) {
    if pgid == 0 {
        return;
    }
    if !group_alive(pgid) {
        return;
    }
    signal_group(pgid, "-TERM");
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if !group_alive(pgid) {
            return;
        }
    }
    signal_group(pgid, "-KILL");
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether any process of group `pgid` is still alive (zombies not counted).
pub fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // Fields after the parenthesised command: state ppid pgrp ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
        pgrp == Some(pgid) && state != "Z" && state != "X"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(dir: &std::path::Path, script: &str, timeout: Duration) -> Exec {
        Exec {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: dir.to_path_buf(),
            env: vec![],
            timeout,
            log_path: dir.join("log.txt"),
        }
    }

    #[tokio::test]
    async fn streams_lines_and_reports_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = Vec::new();
        let e = exec(
            dir.path(),
            "echo one; echo two >&2; printf '\\033[31mred\\033[0m\\n'; exit 3",
            Duration::from_secs(10),
        );
        let end = run(&e, &CancellationToken::new(), &mut |s, l| {
            lines.push((s, l.to_string()))
        })
        .await
        .unwrap();
        assert_eq!(
            end.how,
            How::Exited {
                code: Some(3),
                signal: None
            }
        );
        assert!(lines.contains(&(Stream::Stdout, "one".into())));
        assert!(lines.contains(&(Stream::Stderr, "two".into())));
        assert!(lines.contains(&(Stream::Stdout, "red".into())));
        let log = std::fs::read_to_string(dir.path().join("log.txt")).unwrap();
        assert!(log.contains("one\n") && log.contains("two\n"), "{log}");
        assert!(!group_alive(end.pgid));
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group_with_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        // A grandchild that ignores nothing and outlives its parent's pipe.
        let e = exec(
            dir.path(),
            "echo started; (sleep 300 &) ; sleep 300",
            Duration::from_millis(500),
        );
        let end = run(&e, &CancellationToken::new(), &mut |_, _| {})
            .await
            .unwrap();
        assert_eq!(end.how, How::TimedOut);
        assert!(end.tail.contains("started"));
        assert!(
            !group_alive(end.pgid),
            "process group {} survived",
            end.pgid
        );
    }

    #[tokio::test]
    async fn cancellation_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let e = exec(dir.path(), "sleep 300 & sleep 300", Duration::from_secs(60));
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c2.cancel();
        });
        let t = std::time::Instant::now();
        let end = run(&e, &cancel, &mut |_, _| {}).await.unwrap();
        assert_eq!(end.how, How::Cancelled);
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(!group_alive(end.pgid));
    }

    #[tokio::test]
    async fn leftover_children_holding_the_pipe_do_not_hang_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let e = exec(dir.path(), "sleep 300 & echo done", Duration::from_secs(60));
        let t = std::time::Instant::now();
        let end = run(&e, &CancellationToken::new(), &mut |_, _| {})
            .await
            .unwrap();
        assert_eq!(
            end.how,
            How::Exited {
                code: Some(0),
                signal: None
            }
        );
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(!group_alive(end.pgid));
    }

    #[test]
    fn strips_colour_codes() {
        assert_eq!(strip_ansi("\u{1b}[1m\u{1b}[32mPASS\u{1b}[0m x"), "PASS x");
        assert_eq!(strip_ansi("plain"), "plain");
    }
}
