//! A small std-only program that hull's tests run natively and in the sandbox (built for
//! x86_64-unknown-linux-musl). It prints only deterministic text.
//!
//! `procs-demo DIR`: threads with mpsc channels and Arc<Mutex>, scoped threads, a
//! Barrier, an RwLock; std::process::Command running this program again (through
//! current_exe, i.e. /proc/self/exe) with piped stdin/stdout, exit codes, a death by
//! signal, environment and working directory, a two-child pipeline and parallel
//! children; std::fs creating, reading, renaming and removing files under DIR.
//!
//! Roles for the children: `child N`, `upper`, `gen N`, `exit N`, `abort`, `env`, `pwd`.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex, RwLock};
use std::thread;

fn describe(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown".into(),
    }
}

fn threads() {
    // Workers send (id, result) over a channel.
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    for id in 0..8u64 {
        let tx = tx.clone();
        handles.push(thread::spawn(move || {
            let sum: u64 = (id * 100_000..(id + 1) * 100_000)
                .map(|x| x * x % 1_000_003)
                .sum();
            tx.send((id, sum)).unwrap();
            id * 10
        }));
    }
    drop(tx);
    let mut results: BTreeMap<u64, u64> = BTreeMap::new();
    for (id, sum) in rx {
        results.insert(id, sum);
    }
    let joined: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    for (id, sum) in &results {
        println!("worker {id}: {sum}");
    }
    println!("join values summed: {joined}");

    // Arc<Mutex<Vec>> and an atomic counter.
    let shared = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..8)
        .map(|t| {
            let shared = Arc::clone(&shared);
            let count = Arc::clone(&count);
            thread::spawn(move || {
                for i in 0..1000 {
                    shared.lock().unwrap().push(t * 1000 + i);
                    count.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let v = shared.lock().unwrap();
    let mut sorted = v.clone();
    sorted.sort_unstable();
    let dense = sorted.iter().enumerate().all(|(i, &x)| i == x);
    println!(
        "mutex vec: {} items, sum {}, every value once: {dense}, atomic count {}",
        v.len(),
        v.iter().sum::<usize>(),
        count.load(Ordering::SeqCst)
    );

    // Scoped threads over a slice, a barrier and an RwLock.
    let data: Vec<u32> = (1..=10_000).collect();
    let total: u64 = thread::scope(|s| {
        let parts: Vec<_> = data
            .chunks(1000)
            .map(|c| s.spawn(move || c.iter().map(|&x| u64::from(x)).sum::<u64>()))
            .collect();
        parts.into_iter().map(|p| p.join().unwrap()).sum()
    });
    println!("scoped sum: {total}");
    let barrier = Arc::new(Barrier::new(6));
    let leaders = Arc::new(AtomicUsize::new(0));
    let table = Arc::new(RwLock::new(0u64));
    let hs: Vec<_> = (0..6)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let leaders = Arc::clone(&leaders);
            let table = Arc::clone(&table);
            thread::spawn(move || {
                for _ in 0..20 {
                    *table.write().unwrap() += i;
                    if barrier.wait().is_leader() {
                        leaders.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = *table.read().unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    println!(
        "barrier leaders: {}, rwlock total: {}",
        leaders.load(Ordering::SeqCst),
        *table.read().unwrap()
    );
}

fn commands(dir: &Path) {
    let me = env::current_exe().expect("current_exe");
    println!(
        "current_exe file name: {}",
        me.file_name().unwrap().to_string_lossy()
    );

    let out = Command::new(&me).args(["child", "7"]).output().unwrap();
    print!("child output: {}", String::from_utf8_lossy(&out.stdout));
    println!("child status: {}", describe(out.status));

    let mut child = Command::new(&me)
        .arg("upper")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..2000 {
            writeln!(stdin, "line {i} through a pipe").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!(
        "upper: {} lines, last {:?}, {}",
        text.lines().count(),
        text.lines().last().unwrap_or(""),
        describe(out.status)
    );

    for code in [0, 3, 255] {
        let st = Command::new(&me)
            .args(["exit", &code.to_string()])
            .status()
            .unwrap();
        println!("exit {code}: {}", describe(st));
    }
    let st = Command::new(&me)
        .arg("abort")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    println!("abort: {}", describe(st));

    let out = Command::new(&me)
        .arg("env")
        .env_clear()
        .env("DEMO_VAR", "from the parent")
        .output()
        .unwrap();
    print!("env: {}", String::from_utf8_lossy(&out.stdout));
    let out = Command::new(&me)
        .arg("pwd")
        .env("DEMO_EXPECT_DIR", dir)
        .current_dir(dir)
        .output()
        .unwrap();
    print!("pwd: {}", String::from_utf8_lossy(&out.stdout));

    match Command::new(dir.join("no-such-program")).status() {
        Ok(st) => println!("missing program ran?! {}", describe(st)),
        Err(e) => println!("missing program: {:?}", e.kind()),
    }

    // A pipeline: gen | upper, the first child's stdout feeding the second's stdin.
    let mut gen_child = Command::new(&me)
        .args(["gen", "500"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let upper = Command::new(&me)
        .arg("upper")
        .stdin(Stdio::from(gen_child.stdout.take().unwrap()))
        .output()
        .unwrap();
    let gst = gen_child.wait().unwrap();
    let text = String::from_utf8_lossy(&upper.stdout);
    println!(
        "pipeline: {} lines, first {:?}, gen {}, upper {}",
        text.lines().count(),
        text.lines().next().unwrap_or(""),
        describe(gst),
        describe(upper.status)
    );

    // Children in parallel, results sorted.
    let kids: Vec<_> = (0..6)
        .map(|i| {
            Command::new(&me)
                .args(["child", &i.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut lines: Vec<String> = kids
        .into_iter()
        .map(|k| {
            let o = k.wait_with_output().unwrap();
            format!(
                "{} ({})",
                String::from_utf8_lossy(&o.stdout).trim(),
                describe(o.status)
            )
        })
        .collect();
    lines.sort();
    for l in lines {
        println!("parallel: {l}");
    }

    // Threads that each run a child.
    let me2 = me.clone();
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let me = me2.clone();
            thread::spawn(move || {
                let o = Command::new(&me)
                    .args(["child", &(100 + i).to_string()])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout).trim().to_string()
            })
        })
        .collect();
    let mut outs: Vec<String> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    outs.sort();
    println!("from threads: {}", outs.join(" | "));
}

fn files(dir: &Path) {
    let base = dir.join("rs-demo");
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(base.join("sub/deeper")).unwrap();
    for i in 0..5 {
        fs::write(
            base.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(i + 1),
        )
        .unwrap();
    }
    fs::write(base.join("sub/deeper/data.bin"), vec![7u8; 100_000]).unwrap();
    let mut names: Vec<String> = fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    println!("read_dir: {}", names.join(" "));
    let text = fs::read_to_string(base.join("f2.txt")).unwrap();
    println!(
        "f2.txt: {} bytes, {} lines",
        text.len(),
        text.lines().count()
    );
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(base.join("f0.txt"))
        .unwrap();
    f.write_all(b"appended\n").unwrap();
    drop(f);
    let mut s = String::new();
    fs::File::open(base.join("f0.txt"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    println!("f0.txt after append: {s:?}");
    fs::rename(base.join("f1.txt"), base.join("sub/f1-moved.txt")).unwrap();
    fs::copy(base.join("f3.txt"), base.join("f3-copy.txt")).unwrap();
    println!(
        "data.bin: {} bytes",
        fs::metadata(base.join("sub/deeper/data.bin"))
            .unwrap()
            .len()
    );
    fs::remove_file(base.join("f4.txt")).unwrap();
    println!("removed f4.txt exists: {}", base.join("f4.txt").exists());
    match fs::read(base.join("missing")) {
        Ok(_) => println!("missing file read?!"),
        Err(e) => println!("missing file: {:?}", e.kind()),
    }
    fs::remove_dir_all(base.join("sub/deeper")).unwrap();
    let mut left: Vec<String> = Vec::new();
    walk(&base, &base, &mut left);
    left.sort();
    println!("left: {}", left.join(" "));
    // Keep rs-demo in place: the test compares the trees left behind.
}

fn walk(root: &Path, p: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        out.push(path.strip_prefix(root).unwrap().display().to_string());
        if e.file_type().unwrap().is_dir() {
            walk(root, &path, out);
        }
    }
}

fn role(args: &[String]) -> Option<i32> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(1) {
        "child" => {
            println!("child {} says hello", arg(2));
            Some(0)
        }
        "upper" => {
            let stdin = io::stdin();
            let mut out = io::BufWriter::new(io::stdout().lock());
            for line in stdin.lock().lines() {
                writeln!(out, "{}", line.unwrap().to_uppercase()).unwrap();
            }
            Some(0)
        }
        "gen" => {
            let n: usize = arg(2).parse().unwrap_or(10);
            let mut out = io::BufWriter::new(io::stdout().lock());
            for i in 0..n {
                writeln!(out, "generated line {i}").unwrap();
            }
            Some(0)
        }
        "exit" => Some(arg(2).parse().unwrap_or(1)),
        "abort" => std::process::abort(),
        "env" => {
            let mut vars: Vec<String> = env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            vars.sort();
            println!("{}", vars.join(" "));
            Some(0)
        }
        "pwd" => {
            let cwd = env::current_dir().unwrap();
            let want = env::var_os("DEMO_EXPECT_DIR").map(|d| fs::canonicalize(d).unwrap());
            println!("the child runs in DIR: {}", Some(cwd) == want);
            Some(0)
        }
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = env::args().collect();
    if let Some(code) = role(&args) {
        io::stdout().flush().unwrap();
        std::process::exit(code);
    }
    let Some(dir) = args.get(1) else {
        eprintln!("usage: procs-demo DIR");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    threads();
    commands(dir);
    files(dir);
    println!("done");
}
