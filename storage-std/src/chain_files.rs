//! The digest chain in the files: where a segment's chain starts (the previous sealed
//! footer, or the front a retention or tier cut recorded), and rebuilding a running
//! segment's hash (a writer continuing a segment, recovery sealing one). Below the
//! verifier and recovery, which both use it; the verifier's pass is `verify::chain`.

use std::io;

use crate::backend::{Access, Backend, BackendFile, read_full_at};
use crate::format::chain::{
    CHAIN_START, ChainDigest, ChainFront, DIGEST_KIND_CHAIN, SegmentChain, front, split_area,
};
use crate::format::{self, SEGMENT_HEADER_LEN};
use crate::segment::{ActiveSeg, read_footer};

/// Bytes read per call while hashing.
pub(crate) const CHUNK: usize = 1 << 20;

/// Hashes `[from, to)` of `file` into `chain`.
pub(crate) fn hash_range(
    file: &dyn BackendFile,
    chain: &mut SegmentChain,
    from: u64,
    to: u64,
) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut pos = from;
    while pos < to {
        let want = usize::try_from(to - pos).unwrap_or(CHUNK).min(CHUNK);
        let n = read_full_at(file, pos, &mut buf[..want])?;
        if n < want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("file ends at {} while hashing to {to}", pos + n as u64),
            ));
        }
        chain.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(())
}

/// The chain-front file: `Ok(None)` when there is none, `Ok(Some(Err(why)))` when it
/// does not decode.
pub(crate) fn read_front(backend: &dyn Backend) -> io::Result<Option<Result<ChainFront, String>>> {
    let f = match backend.open(format::CHAIN_FRONT_FILE, Access::Read) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // Never more than one file's worth plus a byte: a huge file is damage, not a read
    // of all of it into memory.
    let mut b = [0u8; front::LEN + 1];
    let n = read_full_at(&*f, 0, &mut b)?;
    if n > front::LEN {
        let len = f.len()?;
        return Ok(Some(Err(format!("{len} bytes, not {}", front::LEN))));
    }
    Ok(Some(ChainFront::decode(&b[..n]).map_err(|e| e.to_string())))
}

/// Records where the chain continues after the front of a log was cut (retention,
/// tiering, a restore of a cold tier whose front was cut): the segment at
/// `seq` starts from `digest`. Written atomically (temporary file, sync, rename,
/// directory sync) before the segments in front of it are removed.
pub fn write_chain_front(backend: &dyn Backend, front: ChainFront) -> io::Result<()> {
    let tmp = format!("{}{}", format::CHAIN_FRONT_FILE, format::TMP_SUFFIX);
    {
        let mut f = backend.create(&tmp)?;
        f.set_len(0)?;
        crate::backend::write_at(&mut *f, 0, &front.encode())?;
        f.sync(crate::backend::SyncKind::All)?;
    }
    backend.rename(&tmp, format::CHAIN_FRONT_FILE)?;
    backend.sync_dir()
}

/// Records the chain's front as it will stand once sealed segment `base`, the first of
/// the log, is removed (retention, tiering): the next segment then starts from `base`'s
/// digest. Does nothing for a segment without a chain digest (the next one then starts
/// a chain of its own) or without a valid footer. Call it before removing the segment.
///
/// ```
/// use storage_std::{record_chain_front, verify, Durability, VerifyStatus, Writer, WriterOptions};
/// use storage_std::backend::{Backend, MemBackend};
/// use storage_std::format::segment_name;
/// use std::sync::Arc;
/// let b: Arc<dyn Backend> = Arc::new(MemBackend::new());
/// let o = WriterOptions::new(Durability::Sync).with_segment_bytes(4096);
/// let w: Writer = Writer::open_with(b.clone(), o).unwrap();
/// for _ in 0..200 { w.append(&[7; 100]).unwrap(); }
/// w.close().unwrap();
/// record_chain_front(&*b, 0).unwrap();
/// b.remove(&segment_name(0)).unwrap();
/// assert_eq!(verify(&b).unwrap().status, VerifyStatus::Clean);
/// ```
pub fn record_chain_front(backend: &dyn Backend, base: u64) -> io::Result<()> {
    let f = backend.open(&format::segment_name(base), Access::Read)?;
    let len = f.len()?;
    let Ok(footer) = read_footer(&*f, len, base)? else {
        return Ok(());
    };
    if footer.digest_kind != DIGEST_KIND_CHAIN {
        return Ok(());
    }
    write_chain_front(
        backend,
        ChainFront {
            seq: footer.last_seq.wrapping_add(1),
            digest: split_area(&footer.digest).1,
        },
    )
}

/// The chain digest of the sealed segment `base` (`None`: unchained or no valid footer).
pub(crate) fn sealed_digest(backend: &dyn Backend, base: u64) -> io::Result<Option<ChainDigest>> {
    let f = backend.open(&format::segment_name(base), Access::Read)?;
    let len = f.len()?;
    Ok(read_footer(&*f, len, base)?
        .ok()
        .filter(|f| f.digest_kind == DIGEST_KIND_CHAIN)
        .map(|f| split_area(&f.digest).1))
}

/// The `prev` a new chained segment at `base` starts from: the digest of the segment
/// before it; [`CHAIN_START`] when that one carries none (a new chain begins); the
/// recorded front when the segments before it were cut away.
pub(crate) fn prev_for(backend: &dyn Backend, base: u64) -> io::Result<ChainDigest> {
    let listing = crate::segment::list(backend).map_err(io::Error::other)?;
    if let Some(&before) = listing.segments.iter().rev().find(|&&b| b < base) {
        return Ok(sealed_digest(backend, before)?.unwrap_or(CHAIN_START));
    }
    Ok(match read_front(backend)? {
        Some(Ok(f)) if f.seq == base => f.digest,
        _ => CHAIN_START,
    })
}

/// The running chain of an active segment as it stands (its records up to `a.pos`
/// hashed), for a writer that continues it or a recovery that seals it.
pub(crate) fn resume(backend: &dyn Backend, a: &ActiveSeg) -> io::Result<Option<SegmentChain>> {
    if a.version < format::chain::CHAIN_MIN_VERSION {
        return Ok(None);
    }
    let mut c = SegmentChain::new(prev_for(backend, a.base())?, a.base());
    hash_range(&*a.file, &mut c, SEGMENT_HEADER_LEN as u64, a.pos)?;
    Ok(Some(c))
}
