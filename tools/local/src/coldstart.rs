//! `orderseal-local coldstart`: a function's init, measured as Lambda sees it - from exec to
//! its first `GET /2018-06-01/runtime/invocation/next` - against a fake Runtime API on
//! loopback, the functions' environments pointing at the emulator. Runs are interleaved (every
//! binary once per round, in a shuffled order) so that a noisy machine slows all of them
//! alike; figures are reported as ratios to the bare `lambda-hello` baseline.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::LocalError;

/// The baseline every function is compared with.
pub const BASELINE: &str = "lambda-hello";

/// One binary to start: its name, path and environment.
#[derive(Debug, Clone)]
pub struct Target {
    pub bin: String,
    pub path: PathBuf,
    pub env: BTreeMap<String, String>,
}

/// A binary's init times over the runs, in microseconds, sorted.
#[derive(Debug, Clone)]
pub struct Summary {
    pub bin: String,
    pub micros: Vec<u64>,
    /// Runs that never asked for an event in time (or reported an init error).
    pub failures: usize,
}

impl Summary {
    pub fn median(&self) -> Option<u64> {
        self.quantile(0.5)
    }

    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.micros.is_empty() {
            return None;
        }
        let i = ((self.micros.len() - 1) as f64 * q).round() as usize;
        self.micros.get(i).copied()
    }
}

enum Seen {
    Next(Instant),
    InitError,
}

/// Answer the Runtime API: note the first `/next` (and never answer it: the process is killed
/// while it waits, as a frozen sandbox would be), accept an init error report.
async fn serve(listener: TcpListener, seen: mpsc::UnboundedSender<Seen>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let at = Instant::now();
            if buf.starts_with(b"GET /2018-06-01/runtime/invocation/next") {
                let _ = seen.send(Seen::Next(at));
                // Held open until the process goes.
                let _ = stream.read(&mut chunk).await;
            } else {
                if buf.starts_with(b"POST /2018-06-01/runtime/init/error") {
                    let _ = seen.send(Seen::InitError);
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
    }
}

/// Start every target `runs` times, interleaved, and time each init.
pub async fn measure(
    targets: &[Target],
    runs: usize,
    timeout: Duration,
    seed: u64,
) -> Result<Vec<Summary>, LocalError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| LocalError::Stack(format!("runtime API listener: {e}")))?;
    let api = listener
        .local_addr()
        .map_err(|e| LocalError::Stack(e.to_string()))?
        .to_string();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve(listener, tx));
    let mut summaries: Vec<Summary> = targets
        .iter()
        .map(|t| Summary {
            bin: t.bin.clone(),
            micros: Vec::new(),
            failures: 0,
        })
        .collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..runs {
        let mut order: Vec<usize> = (0..targets.len()).collect();
        rng.shuffle(&mut order);
        for i in order {
            let t = &targets[i];
            while rx.try_recv().is_ok() {}
            let start = Instant::now();
            let mut child = tokio::process::Command::new(&t.path)
                .env_clear()
                .envs(&t.env)
                .env("AWS_LAMBDA_RUNTIME_API", &api)
                .env("AWS_LAMBDA_FUNCTION_NAME", &t.bin)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env(
                    "AWS_LAMBDA_LOG_GROUP_NAME",
                    format!("/aws/lambda/{}", t.bin),
                )
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| LocalError::Stack(format!("{}: {e}", t.path.display())))?;
            let seen = tokio::time::timeout(timeout, rx.recv()).await;
            let _ = child.kill().await;
            match seen {
                Ok(Some(Seen::Next(at))) => summaries[i]
                    .micros
                    .push(u64::try_from(at.duration_since(start).as_micros()).unwrap_or(u64::MAX)),
                _ => summaries[i].failures += 1,
            }
        }
    }
    server.abort();
    for s in &mut summaries {
        s.micros.sort_unstable();
    }
    Ok(summaries)
}

/// The report: median, p10 and p90 per binary, and the median's ratio to the baseline's.
pub fn render(summaries: &[Summary], python_init_ms: f64) -> String {
    use std::fmt::Write as _;
    let ms = |us: Option<u64>| us.map_or("-".to_owned(), |u| format!("{:.2}", u as f64 / 1000.0));
    let baseline = summaries
        .iter()
        .find(|s| s.bin == BASELINE)
        .and_then(Summary::median);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
        "BINARY", "RUNS", "MEDIAN ms", "P10 ms", "P90 ms", "× HELLO", "× PYTHON", "FAILED"
    );
    for s in summaries {
        let ratio = match (s.median(), baseline) {
            (Some(m), Some(b)) if b > 0 => format!("{:.2}", m as f64 / b as f64),
            _ => "-".to_owned(),
        };
        let python = s.median().map_or("-".to_owned(), |m| {
            format!("{:.3}", m as f64 / 1000.0 / python_init_ms)
        });
        let _ = writeln!(
            out,
            "{:<18} {:>6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
            s.bin,
            s.micros.len(),
            ms(s.median()),
            ms(s.quantile(0.1)),
            ms(s.quantile(0.9)),
            ratio,
            python,
            s.failures
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_ratios_come_from_the_sorted_runs() {
        let s = |bin: &str, micros: Vec<u64>| Summary {
            bin: bin.into(),
            micros,
            failures: 0,
        };
        let hello = s(BASELINE, vec![2_000, 2_500, 3_000]);
        let ingest = s("ingest", vec![4_000, 5_000, 9_000]);
        assert_eq!(hello.median(), Some(2_500));
        assert_eq!(ingest.quantile(0.9), Some(9_000));
        let table = render(&[hello, ingest], 372.0);
        let row = table.lines().find(|l| l.starts_with("ingest")).unwrap();
        assert!(row.contains(" 5.00 ") && row.contains(" 2.00 "), "{row}");
        assert!(row.contains("0.013"), "{row}");
        assert_eq!(s("x", vec![]).median(), None);
    }
}
