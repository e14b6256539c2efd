//! `--strace`: one line per syscall on the host's stderr, strace-style:
//! `write(1, 0x4c1f20, 13) = 13`, `openat(AT_FDCWD, "/etc/x", 0) = -1 ENOSYS (Function not implemented)`.
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::errno::SysResult;
use crate::process::Kernel;

/// Which argument (0-based) is a path string, for syscalls that take one.
fn path_arg(nr: u64) -> Option<usize> {
    match nr {
        2
        | 4
        | 6
        | 21
        | 76
        | 80
        | 82..=90
        | 92
        | 94
        | 132
        | 133
        | 137
        | 161
        | 165
        | 166
        | 188..=197 => Some(0),
        59 => Some(0),
        257 | 258 | 259 | 260 | 262 | 263 | 265 | 266 | 267 | 268 | 269 | 280 | 322 | 332 | 437
        | 439 => Some(1),
        _ => None,
    }
}

/// Number of arguments worth printing.
fn arg_count(nr: u64) -> usize {
    match nr {
        24 | 39 | 57 | 58 | 102 | 104 | 107 | 108 | 110 | 111 | 112 | 186 => 0,
        3 | 12 | 32 | 37 | 60 | 63 | 99 | 201 | 218 | 231 => 1,
        0 | 1 | 8 | 16 | 17 | 18 | 19 | 20 | 72 | 89 | 262 | 267 => 3,
        9 => 6,
        _ => 4,
    }
}

fn quoted(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes.iter().take(64) {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    if bytes.len() > 64 {
        out.push_str("...");
    }
}

/// Formats one line. `result` is `None` for a call that does not return (exit).
pub fn format_call(
    nr: u64,
    args: &[u64; 6],
    result: Option<SysResult>,
    path: Option<&[u8]>,
) -> String {
    let mut s = String::new();
    match crate::sysnames::name(nr) {
        Some(n) => s.push_str(n),
        None => {
            let _ = write!(s, "syscall_{nr}");
        }
    }
    s.push('(');
    let n = if crate::sysnames::name(nr).is_some() {
        arg_count(nr)
    } else {
        6
    };
    for (i, &a) in args.iter().take(n).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        if Some(i) == path_arg(nr)
            && let Some(p) = path
        {
            quoted(&mut s, p);
        } else if (a as i64) == -100 && i == 0 && path_arg(nr) == Some(1) {
            s.push_str("AT_FDCWD");
        } else if a < 0x10000 || (a as i64) < 0 && (a as i64) > -4096 {
            let _ = write!(s, "{}", a as i64);
        } else {
            let _ = write!(s, "{a:#x}");
        }
    }
    s.push(')');
    match result {
        None => s.push_str(" = ?"),
        Some(Ok(v)) if v >= 0x10000 => {
            let _ = write!(s, " = {v:#x}");
        }
        Some(Ok(v)) => {
            let _ = write!(s, " = {v}");
        }
        Some(Err(e)) => {
            let (name, text) = e.describe();
            let _ = write!(s, " = -1 {name} ({text})");
        }
    }
    s.push('\n');
    s
}

/// Traces one syscall to the host's stderr.
pub fn log_call(k: &mut Kernel, nr: u64, args: &[u64; 6], result: Option<SysResult>) {
    let path: Option<Vec<u8>> = path_arg(nr).and_then(|i| k.read_path(args[i]).ok());
    let mut line = format_call(nr, args, result, path.as_deref());
    if k.sched.next_pid > 2 {
        // Once there is more than one task: say whose call it is, as strace -f does.
        line = alloc::format!("[pid {}] {}", k.proc.pid, line);
    }
    crate::hypercall::log(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    #[test]
    fn lines_look_like_strace() {
        assert_eq!(
            format_call(1, &[1, 0x4c1f20, 13, 0, 0, 0], Some(Ok(13)), None),
            "write(1, 0x4c1f20, 13) = 13\n"
        );
        assert_eq!(
            format_call(
                257,
                &[(-100i64) as u64, 0x1000_0000, 0, 0, 0, 0],
                Some(Err(Errno::ENOSYS)),
                Some(b"/etc/x")
            ),
            "openat(AT_FDCWD, \"/etc/x\", 0, 0) = -1 ENOSYS (Function not implemented)\n"
        );
        assert_eq!(
            format_call(231, &[3, 0, 0, 0, 0, 0], None, None),
            "exit_group(3) = ?\n"
        );
        assert!(
            format_call(1000, &[0; 6], Some(Err(Errno::ENOSYS)), None).starts_with("syscall_1000(")
        );
    }
}
