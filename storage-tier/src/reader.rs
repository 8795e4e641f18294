//! [`ColdReader`]: the cold tier of one log read through its manifest, frame by frame
//! on demand (ranged GETs), through a local cache with a byte budget. Implements
//! [`ColdSegmentSource`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ringcore::frame::FrameHeader;
use storage_std::Start;
use storage_std::format::{RecordRef, decode_record, disk_record_len};

use crate::cache::FrameCache;
use crate::codec::{CODEC_LZ4, CODEC_ZSTD};
use crate::cold::{ColdCursor, ColdError, ColdErrorKind, ColdSegment, ColdSegmentSource};
use crate::error::{Result, TierError};
use crate::manifest::{ColdEntry, TierManifest};
use crate::object::{self, FrameEntry, IndexExpect};
use crate::store::{Store, StoreConfig, StoreCounters};
use crate::tierer::{TIER_DIR, error_chain, read_bucket_manifest, read_local_manifest};

/// Where fetched frames are cached and how much they may take.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheOptions {
    /// The cache folder; `None`: no cache (each cursor keeps its current frame only).
    pub dir: Option<PathBuf>,
    /// The byte budget (default 256 MiB).
    pub max_bytes: u64,
}

impl CacheOptions {
    /// A cache in `dir` with the default budget.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
            max_bytes: 256 << 20,
        }
    }

    /// No cache.
    pub fn none() -> Self {
        Self {
            dir: None,
            max_bytes: 0,
        }
    }

    /// Sets the budget.
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }
}

/// What the reader fetched and found in its cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    /// Frames fetched from the store (ranged GETs).
    pub frame_fetches: u64,
    /// Frame indexes fetched from the store (ranged GETs).
    pub index_fetches: u64,
    /// Frames or indexes served from the local cache.
    pub cache_hits: u64,
    /// Cached files that failed their checksum and were fetched again.
    pub cache_rejects: u64,
    /// Bytes fetched from the store.
    pub fetched_bytes: u64,
    /// Bytes in the cache now.
    pub cache_bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    frame_fetches: AtomicU64,
    index_fetches: AtomicU64,
    cache_hits: AtomicU64,
    cache_rejects: AtomicU64,
    fetched_bytes: AtomicU64,
}

#[derive(Debug)]
enum ManifestSource {
    Local(PathBuf),
    Bucket,
}

/// Frame indexes by (base sequence, object CRC).
type IndexMap = HashMap<(u64, u32), Arc<Vec<FrameEntry>>>;

#[derive(Debug)]
struct Inner {
    store: Store,
    source: ManifestSource,
    manifest: RwLock<TierManifest>,
    cache: FrameCache,
    indexes: Mutex<IndexMap>,
    counters: Counters,
}

/// Reads the cold tier of one log. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct ColdReader {
    inner: Arc<Inner>,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl From<TierError> for ColdError {
    fn from(e: TierError) -> Self {
        let kind = match &e {
            TierError::Corrupt { .. } => ColdErrorKind::Corrupt,
            TierError::NotFound(_) => ColdErrorKind::NotFound,
            _ if e.is_not_found() => ColdErrorKind::NotFound,
            TierError::Store { .. } if e.is_retryable() => ColdErrorKind::Unavailable,
            _ => ColdErrorKind::Other,
        };
        ColdError::new(kind, error_chain(&e))
    }
}

impl ColdReader {
    /// The cold tier of the log in `dir`, as its local manifest says (a directory
    /// without one has no cold segments). The cache defaults to `DIR/tier/cache`.
    pub fn open(
        dir: impl AsRef<Path>,
        store: &StoreConfig,
        cache: Option<CacheOptions>,
    ) -> Result<Self> {
        let dir = dir.as_ref();
        let manifest =
            read_local_manifest(dir)?.unwrap_or_else(|| TierManifest::new(String::new()));
        let cache = cache.unwrap_or_else(|| CacheOptions::in_dir(dir.join(TIER_DIR).join("cache")));
        Self::build(
            store,
            ManifestSource::Local(dir.to_path_buf()),
            manifest,
            &cache,
        )
    }

    /// The cold tier as the bucket's manifest says (no local directory needed).
    pub fn from_bucket(store: &StoreConfig, cache: &CacheOptions) -> Result<Self> {
        let s = store.open()?;
        let manifest = read_bucket_manifest(&s)?
            .ok_or_else(|| TierError::NotFound(format!("no tier manifest in {}", s.url())))?;
        Self::build_with(s, ManifestSource::Bucket, manifest, cache)
    }

    fn build(
        store: &StoreConfig,
        source: ManifestSource,
        manifest: TierManifest,
        cache: &CacheOptions,
    ) -> Result<Self> {
        Self::build_with(store.open()?, source, manifest, cache)
    }

    fn build_with(
        store: Store,
        source: ManifestSource,
        manifest: TierManifest,
        cache: &CacheOptions,
    ) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                source,
                manifest: RwLock::new(manifest),
                cache: FrameCache::open(cache.dir.as_deref(), cache.max_bytes)?,
                indexes: Mutex::default(),
                counters: Counters::default(),
            }),
        })
    }

    /// Reloads the manifest (after a tiering pass or cold retention).
    pub fn refresh(&self) -> Result<()> {
        let m = match &self.inner.source {
            ManifestSource::Local(d) => {
                read_local_manifest(d)?.unwrap_or_else(|| TierManifest::new(String::new()))
            }
            ManifestSource::Bucket => read_bucket_manifest(&self.inner.store)?
                .ok_or_else(|| TierError::NotFound("the bucket's tier manifest is gone".into()))?,
        };
        *self
            .inner
            .manifest
            .write()
            .unwrap_or_else(|e| e.into_inner()) = m;
        Ok(())
    }

    /// A copy of the manifest in use.
    pub fn manifest(&self) -> TierManifest {
        self.inner
            .manifest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn entry(&self, base: u64) -> Result<ColdEntry> {
        let m = self
            .inner
            .manifest
            .read()
            .unwrap_or_else(|e| e.into_inner());
        m.entry(base)
            .cloned()
            .ok_or_else(|| TierError::NotFound(format!("no cold segment starts at {base}")))
    }

    /// What was fetched and cached so far.
    pub fn read_stats(&self) -> ReadStats {
        let c = &self.inner.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReadStats {
            frame_fetches: l(&c.frame_fetches),
            index_fetches: l(&c.index_fetches),
            cache_hits: l(&c.cache_hits),
            cache_rejects: l(&c.cache_rejects),
            fetched_bytes: l(&c.fetched_bytes),
            cache_bytes: self.inner.cache.bytes(),
        }
    }

    /// Requests sent to the store so far.
    pub fn store_counters(&self) -> StoreCounters {
        self.inner.store.counters()
    }

    /// Downloads segment `base` whole, checks everything (object checksum, header,
    /// index, every frame and record) and returns the original segment file's bytes.
    pub fn fetch_segment(&self, base: u64) -> Result<Vec<u8>> {
        let e = self.entry(base)?;
        let obj = self.inner.store.get(&e.key)?;
        bump(&self.inner.counters.fetched_bytes, obj.len() as u64);
        let what = format!("{}/{}", self.inner.store.url(), e.key);
        if obj.len() as u64 != e.object_bytes {
            return Err(TierError::corrupt(
                what,
                format!(
                    "object of {} bytes, the manifest says {}",
                    obj.len(),
                    e.object_bytes
                ),
            ));
        }
        let d = object::decode_object(&obj, e.object_crc32c)
            .map_err(|d| TierError::corrupt(&what, d))?;
        if crc32c::crc32c(&d.segment) != e.segment_crc32c
            || d.segment.len() as u64 != e.segment_bytes
        {
            return Err(TierError::corrupt(
                what,
                "rebuilt segment does not match the manifest",
            ));
        }
        Ok(d.segment)
    }

    /// Checks every cold segment whole (what `verify` of the cold tier runs); returns
    /// the findings, empty when all are clean.
    pub fn verify_all(&self) -> Vec<(u64, TierError)> {
        let bases: Vec<u64> = self
            .manifest()
            .segments
            .iter()
            .map(|e| e.base_seq)
            .collect();
        bases
            .into_iter()
            .filter_map(|b| self.fetch_segment(b).err().map(|e| (b, e)))
            .collect()
    }

    fn index(&self, e: &ColdEntry) -> Result<Arc<Vec<FrameEntry>>> {
        let k = (e.base_seq, e.object_crc32c);
        if let Some(i) = self
            .inner
            .indexes
            .lock()
            .unwrap_or_else(|x| x.into_inner())
            .get(&k)
        {
            return Ok(i.clone());
        }
        let x = IndexExpect {
            base_seq: e.base_seq,
            record_count: e.record_count,
            records_end: e.records_end,
            frame_count: e.frame_count,
            index_offset: e.index_offset,
            index_crc: e.index_crc32c,
        };
        let name = format!("{:020}-{:08x}.index", e.base_seq, e.object_crc32c);
        let c = &self.inner.counters;
        let mut idx = None;
        if let Some(b) = self.inner.cache.get(&name) {
            match object::decode_index(&b, &x) {
                Ok(v) => {
                    bump(&c.cache_hits, 1);
                    idx = Some(v);
                }
                Err(_) => {
                    bump(&c.cache_rejects, 1);
                    self.inner.cache.remove(&name);
                }
            }
        }
        let idx = match idx {
            Some(v) => v,
            None => {
                let r = e.index_offset..e.index_offset + e.index_len;
                let b = self.inner.store.get_range(&e.key, r)?;
                bump(&c.index_fetches, 1);
                bump(&c.fetched_bytes, b.len() as u64);
                let what = format!("{}/{} (frame index)", self.inner.store.url(), e.key);
                let v = object::decode_index(&b, &x).map_err(|d| TierError::corrupt(what, d))?;
                self.inner.cache.put(&name, &b);
                v
            }
        };
        let idx = Arc::new(idx);
        self.inner
            .indexes
            .lock()
            .unwrap_or_else(|x| x.into_inner())
            .insert(k, idx.clone());
        Ok(idx)
    }

    /// Frame `n` of a segment, checked and decompressed.
    fn frame(&self, e: &ColdEntry, codec: u32, f: &FrameEntry, n: usize) -> Result<Vec<u8>> {
        let name = format!("{:020}-{:08x}-{n:06}.frame", e.base_seq, e.object_crc32c);
        let c = &self.inner.counters;
        if let Some(b) = self.inner.cache.get(&name) {
            match object::decode_frame(codec, f, &b) {
                Ok(raw) => {
                    bump(&c.cache_hits, 1);
                    return Ok(raw);
                }
                Err(_) => {
                    bump(&c.cache_rejects, 1);
                    self.inner.cache.remove(&name);
                }
            }
        }
        let b = self.inner.store.get_range(&e.key, f.comp_range())?;
        bump(&c.frame_fetches, 1);
        bump(&c.fetched_bytes, b.len() as u64);
        let what = format!(
            "{}/{} (frame {n}, sequences {}..={})",
            self.inner.store.url(),
            e.key,
            f.first_seq,
            f.last_seq()
        );
        let raw = object::decode_frame(codec, f, &b).map_err(|d| TierError::corrupt(what, d))?;
        self.inner.cache.put(&name, &b);
        Ok(raw)
    }

    fn cursor(&self, base: u64, start: Start) -> Result<SegmentCursor> {
        let e = self.entry(base)?;
        let codec = match e.codec.as_str() {
            "zstd" => CODEC_ZSTD,
            "lz4" => CODEC_LZ4,
            other => {
                return Err(TierError::Config(format!(
                    "segment {base}: unknown codec {other:?}"
                )));
            }
        };
        let index = self.index(&e)?;
        let (frame_no, skip) = match start {
            Start::Oldest => (0, Skip::None),
            Start::Seq(s) if s > e.last_seq => {
                return Err(TierError::NotFound(format!(
                    "sequence {s} is past cold segment {base} (last {})",
                    e.last_seq
                )));
            }
            Start::Seq(s) if s <= base => (0, Skip::None),
            Start::Seq(s) => (
                index.partition_point(|f| f.last_seq() < s),
                Skip::BelowSeq(s),
            ),
            Start::Time(t) => (index.partition_point(|f| f.max_ts < t), Skip::BeforeTime(t)),
        };
        Ok(SegmentCursor {
            reader: self.clone(),
            entry: e,
            codec,
            index,
            next_frame: frame_no,
            frame: Vec::new(),
            pos: 0,
            expect_seq: None,
            skip,
            failed: None,
        })
    }
}

impl ColdSegmentSource for ColdReader {
    fn cold_segments(&self) -> Result<Vec<ColdSegment>, ColdError> {
        let m = self
            .inner
            .manifest
            .read()
            .unwrap_or_else(|e| e.into_inner());
        Ok(m.segments
            .iter()
            .map(|e| ColdSegment {
                base_seq: e.base_seq,
                last_seq: e.last_seq,
                record_count: e.record_count,
                first_ts: e.first_ts,
                last_ts: e.last_ts,
                max_ts: e.max_ts,
                created_ns: e.created_ns,
                sealed_ns: e.sealed_ns,
                bytes: e.segment_bytes,
                stored_bytes: e.object_bytes,
                codec: e.codec.clone(),
                location: e.key.clone(),
            })
            .collect())
    }

    fn open_cursor(&self, base_seq: u64, start: Start) -> Result<Box<dyn ColdCursor>, ColdError> {
        Ok(Box::new(self.cursor(base_seq, start)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    None,
    BelowSeq(u64),
    BeforeTime(u64),
}

/// A cursor over one cold segment: holds one decompressed frame and fetches the next
/// when it runs out.
#[derive(Debug)]
struct SegmentCursor {
    reader: ColdReader,
    entry: ColdEntry,
    codec: u32,
    index: Arc<Vec<FrameEntry>>,
    next_frame: usize,
    frame: Vec<u8>,
    pos: usize,
    expect_seq: Option<u64>,
    skip: Skip,
    failed: Option<ColdError>,
}

impl SegmentCursor {
    /// Moves `pos` to the next record to return (loading frames as needed); `false`
    /// at the end of the segment.
    fn advance(&mut self) -> Result<bool, ColdError> {
        loop {
            if self.pos >= self.frame.len() {
                let Some(f) = self.index.get(self.next_frame).copied() else {
                    return Ok(false);
                };
                self.frame = self
                    .reader
                    .frame(&self.entry, self.codec, &f, self.next_frame)?;
                self.next_frame += 1;
                self.pos = 0;
                if self.expect_seq.is_none() {
                    self.expect_seq = Some(f.first_seq);
                }
            }
            // decode_frame checked every record of the frame (CRC, sequences), so the
            // header alone says where the next one starts; `next` decodes the record it
            // returns in full once more.
            let h = FrameHeader::decode(&self.frame[self.pos..]).map_err(|e| {
                ColdError::new(ColdErrorKind::Corrupt, format!("{}: {e:?}", self.entry.key))
            })?;
            let expect = self.expect_seq.unwrap_or(h.seq);
            if h.seq != expect {
                return Err(ColdError::new(
                    ColdErrorKind::Corrupt,
                    format!(
                        "{}: sequence {} where {expect} was expected",
                        self.entry.key, h.seq
                    ),
                ));
            }
            let keep = match self.skip {
                Skip::None => true,
                Skip::BelowSeq(s) => h.seq >= s,
                Skip::BeforeTime(t) => h.timestamp_ns >= t,
            };
            if keep {
                self.skip = Skip::None;
                return Ok(true);
            }
            self.pos += disk_record_len(h.len as usize);
            self.expect_seq = Some(expect + 1);
        }
    }
}

impl ColdCursor for SegmentCursor {
    fn next(&mut self) -> Result<Option<RecordRef<'_>>, ColdError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.advance() {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        }
        let at = self.pos;
        let r = decode_record(&self.frame[at..])
            .map_err(|e| ColdError::new(ColdErrorKind::Corrupt, e.to_string()))?;
        self.pos += r.disk_len();
        self.expect_seq = Some(r.seq() + 1);
        Ok(Some(r))
    }
}
