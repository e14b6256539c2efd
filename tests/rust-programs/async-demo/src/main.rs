//! tokio on hull: a multi-threaded runtime (epoll, eventfd and a socket pair for its
//! signal driver), tasks, timers, an interval, channels, a timeout, async files and a
//! child process (itself) with piped stdio. Output is deterministic: the same natively
//! and in the sandbox.
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("child") {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).expect("read stdin");
        println!("child got {}", line.trim());
        std::process::exit(5);
    }

    let handles: Vec<_> = (0..100u64)
        .map(|i| tokio::spawn(async move { i * i }))
        .collect();
    let mut sum = 0;
    for h in handles {
        sum += h.await.expect("task");
    }
    println!("sum {sum}");

    let t = Instant::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    println!("slept at least 20ms: {}", t.elapsed() >= Duration::from_millis(20));
    let mut iv = tokio::time::interval(Duration::from_millis(5));
    for _ in 0..5 {
        iv.tick().await;
    }
    println!("ticked 5 times");

    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        for i in 1..=1000u64 {
            tx.send(i).await.expect("send");
        }
    });
    let mut s = 0;
    while let Some(v) = rx.recv().await {
        s += v;
    }
    println!("channel sum {s}");

    let r = tokio::time::timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
    println!("timeout fired: {}", r.is_err());

    let p = std::env::temp_dir().join(format!("hull-tokio-{}.txt", std::process::id()));
    tokio::fs::write(&p, b"hello file\n").await.expect("write");
    let back = tokio::fs::read_to_string(&p).await.expect("read");
    println!("file {back:?}");
    tokio::fs::remove_file(&p).await.expect("remove");

    let exe = std::env::current_exe().expect("current_exe");
    let mut child = tokio::process::Command::new(exe)
        .arg("child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"ping\n").await.expect("write stdin");
    drop(stdin);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines.next_line().await.expect("read stdout");
    let status = child.wait().await.expect("wait");
    println!("child said {line:?}, exit {:?}", status.code());
}
