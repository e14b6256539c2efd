//! Byte-string path helpers for canonical paths (absolute, single `/`, no `.`/`..`).
use alloc::vec::Vec;

/// Longest path Linux accepts, including the NUL.
pub const PATH_MAX: usize = 4096;
/// Longest single name.
pub const NAME_MAX: usize = 255;

/// The non-empty components of `path`.
pub fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

/// `base/name` for canonical `base`.
pub fn join(base: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(base.len() + 1 + name.len());
    p.extend_from_slice(base);
    if base != b"/" {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// `rel/name` for a mount-relative path (empty = the mount root).
pub fn rel_join(rel: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(rel.len() + 1 + name.len());
    p.extend_from_slice(rel);
    if !rel.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// The parent of canonical `path` (`/` for `/`).
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &path[..i],
    }
}

/// The last component of canonical `path` (empty for `/`).
pub fn file_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Whether canonical `path` is `prefix` or beneath it.
pub fn is_within(path: &[u8], prefix: &[u8]) -> bool {
    prefix == b"/"
        || path == prefix
        || (path.len() > prefix.len() && path.starts_with(prefix) && path[prefix.len()] == b'/')
}

/// `path` relative to the mount point `mount` (no leading `/`; empty for the mount root).
pub fn strip_mount<'a>(path: &'a [u8], mount: &[u8]) -> &'a [u8] {
    let rest = if mount == b"/" {
        path
    } else {
        &path[mount.len().min(path.len())..]
    };
    let mut rest = rest;
    while let [b'/', tail @ ..] = rest {
        rest = tail;
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(join(b"/", b"a"), b"/a");
        assert_eq!(join(b"/a", b"b"), b"/a/b");
        assert_eq!(rel_join(b"", b"a"), b"a");
        assert_eq!(rel_join(b"a", b"b"), b"a/b");
        assert_eq!(parent(b"/a/b"), b"/a");
        assert_eq!(parent(b"/a"), b"/");
        assert_eq!(parent(b"/"), b"/");
        assert_eq!(file_name(b"/a/b"), b"b");
        assert!(is_within(b"/data/x", b"/data"));
        assert!(!is_within(b"/database", b"/data"));
        assert!(is_within(b"/x", b"/"));
        assert_eq!(strip_mount(b"/data/x/y", b"/data"), b"x/y");
        assert_eq!(strip_mount(b"/data", b"/data"), b"");
        assert_eq!(strip_mount(b"/etc/x", b"/"), b"etc/x");
        let c: Vec<&[u8]> = components(b"//a//b/").collect();
        assert_eq!(c, [b"a".as_slice(), b"b"]);
    }
}
