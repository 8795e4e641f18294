//! The object store behind the cold tier, through the `object_store` crate: a local
//! directory (`file:///path`) or any S3-compatible service (`s3://bucket[/prefix]`).
//! [`Store`] is synchronous: it owns a single-threaded tokio runtime and blocks on each
//! call, so nothing async leaks into callers. Do not call it from inside an async runtime.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

use crate::error::{Result, TierError};

/// Where cold objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A local directory (`file:///path`): works with no set-up.
    Dir(PathBuf),
    /// An S3 bucket, with an optional key prefix (`s3://bucket/prefix`).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix (no leading or trailing `/`; empty for none).
        prefix: String,
    },
}

/// How to reach the store: its URL plus options; credentials and region for S3 come
/// from the `AWS_*` environment variables as `AmazonS3Builder::from_env` reads them
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
/// ...), unless set here.
///
/// ```
/// use storage_tier::{StoreConfig, StoreLocation};
/// let c: StoreConfig = "s3://logs/prod/ring".parse().unwrap();
/// assert_eq!(c.location(), &StoreLocation::S3 { bucket: "logs".into(), prefix: "prod/ring".into() });
/// let d: StoreConfig = "file:///var/cold".parse().unwrap();
/// assert_eq!(d.location(), &StoreLocation::Dir("/var/cold".into()));
/// assert!("http://x".parse::<StoreConfig>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    location: StoreLocation,
    endpoint: Option<String>,
    region: Option<String>,
    path_style: bool,
    credentials: Option<(String, String)>,
    request_timeout: Duration,
    connect_timeout: Duration,
    store_retries: usize,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("location", &self.location)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("credentials", &self.credentials.as_ref().map(|_| "(set)"))
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("store_retries", &self.store_retries)
            .finish()
    }
}

impl FromStr for StoreConfig {
    type Err = TierError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl StoreConfig {
    /// Parses `file:///absolute/path` or `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<Self> {
        let location = if let Some(p) = url.strip_prefix("file://") {
            if !p.starts_with('/') {
                return Err(TierError::Config(format!(
                    "{url}: a file store needs an absolute path (file:///path)"
                )));
            }
            StoreLocation::Dir(PathBuf::from(p))
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(TierError::Config(format!("{url}: no bucket name")));
            }
            StoreLocation::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            }
        } else {
            return Err(TierError::Config(format!(
                "{url}: the store URL must be file:///path or s3://bucket[/prefix]"
            )));
        };
        Ok(Self::new(location))
    }

    /// A configuration for this location with the defaults: path-style requests, a 30 s
    /// request timeout, a 5 s connect timeout, 2 retries inside each store call (the
    /// tiering task retries whole uploads on top, with backoff).
    pub fn new(location: StoreLocation) -> Self {
        Self {
            location,
            endpoint: None,
            region: None,
            path_style: true,
            credentials: None,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            store_retries: 2,
        }
    }

    /// The location.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); overrides `AWS_ENDPOINT_URL`.
    /// Plain `http://` is allowed on loopback addresses only (elsewhere it needs
    /// `AWS_ALLOW_HTTP=true`).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The region; overrides `AWS_REGION`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Path-style (`endpoint/bucket/key`, the default, what S3-compatible servers want)
    /// or virtual-hosted-style (`bucket.endpoint/key`) requests.
    pub fn path_style(mut self, on: bool) -> Self {
        self.path_style = on;
        self
    }

    /// Access key and secret; override `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    pub fn credentials(mut self, key_id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.credentials = Some((key_id.into(), secret.into()));
        self
    }

    /// Timeout of one HTTP request (default 30 s).
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// Timeout of one connection attempt (default 5 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Retries inside one store call (default 2).
    pub fn store_retries(mut self, n: usize) -> Self {
        self.store_retries = n;
        self
    }

    /// The URL this configuration was parsed from, for messages and reports.
    pub fn url(&self) -> String {
        match &self.location {
            StoreLocation::Dir(p) => format!("file://{}", p.display()),
            StoreLocation::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            StoreLocation::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// Connects (builds the client; no request is sent).
    pub(crate) fn open(&self) -> Result<Store> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TierError::io("start", "tokio runtime", e))?;
        let cfg_err = |e: object_store::Error| TierError::Config(format!("{}: {e}", self.url()));
        let (os, mp, prefix, dir_root): (
            Arc<dyn ObjectStore>,
            Option<Arc<dyn MultipartStore>>,
            _,
            _,
        ) = match &self.location {
            StoreLocation::Dir(p) => {
                std::fs::create_dir_all(p).map_err(|e| TierError::io("create", p, e))?;
                let fs = LocalFileSystem::new_with_prefix(p)
                    .map_err(cfg_err)?
                    .with_fsync(true);
                (Arc::new(fs), None, String::new(), Some(p.clone()))
            }
            StoreLocation::S3 { bucket, prefix } => {
                let s3 = Arc::new(self.s3_builder(bucket)?.build().map_err(cfg_err)?);
                (s3.clone(), Some(s3), prefix.clone(), None)
            }
        };
        Ok(Store {
            rt,
            os,
            mp,
            prefix,
            dir_root,
            url: self.url(),
            counters: Arc::default(),
        })
    }

    fn s3_builder(&self, bucket: &str) -> Result<AmazonS3Builder> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(!self.path_style)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: self.store_retries,
                retry_timeout: self.request_timeout * 2,
            });
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &self.region {
            b = b.with_region(r);
        }
        if let Some((k, s)) = &self.credentials {
            b = b.with_access_key_id(k).with_secret_access_key(s);
        }
        let mut client = ClientOptions::new()
            .with_timeout(self.request_timeout)
            .with_connect_timeout(self.connect_timeout);
        if let Some(ep) = b.get_config_value(&AmazonS3ConfigKey::Endpoint)
            && let Some(rest) = ep.strip_prefix("http://")
        {
            let env_allows = std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true");
            if is_loopback_host(rest) {
                client = client.with_allow_http(true);
            } else if !env_allows {
                return Err(TierError::Config(format!(
                    "endpoint {ep}: plain http is allowed on loopback addresses only \
                     (set AWS_ALLOW_HTTP=true to override)"
                )));
            }
        }
        Ok(b.with_client_options(client))
    }
}

/// Whether the host of `host_port_path` (what follows `http://`) is a loopback address.
fn is_loopback_host(host_port_path: &str) -> bool {
    let authority = host_port_path.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What the store was asked, counted: how many requests and bytes each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreCounters {
    /// Whole-object GETs.
    pub gets: u64,
    /// Ranged GETs.
    pub range_gets: u64,
    /// Bytes received by GETs.
    pub get_bytes: u64,
    /// PUTs (single-request uploads and parts).
    pub puts: u64,
    /// Bytes sent by PUTs.
    pub put_bytes: u64,
    /// LIST requests.
    pub lists: u64,
    /// DELETEs (including multipart aborts).
    pub deletes: u64,
}

#[derive(Debug, Default)]
struct AtomicCounters {
    gets: AtomicU64,
    range_gets: AtomicU64,
    get_bytes: AtomicU64,
    puts: AtomicU64,
    put_bytes: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
}

/// A connected store: synchronous calls on keys relative to the configured prefix.
pub(crate) struct Store {
    rt: tokio::runtime::Runtime,
    os: Arc<dyn ObjectStore>,
    mp: Option<Arc<dyn MultipartStore>>,
    prefix: String,
    dir_root: Option<PathBuf>,
    url: String,
    counters: Arc<AtomicCounters>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Store {
    fn path(&self, key: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(key)
        } else {
            ObjPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn err(&self, op: &'static str, key: &str, source: object_store::Error) -> TierError {
        TierError::Store {
            op,
            key: format!("{}/{key}", self.url),
            source,
        }
    }

    /// The store's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The counters so far.
    pub(crate) fn counters(&self) -> StoreCounters {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreCounters {
            gets: l(&c.gets),
            range_gets: l(&c.range_gets),
            get_bytes: l(&c.get_bytes),
            puts: l(&c.puts),
            put_bytes: l(&c.put_bytes),
            lists: l(&c.lists),
            deletes: l(&c.deletes),
        }
    }

    /// Whether uploads can be split into parts whose upload id we hold (S3).
    pub(crate) fn supports_multipart(&self) -> bool {
        self.mp.is_some()
    }

    /// One-request upload (atomic: the object appears whole or not at all).
    pub(crate) fn put(&self, key: &str, data: Bytes) -> Result<()> {
        add(&self.counters.puts, 1);
        add(&self.counters.put_bytes, data.len() as u64);
        let p = self.path(key);
        self.rt
            .block_on(self.os.put(&p, data.into()))
            .map(|_| ())
            .map_err(|e| self.err("put", key, e))
    }

    fn multipart(&self) -> Result<&Arc<dyn MultipartStore>> {
        self.mp
            .as_ref()
            .ok_or_else(|| TierError::Config(format!("{}: no multipart uploads", self.url)))
    }

    /// Starts a multipart upload; returns its id.
    pub(crate) fn create_multipart(&self, key: &str) -> Result<String> {
        let p = self.path(key);
        let mp = self.multipart()?;
        self.rt
            .block_on(mp.create_multipart(&p))
            .map_err(|e| self.err("create_multipart", key, e))
    }

    /// Uploads part `idx` (0-based).
    pub(crate) fn put_part(&self, key: &str, id: &str, idx: usize, data: Bytes) -> Result<PartId> {
        add(&self.counters.puts, 1);
        add(&self.counters.put_bytes, data.len() as u64);
        let p = self.path(key);
        let mp = self.multipart()?;
        self.rt
            .block_on(mp.put_part(&p, &id.to_owned(), idx, data.into()))
            .map_err(|e| self.err("put_part", key, e))
    }

    /// Completes a multipart upload.
    pub(crate) fn complete_multipart(&self, key: &str, id: &str, parts: Vec<PartId>) -> Result<()> {
        let p = self.path(key);
        let mp = self.multipart()?;
        self.rt
            .block_on(mp.complete_multipart(&p, &id.to_owned(), parts))
            .map(|_| ())
            .map_err(|e| self.err("complete_multipart", key, e))
    }

    /// Aborts a multipart upload; one the store no longer knows counts as aborted.
    pub(crate) fn abort_multipart(&self, key: &str, id: &str) -> Result<()> {
        add(&self.counters.deletes, 1);
        let p = self.path(key);
        let mp = self.multipart()?;
        match self.rt.block_on(mp.abort_multipart(&p, &id.to_owned())) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("abort_multipart", key, e)),
        }
    }

    /// A byte range of an object.
    pub(crate) fn get_range(&self, key: &str, r: Range<u64>) -> Result<Bytes> {
        add(&self.counters.range_gets, 1);
        let p = self.path(key);
        let want = r.end - r.start;
        let b = self
            .rt
            .block_on(self.os.get_range(&p, r))
            .map_err(|e| self.err("get_range", key, e))?;
        add(&self.counters.get_bytes, b.len() as u64);
        if b.len() as u64 != want {
            return Err(TierError::corrupt(
                format!("{}/{key}", self.url),
                format!("ranged read returned {} bytes, {want} asked", b.len()),
            ));
        }
        Ok(b)
    }

    /// A whole object, streamed to `sink` chunk by chunk; returns its length.
    pub(crate) fn get_stream(&self, key: &str, sink: &mut dyn FnMut(&[u8])) -> Result<u64> {
        add(&self.counters.gets, 1);
        let p = self.path(key);
        self.rt.block_on(async {
            let r = self.os.get(&p).await.map_err(|e| self.err("get", key, e))?;
            let mut s = r.into_stream();
            let mut n = 0u64;
            while let Some(chunk) = s.next().await {
                let chunk = chunk.map_err(|e| self.err("get", key, e))?;
                n += chunk.len() as u64;
                sink(&chunk);
            }
            add(&self.counters.get_bytes, n);
            Ok(n)
        })
    }

    /// A whole object in memory.
    pub(crate) fn get(&self, key: &str) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.get_stream(key, &mut |c| v.extend_from_slice(c))?;
        Ok(v)
    }

    /// Keys (relative to the prefix) and sizes of the objects under `dir/`.
    pub(crate) fn list(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        add(&self.counters.lists, 1);
        let p = self.path(dir);
        let base = self.path("");
        self.rt.block_on(async {
            let mut s = self.os.list(Some(&p));
            let mut v = Vec::new();
            while let Some(m) = s.next().await {
                let m = m.map_err(|e| self.err("list", dir, e))?;
                let rel = match m.location.prefix_match(&base) {
                    Some(parts) if !self.prefix.is_empty() => parts
                        .map(|x| x.as_ref().to_owned())
                        .collect::<Vec<_>>()
                        .join("/"),
                    _ => m.location.to_string(),
                };
                v.push((rel, m.size));
            }
            v.sort();
            Ok(v)
        })
    }

    /// Deletes an object; a missing one counts as deleted.
    pub(crate) fn delete(&self, key: &str) -> Result<()> {
        add(&self.counters.deletes, 1);
        let p = self.path(key);
        match self.rt.block_on(self.os.delete(&p)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", key, e)),
        }
    }

    /// For a local-directory store: removes the staging files (`key#N`) that an
    /// interrupted upload leaves under `dir/` (the store's listing hides them).
    pub(crate) fn remove_dir_staging(&self, dir: &str) -> Result<Vec<String>> {
        let Some(root) = &self.dir_root else {
            return Ok(Vec::new());
        };
        let d = root.join(&self.prefix).join(dir);
        let mut removed = Vec::new();
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
            Err(e) => return Err(TierError::io("list", &d, e)),
        };
        for e in rd {
            let e = e.map_err(|e| TierError::io("list", &d, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains('#') {
                std::fs::remove_file(e.path())
                    .map_err(|err| TierError::io("remove", e.path(), err))?;
                removed.push(format!("{dir}/{name}"));
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:9000",
            "localhost:1/x",
            "[::1]:80",
            "127.8.9.1",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1:9000",
            "example.com",
            "[fe80::1]:80",
            "127.0.0.1.nip.io:80",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let c = StoreConfig::parse("s3://b").unwrap();
        assert!(c.clone().endpoint("http://127.0.0.1:9").open().is_ok());
        if std::env::var("AWS_ALLOW_HTTP").is_err() {
            let e = c.endpoint("http://192.0.2.1:9").open().unwrap_err();
            assert!(e.to_string().contains("loopback"), "{e}");
        }
    }

    #[test]
    fn urls_parse_or_say_why_not() {
        assert!(StoreConfig::parse("file://relative").is_err());
        assert!(StoreConfig::parse("s3://").is_err());
        assert!(StoreConfig::parse("gs://b").is_err());
        let c = StoreConfig::parse("s3://b/p/q/").unwrap();
        assert_eq!(c.url(), "s3://b/p/q");
    }
}
