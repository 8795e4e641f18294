//! A local cache of fetched cold bytes (compressed frames, frame indexes) with a byte
//! budget, least recently used out first. Its files are hints: every read from it is
//! checked against the checksum the manifest or the frame index holds, and a file that
//! fails is dropped and fetched again. Writes go through a temporary file and a rename
//! (no fsync: losing the cache loses nothing).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Result, TierError};

#[derive(Debug, Default)]
struct State {
    /// name -> (size, last use tick)
    entries: HashMap<String, (u64, u64)>,
    total: u64,
    tick: u64,
}

/// The cache.
#[derive(Debug)]
pub(crate) struct FrameCache {
    dir: Option<PathBuf>,
    max_bytes: u64,
    state: Mutex<State>,
}

impl FrameCache {
    /// A cache in `dir` (created if missing; what is there already counts, oldest first
    /// out) of at most `max_bytes`; `None` or 0 bytes: no cache.
    pub(crate) fn open(dir: Option<&Path>, max_bytes: u64) -> Result<Self> {
        let mut st = State::default();
        let dir = match dir {
            Some(d) if max_bytes > 0 => {
                std::fs::create_dir_all(d).map_err(|e| TierError::io("create", d, e))?;
                let mut found = Vec::new();
                for e in std::fs::read_dir(d).map_err(|e| TierError::io("list", d, e))? {
                    let e = e.map_err(|e| TierError::io("list", d, e))?;
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".tmp") {
                        let _ = std::fs::remove_file(e.path());
                        continue;
                    }
                    if let Ok(m) = e.metadata() {
                        let t = m.modified().ok();
                        found.push((t, name, m.len()));
                    }
                }
                found.sort();
                for (_, name, len) in found {
                    st.tick += 1;
                    st.total += len;
                    st.entries.insert(name, (len, st.tick));
                }
                Some(d.to_path_buf())
            }
            _ => None,
        };
        let c = Self {
            dir,
            max_bytes,
            state: Mutex::new(st),
        };
        c.evict();
        Ok(c)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes the cache holds.
    pub(crate) fn bytes(&self) -> u64 {
        self.lock().total
    }

    /// The cached bytes of `name`, if any (unchecked: the caller checks them).
    pub(crate) fn get(&self, name: &str) -> Option<Vec<u8>> {
        let dir = self.dir.as_ref()?;
        let mut st = self.lock();
        st.entries.get(name)?;
        match std::fs::read(dir.join(name)) {
            Ok(b) => {
                st.tick += 1;
                let tick = st.tick;
                if let Some(e) = st.entries.get_mut(name) {
                    e.1 = tick;
                }
                Some(b)
            }
            Err(_) => {
                if let Some((len, _)) = st.entries.remove(name) {
                    st.total -= len;
                }
                None
            }
        }
    }

    /// Stores `bytes` as `name`, evicting the least recently used entries to stay within
    /// the budget. Failures only mean a later miss.
    pub(crate) fn put(&self, name: &str, bytes: &[u8]) {
        let Some(dir) = &self.dir else { return };
        if bytes.len() as u64 > self.max_bytes {
            return;
        }
        let tmp = dir.join(format!("{name}.tmp"));
        if std::fs::write(&tmp, bytes).is_err() || std::fs::rename(&tmp, dir.join(name)).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        {
            let mut st = self.lock();
            st.tick += 1;
            let tick = st.tick;
            if let Some((old, _)) = st
                .entries
                .insert(name.to_owned(), (bytes.len() as u64, tick))
            {
                st.total -= old;
            }
            st.total += bytes.len() as u64;
        }
        self.evict();
    }

    /// Drops `name` (it failed its check).
    pub(crate) fn remove(&self, name: &str) {
        let Some(dir) = &self.dir else { return };
        let mut st = self.lock();
        if let Some((len, _)) = st.entries.remove(name) {
            st.total -= len;
        }
        let _ = std::fs::remove_file(dir.join(name));
    }

    fn evict(&self) {
        let Some(dir) = &self.dir else { return };
        let mut st = self.lock();
        while st.total > self.max_bytes {
            let Some((name, (len, _))) = st
                .entries
                .iter()
                .min_by_key(|(_, (_, tick))| *tick)
                .map(|(n, v)| (n.clone(), *v))
            else {
                break;
            };
            st.entries.remove(&name);
            st.total -= len;
            let _ = std::fs::remove_file(dir.join(&name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_holds_and_least_recently_used_goes_first() {
        let d = tempfile::tempdir().unwrap();
        let c = FrameCache::open(Some(d.path()), 100).unwrap();
        c.put("a", &[1; 40]);
        c.put("b", &[2; 40]);
        assert_eq!(c.get("a").unwrap(), vec![1; 40]); // a is now newer than b
        c.put("c", &[3; 40]);
        assert_eq!(c.bytes(), 80);
        assert!(c.get("b").is_none(), "b was the least recently used");
        assert!(!d.path().join("b").exists());
        assert!(c.get("a").is_some() && c.get("c").is_some());
        c.put("huge", &[0; 101]);
        assert!(c.get("huge").is_none());
        c.remove("a");
        assert_eq!(c.bytes(), 40);
        // A new cache over the same folder counts what is there.
        drop(c);
        let c2 = FrameCache::open(Some(d.path()), 100).unwrap();
        assert_eq!(c2.bytes(), 40);
        let c3 = FrameCache::open(Some(d.path()), 10).unwrap();
        assert_eq!(c3.bytes(), 0, "a smaller budget evicts on open");
        let none = FrameCache::open(None, 100).unwrap();
        none.put("x", b"y");
        assert!(none.get("x").is_none());
    }
}
