//! The one place this crate maps files into memory.
//!
//! A mapping is only sound while no one shrinks the file: a read past the new end would
//! raise `SIGBUS`, and a concurrent write would change bytes a `&[u8]` promises are
//! fixed. The log guarantees both for what it maps:
//!
//! * only *sealed* segments are mapped by readers, and sealed segments are never written
//!   again nor truncated in place (a forced cut of a sealed segment writes a new file and
//!   renames it over the old one, so existing mappings keep the old inode);
//! * the active segment is mapped only by recovery and the verifier-with-lock, while the
//!   caller holds the directory's writer lock, so no writer can touch it.
//!
//! Outside processes that modify segment files break this assumption; the log's
//! directory belongs to the log.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::Arc;

use super::Mapped;

struct MapBytes(memmap2::Mmap);

impl AsRef<[u8]> for MapBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Maps a whole file read-only. An empty file maps to an empty slice (`mmap` of length
/// zero is an error on Linux).
pub(crate) fn map_file(file: &File) -> io::Result<Mapped> {
    if file.metadata()?.len() == 0 {
        return Ok(Mapped::new(Arc::new(Vec::<u8>::new())));
    }
    // SAFETY: the mapping is read-only and private to this process's view; the module
    // docs state why the mapped files are neither shrunk nor modified while mapped
    // (sealed segments are immutable; the active one is mapped only under the writer
    // lock). memmap2 keeps the mapping valid until the `Mmap` is dropped, and `Mapped`
    // owns it behind an `Arc`, so every `&[u8]` borrowed from it ends before the unmap.
    let map = unsafe { memmap2::MmapOptions::new().map(file)? };
    #[cfg(unix)]
    {
        // Sequential readahead helps replay; failure to advise is harmless.
        let _ = map.advise(memmap2::Advice::Sequential);
    }
    Ok(Mapped::new(Arc::new(MapBytes(map))))
}
