//! The initial user stack, laid out exactly as Linux's `create_elf_tables`: argc, argv,
//! envp and the auxiliary vector at the (16-byte aligned) stack pointer; below the top,
//! the argument and environment strings, the platform string and AT_RANDOM's 16 bytes.
use alloc::vec;
use alloc::vec::Vec;

use crate::errno::Errno;

pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_PLATFORM: u64 = 15;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_RANDOM: u64 = 25;
pub const AT_HWCAP2: u64 = 26;
pub const AT_EXECFN: u64 = 31;
pub const AT_SYSINFO_EHDR: u64 = 33;
pub const AT_MINSIGSTKSZ: u64 = 51;

/// Linux's limit on the total size of argument and environment strings (a quarter of the
/// default 8 MiB stack limit).
pub const MAX_ARG_BYTES: usize = 2 << 20;
/// Linux's limit on one argument string.
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// What goes on the stack.
#[derive(Debug)]
pub struct StackImage<'a> {
    pub argv: &'a [&'a [u8]],
    pub envp: &'a [&'a [u8]],
    pub execfn: &'a [u8],
    pub platform: &'a [u8],
    pub random: [u8; 16],
    /// Auxiliary entries other than AT_RANDOM, AT_EXECFN, AT_PLATFORM and AT_NULL.
    pub auxv: &'a [(u64, u64)],
}

/// The bytes of [sp, top) and sp.
pub fn build(top: u64, img: &StackImage<'_>) -> Result<(Vec<u8>, u64), Errno> {
    let strings: usize = img.argv.iter().chain(img.envp).map(|s| s.len() + 1).sum();
    if strings > MAX_ARG_BYTES
        || img
            .argv
            .iter()
            .chain(img.envp)
            .any(|s| s.len() >= MAX_ARG_STRLEN)
    {
        return Err(Errno::E2BIG);
    }
    let mut pos = top - 8; // Linux leaves a zero word at the very top.
    pos -= img.execfn.len() as u64 + 1;
    let execfn_at = pos;
    pos -= strings as u64;
    let strings_at = pos;
    pos -= img.platform.len() as u64 + 1;
    let platform_at = pos;
    pos -= 16;
    let random_at = pos;
    pos &= !15;
    let auxv_len = img.auxv.len() + 4; // + RANDOM, EXECFN, PLATFORM, NULL
    let words = 1 + (img.argv.len() + 1) + (img.envp.len() + 1) + 2 * auxv_len;
    let sp = (pos - 8 * words as u64) & !15;

    let mut mem = vec![0u8; (top - sp) as usize];
    let mut put = |at: u64, bytes: &[u8]| {
        let o = (at - sp) as usize;
        mem[o..o + bytes.len()].copy_from_slice(bytes);
    };
    put(execfn_at, img.execfn);
    put(platform_at, img.platform);
    put(random_at, &img.random);
    let mut words_out: Vec<u64> = Vec::with_capacity(words);
    words_out.push(img.argv.len() as u64);
    let mut s = strings_at;
    let mut ptrs = |list: &[&[u8]], out: &mut Vec<u64>, put: &mut dyn FnMut(u64, &[u8])| {
        for item in list {
            out.push(s);
            put(s, item);
            s += item.len() as u64 + 1;
        }
        out.push(0);
    };
    ptrs(img.argv, &mut words_out, &mut put);
    ptrs(img.envp, &mut words_out, &mut put);
    for &(k, v) in img.auxv {
        words_out.extend([k, v]);
    }
    words_out.extend([
        AT_RANDOM,
        random_at,
        AT_EXECFN,
        execfn_at,
        AT_PLATFORM,
        platform_at,
        AT_NULL,
        0,
    ]);
    for (i, w) in words_out.iter().enumerate() {
        put(sp + 8 * i as u64, &w.to_le_bytes());
    }
    Ok((mem, sp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(mem: &[u8], sp: u64, at: u64) -> u64 {
        let o = (at - sp) as usize;
        u64::from_le_bytes(mem[o..o + 8].try_into().unwrap())
    }
    fn cstr(mem: &[u8], sp: u64, at: u64) -> &[u8] {
        let o = (at - sp) as usize;
        let end = mem[o..].iter().position(|&b| b == 0).unwrap();
        &mem[o..o + end]
    }

    #[test]
    fn layout_matches_linux() {
        let top = 0x7fff_ffff_f000;
        let img = StackImage {
            argv: &[b"prog", b"a b", b""],
            envp: &[b"PATH=/bin"],
            execfn: b"/prog",
            platform: b"x86_64",
            random: [7; 16],
            auxv: &[(AT_PAGESZ, 4096), (AT_ENTRY, 0x401000)],
        };
        let (mem, sp) = build(top, &img).unwrap();
        assert_eq!(sp % 16, 0);
        assert_eq!(sp + mem.len() as u64, top);
        assert_eq!(word(&mem, sp, sp), 3);
        assert_eq!(cstr(&mem, sp, word(&mem, sp, sp + 8)), b"prog");
        assert_eq!(cstr(&mem, sp, word(&mem, sp, sp + 16)), b"a b");
        assert_eq!(cstr(&mem, sp, word(&mem, sp, sp + 24)), b"");
        assert_eq!(word(&mem, sp, sp + 32), 0);
        assert_eq!(cstr(&mem, sp, word(&mem, sp, sp + 40)), b"PATH=/bin");
        assert_eq!(word(&mem, sp, sp + 48), 0);
        // argv strings lie below envp strings, the exec filename at the top.
        assert!(word(&mem, sp, sp + 8) < word(&mem, sp, sp + 40));
        let mut aux = std::collections::BTreeMap::new();
        let mut at = sp + 56;
        loop {
            let (k, v) = (word(&mem, sp, at), word(&mem, sp, at + 8));
            if k == AT_NULL {
                break;
            }
            aux.insert(k, v);
            at += 16;
        }
        assert_eq!(aux[&AT_PAGESZ], 4096);
        assert_eq!(cstr(&mem, sp, aux[&AT_EXECFN]), b"/prog");
        assert_eq!(aux[&AT_EXECFN] + 6, top - 8);
        assert_eq!(cstr(&mem, sp, aux[&AT_PLATFORM]), b"x86_64");
        let r = (aux[&AT_RANDOM] - sp) as usize;
        assert_eq!(&mem[r..r + 16], &[7; 16]);
    }

    #[test]
    fn oversized_arguments_are_e2big() {
        let big = vec![b'x'; MAX_ARG_STRLEN];
        let img = StackImage {
            argv: &[&big],
            envp: &[],
            execfn: b"/p",
            platform: b"x86_64",
            random: [0; 16],
            auxv: &[],
        };
        assert_eq!(build(0x7fff_ffff_f000, &img).unwrap_err(), Errno::E2BIG);
    }
}
