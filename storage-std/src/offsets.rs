//! Named consumer offsets, committed durably: written to a temporary file, synced,
//! renamed over the previous one, and the directory synced.

use std::sync::Arc;

use crate::backend::{Backend, FileBackend, SyncKind, WriteGroup};
use crate::clock::now_ns;
use crate::error::{Error, OpCtx, Result};
use crate::format::{self, ConsumerOffset, valid_consumer_name};

/// The consumer offsets of a log directory.
///
/// An offset is the *next* sequence a consumer will read: commit
/// [`Cursor::next_seq`](crate::Cursor::next_seq) after processing what came before it.
/// A crash between processing and committing replays those records (at least once);
/// no order of crashes skips one. Each commit is durable when it returns (written to a
/// temporary file, synced, renamed over the old one, directory synced), so a reader
/// never sees a torn offset. Retention can keep what a named consumer has not read
/// ([`crate::KeepUnread`]).
///
/// ```
/// use storage_std::{Durability, LogReader, OffsetStore, Writer, WriterOptions};
/// let dir = tempfile::tempdir().unwrap();
/// let w: Writer = Writer::open(dir.path(), WriterOptions::new(Durability::Sync)).unwrap();
/// for i in 0..5u8 {
///     w.append(&[i]).unwrap();
/// }
/// w.close().unwrap();
/// let offsets = OffsetStore::open(dir.path()).unwrap();
/// let reader = LogReader::open(dir.path()).unwrap();
/// // A consumer that never committed starts at the oldest record.
/// let mut c = reader.resume("billing").unwrap();
/// for _ in 0..3 {
///     c.next().unwrap().unwrap(); // process it
/// }
/// offsets.commit("billing", c.next_seq()).unwrap();
/// drop(c);
/// let mut c = reader.resume("billing").unwrap();
/// assert_eq!(c.next().unwrap().unwrap().seq(), 3);
/// assert_eq!(offsets.get("billing").unwrap().unwrap().next_seq, 3);
/// assert!(offsets.get("audit").unwrap().is_none());
/// assert!(offsets.commit("no/slash", 0).is_err(), "a name is 1 to 64 of [A-Za-z0-9_-]");
/// ```
#[derive(Clone)]
pub struct OffsetStore {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for OffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetStore")
            .field("backend", &self.backend)
            .finish()
    }
}

/// A borrowed store for crate-internal use.
pub(crate) struct DynStore<'a>(&'a dyn Backend);

impl OffsetStore {
    /// The offsets of the log in `dir` (real files).
    pub fn open(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let b =
            FileBackend::new(dir).map_err(|e| Error::io("open", dir.display().to_string(), e))?;
        Ok(Self::new(Arc::new(b)))
    }

    /// The offsets on any backend.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    pub(crate) fn new_dyn(backend: &dyn Backend) -> DynStore<'_> {
        DynStore(backend)
    }

    /// Durably records that consumer `name` has read everything below `next_seq`.
    pub fn commit(&self, name: &str, next_seq: u64) -> Result<()> {
        commit(&*self.backend, name, next_seq)
    }

    /// The committed offset of `name`, if any.
    pub fn get(&self, name: &str) -> Result<Option<ConsumerOffset>> {
        get(&*self.backend, name)
    }

    /// Every committed offset.
    pub fn list(&self) -> Result<Vec<ConsumerOffset>> {
        list(&*self.backend)
    }

    /// Removes a consumer's offset; returns whether it existed.
    pub fn remove(&self, name: &str) -> Result<bool> {
        check_name(name)?;
        let file = format::offset_name(name);
        match self.backend.remove(&file) {
            Ok(()) => {
                self.backend.sync_dir().op("sync_dir", "log directory")?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", file, e)),
        }
    }
}

impl DynStore<'_> {
    pub(crate) fn get(&self, name: &str) -> Result<Option<ConsumerOffset>> {
        get(self.0, name)
    }
    pub(crate) fn list(&self) -> Result<Vec<ConsumerOffset>> {
        list(self.0)
    }
}

fn check_name(name: &str) -> Result<()> {
    if valid_consumer_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "consumer name {name:?} must be 1 to 64 of [A-Za-z0-9_-]"
        )))
    }
}

fn commit(backend: &dyn Backend, name: &str, next_seq: u64) -> Result<()> {
    check_name(name)?;
    let file = format::offset_name(name);
    let tmp = format!("{file}{}", format::TMP_SUFFIX);
    let bytes = ConsumerOffset {
        name: name.to_owned(),
        next_seq,
        committed_ns: now_ns(),
    }
    .encode();
    let mut f = match backend.create(&tmp) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Left by an interrupted commit.
            backend.remove(&tmp).op("remove", &tmp)?;
            backend.create(&tmp).op("create", &tmp)?
        }
        Err(e) => return Err(Error::io("create", tmp, e)),
    };
    f.write_group(&WriteGroup {
        offset: 0,
        bufs: &[&bytes],
        sync: SyncKind::All,
    })
    .op("write", &tmp)?;
    drop(f);
    backend.rename(&tmp, &file).op("rename", &tmp)?;
    backend.sync_dir().op("sync_dir", "log directory")?;
    Ok(())
}

fn get(backend: &dyn Backend, name: &str) -> Result<Option<ConsumerOffset>> {
    check_name(name)?;
    let file = format::offset_name(name);
    let bytes = match backend.read_all(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", file, e)),
    };
    let o = ConsumerOffset::decode(&bytes).map_err(|e| Error::Corrupt {
        file: file.clone(),
        offset: 0,
        detail: e.to_string(),
    })?;
    if o.name != name {
        return Err(Error::Corrupt {
            file,
            offset: 0,
            detail: format!("holds the offset of {:?}", o.name),
        });
    }
    Ok(Some(o))
}

fn list(backend: &dyn Backend) -> Result<Vec<ConsumerOffset>> {
    let names = backend
        .list()
        .map_err(|e| Error::io("list", "log directory", e))?;
    let mut out = Vec::new();
    for n in names {
        if let Some(c) = format::parse_offset_name(&n)
            && let Some(o) = get(backend, c)?
        {
            out.push(o);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
