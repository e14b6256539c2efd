//! The guest's tree at boot: `/` (in memory, or the `--root` overlay), `/tmp`, `/dev`,
//! `/proc`, and the policy's host directories from the boot info's mount records.
use alloc::sync::Arc;
use alloc::vec::Vec;

use hull_arch::abi::{MOUNT_READONLY, MOUNT_RECORD_HEADER, MOUNT_ROOT_LOWER};

#[cfg(test)]
use super::memfs::mode;
use super::memfs::{Budget, Creator, DirEntries, MemBody, MemNode};
use super::{Fs, Mount, Vfs, devfs, path};

/// A host directory as the boot info lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostMount {
    pub id: u32,
    pub flags: u32,
    pub path: Vec<u8>,
}

/// Decodes the mount records; `None` if the blob is malformed.
pub fn parse_mounts(blob: &[u8], count: usize) -> Option<Vec<HostMount>> {
    let mut out = Vec::new();
    let mut at = 0;
    for _ in 0..count {
        let head = blob.get(at..at + MOUNT_RECORD_HEADER)?;
        let word =
            |i: usize| u32::from_le_bytes(head[4 * i..4 * i + 4].try_into().expect("4 bytes"));
        let len = word(2) as usize;
        let p = blob.get(at + MOUNT_RECORD_HEADER..at + MOUNT_RECORD_HEADER + len)?;
        if p.first() != Some(&b'/') || p.contains(&0) {
            return None;
        }
        out.push(HostMount {
            id: word(0),
            flags: word(1),
            path: p.to_vec(),
        });
        at += MOUNT_RECORD_HEADER + len;
    }
    Some(out)
}

fn dir(ino: u64, perm: u32, who: Creator, opaque: bool) -> Arc<MemNode> {
    let entries = DirEntries::new(opaque);
    MemNode::new(ino, perm, MemBody::Dir(spin::Mutex::new(entries)), who)
}

/// Builds the mount table; `ino` hands out inode numbers.
pub fn build(
    hosts: &[HostMount],
    tmpfs_limit: u64,
    who: Creator,
    ino: &mut impl FnMut() -> u64,
) -> Vfs {
    let budget = Budget::new(tmpfs_limit);
    let mut mounts = Vec::new();
    let lower_root = hosts.iter().find(|m| m.flags & MOUNT_ROOT_LOWER != 0);
    let root_fs = match lower_root {
        Some(m) => Fs::Overlay {
            lower: m.id,
            upper: dir(ino(), 0o755, who, false),
        },
        None => {
            let root = dir(ino(), 0o755, who, true);
            // Mount points exist as directories, so `ls /` shows them.
            let mut wanted: Vec<&[u8]> = alloc::vec![b"/tmp", b"/dev", b"/proc"];
            wanted.extend(hosts.iter().map(|m| m.path.as_slice()));
            for p in wanted {
                let mut d = root.clone();
                for c in path::components(p) {
                    let next = d.dir().expect("a directory").get(c).cloned();
                    d = match next {
                        Some(n) => n,
                        None => {
                            let n = dir(ino(), 0o755, who, true);
                            d.dir().expect("a directory").insert(c, n.clone());
                            d.meta.lock().nlink += 1;
                            n
                        }
                    };
                }
            }
            Fs::Mem(root)
        }
    };
    mounts.push(Mount {
        path: b"/".to_vec(),
        fs: root_fs,
        readonly: false,
        dev: 0x1f,
    });
    mounts.push(Mount {
        path: b"/dev".to_vec(),
        fs: Fs::Mem(devfs::build(who, ino)),
        readonly: false,
        dev: 0x05,
    });
    mounts.push(Mount {
        path: b"/proc".to_vec(),
        fs: Fs::Proc,
        readonly: false,
        dev: 0x16,
    });
    mounts.push(Mount {
        path: b"/tmp".to_vec(),
        fs: Fs::Mem(dir(ino(), 0o1777, who, true)),
        readonly: false,
        dev: 0x20,
    });
    let mut rest: Vec<&HostMount> = hosts
        .iter()
        .filter(|m| m.flags & MOUNT_ROOT_LOWER == 0)
        .collect();
    rest.sort_by_key(|m| m.path.len());
    for (i, m) in rest.into_iter().enumerate() {
        mounts.push(Mount {
            path: m.path.clone(),
            fs: Fs::Host { id: m.id },
            readonly: m.flags & MOUNT_READONLY != 0,
            dev: 0x100 + i as u64,
        });
    }
    Vfs { mounts, budget }
}

/// Places the first program (its bytes at guest-physical `image`) at its host path
/// `exe` in the sandbox's tree, read-only, with the directories on the way, so that a
/// program can find and exec itself by that path (as Rust's Command, Go's os/exec and
/// tokio do through /proc/self/exe). Only in-memory file systems get it: under a host
/// mount the path is the mount's own file, and nothing is added under /proc or the
/// --root overlay. Returns whether it was added.
pub fn add_program(
    vfs: &Vfs,
    exe: &[u8],
    image: (u64, u64),
    who: Creator,
    ino: &mut impl FnMut() -> u64,
) -> bool {
    if exe.first() != Some(&b'/') || path::file_name(exe).is_empty() {
        return false;
    }
    let m = &vfs.mounts[vfs.mount_of(exe)];
    let Fs::Mem(root) = &m.fs else {
        return false;
    };
    let rel = path::strip_mount(exe, &m.path);
    let names: Vec<&[u8]> = path::components(rel).collect();
    let Some((file, dirs)) = names.split_last() else {
        return false;
    };
    let mut d = root.clone();
    for c in dirs {
        let next = match d.dir() {
            Ok(entries) => entries.get(c).cloned(),
            Err(_) => return false,
        };
        d = match next {
            Some(n) if n.is_dir() => n,
            Some(_) => return false,
            None => {
                let n = dir(ino(), 0o755, who, true);
                let Ok(mut entries) = d.dir() else {
                    return false;
                };
                entries.insert(c, n.clone());
                d.meta.lock().nlink += 1;
                n
            }
        };
    }
    let Ok(mut entries) = d.dir() else {
        return false;
    };
    if entries.get(file).is_some() {
        return false;
    }
    entries.insert(
        file,
        MemNode::new(ino(), 0o755, MemBody::Image(image.0, image.1), who),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_and_mount_points_appear() {
        let mut blob = Vec::new();
        for (id, flags, p) in [(0u32, 1u32, "/data/in"), (1, 0, "/out")] {
            blob.extend_from_slice(&id.to_le_bytes());
            blob.extend_from_slice(&flags.to_le_bytes());
            blob.extend_from_slice(&(p.len() as u32).to_le_bytes());
            blob.extend_from_slice(p.as_bytes());
        }
        let hosts = parse_mounts(&blob, 2).unwrap();
        assert_eq!(hosts[0].path, b"/data/in");
        assert!(parse_mounts(&blob[..blob.len() - 1], 2).is_none());
        assert!(parse_mounts(&blob, 3).is_none());
        let who = Creator {
            uid: 0,
            gid: 0,
            now: [0, 0],
        };
        let mut n = 0;
        let vfs = build(&hosts, 1 << 20, who, &mut || {
            n += 1;
            n
        });
        assert_eq!(
            vfs.mount_of(b"/data/in/x"),
            vfs.mounts
                .iter()
                .position(|m| m.path == b"/data/in")
                .unwrap()
        );
        assert!(
            vfs.mounts
                .iter()
                .any(|m| m.path == b"/data/in" && m.readonly)
        );
        let Fs::Mem(root) = &vfs.mounts[0].fs else {
            panic!()
        };
        assert!(
            root.dir().unwrap().get(b"data").is_some(),
            "mount point directories exist"
        );
    }

    #[test]
    fn the_program_appears_at_its_path_in_memory_file_systems_only() {
        let who = Creator {
            uid: 0,
            gid: 0,
            now: [0, 0],
        };
        let hosts = [HostMount {
            id: 0,
            flags: 0,
            path: b"/data".to_vec(),
        }];
        let mut n = 0;
        let mut ino = || {
            n += 1;
            n
        };
        let vfs = build(&hosts, 1 << 20, who, &mut ino);
        assert!(add_program(
            &vfs,
            b"/home/u/bin/prog",
            (0x1000, 77),
            who,
            &mut ino
        ));
        let Fs::Mem(root) = &vfs.mounts[0].fs else {
            panic!()
        };
        let mut d = root.clone();
        for c in [&b"home"[..], b"u", b"bin"] {
            let next = d.dir().unwrap().get(c).cloned().unwrap();
            d = next;
        }
        let prog = d.dir().unwrap().get(b"prog").cloned().unwrap();
        assert!(matches!(prog.body, MemBody::Image(0x1000, 77)));
        assert_eq!(prog.stat(0).size, 77);
        assert_eq!(prog.stat(0).mode & mode::S_IFMT, mode::S_IFREG);
        // Twice: the name is taken.
        assert!(!add_program(
            &vfs,
            b"/home/u/bin/prog",
            (0x1000, 77),
            who,
            &mut ino
        ));
        // Under /tmp (an in-memory mount) it goes into that file system.
        assert!(add_program(
            &vfs,
            b"/tmp/x/prog",
            (0x1000, 77),
            who,
            &mut ino
        ));
        // Not under a host mount, /proc, or without a name.
        assert!(!add_program(
            &vfs,
            b"/data/prog",
            (0x1000, 77),
            who,
            &mut ino
        ));
        assert!(!add_program(
            &vfs,
            b"/proc/prog",
            (0x1000, 77),
            who,
            &mut ino
        ));
        assert!(!add_program(&vfs, b"relative", (0x1000, 77), who, &mut ino));
    }
}
