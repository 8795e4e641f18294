//! A real S3 API on loopback: moto's server from the virtual environment that
//! `RINGLOG_MOTO` names (`python3 -m venv DIR && DIR/bin/pip install 'moto[server]'`),
//! one server per test, killed when the test ends (and by a watchdog if the test
//! process dies first). Without `RINGLOG_MOTO` the S3 tests print why and skip; under
//! `CI=true` they fail instead.
//!
//! Also: raw HTTP requests to the server (create a bucket, list objects and incomplete
//! multipart uploads), its request log, and a TCP proxy that drops and refuses
//! connections for a while.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use storage_tier::StoreConfig;

/// A moto server.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Moto {
    /// Starts a server, or returns `None` (with the reason printed) when
    /// `RINGLOG_MOTO` is not set; panics under `CI=true` instead of skipping.
    pub fn start() -> Option<Moto> {
        let venv = match std::env::var("RINGLOG_MOTO") {
            Ok(v) if !v.is_empty() => PathBuf::from(v),
            _ => {
                let why = "RINGLOG_MOTO is not set (the path of a venv with moto[server])";
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{why}: the S3 tests cannot run, and under CI=true they must"
                );
                eprintln!("SKIPPED: {why}: S3 test skipped");
                return None;
            }
        };
        let bin = venv.join("bin").join("moto_server");
        assert!(
            bin.exists(),
            "RINGLOG_MOTO={}: no bin/moto_server",
            venv.display()
        );
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("moto.log");
        let port = free_port();
        // The shell watches this test process and kills moto if it dies without
        // running our Drop (a crashed or killed test binary).
        let script = r#"parent=$1; shift; "$@" & child=$!
            while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done
            kill -9 "$child" 2>/dev/null"#;
        let child = Command::new("sh")
            .args(["-c", script, "sh", &std::process::id().to_string()])
            .arg(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let m = Moto {
            child,
            port,
            log,
            _tmp: tmp,
        };
        let t0 = Instant::now();
        while http(port, "GET", "/", b"").is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "moto did not start: {}",
                std::fs::read_to_string(&m.log).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(100));
        }
        Some(m)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}"), b"").unwrap();
        assert_eq!(status, 200, "{body}");
    }

    /// Keys of the objects in a bucket.
    pub fn list_objects(&self, bucket: &str) -> Vec<String> {
        let (status, body) =
            http(self.port, "GET", &format!("/{bucket}?list-type=2"), b"").unwrap();
        assert_eq!(status, 200, "{body}");
        tags(&body, "Key")
    }

    /// Keys of the incomplete multipart uploads in a bucket.
    pub fn list_uploads(&self, bucket: &str) -> Vec<String> {
        let (status, body) = http(self.port, "GET", &format!("/{bucket}?uploads"), b"").unwrap();
        assert_eq!(status, 200, "{body}");
        tags(&body, "Key")
    }

    /// Replaces an object's bytes (to damage it).
    pub fn put_object(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}/{key}"), bytes).unwrap();
        assert_eq!(status, 200, "{body}");
    }

    /// An object's bytes.
    pub fn get_object(&self, bucket: &str, key: &str) -> Vec<u8> {
        let (status, body) =
            http_bytes(self.port, "GET", &format!("/{bucket}/{key}"), b"").unwrap();
        assert_eq!(status, 200);
        body
    }

    /// The server's request log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET requests for `/bucket/key` in the server's request log.
    pub fn logged_gets(&self, bucket: &str, key: &str) -> usize {
        // Lines may carry ANSI colour codes around the request.
        let needle = format!("GET /{bucket}/{key} HTTP");
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// Waits until the request log holds `n` GETs of the object (it is written after
    /// each response), then a little longer; returns the count.
    pub fn wait_logged_gets(&self, bucket: &str, key: &str, n: usize) -> usize {
        let t0 = Instant::now();
        while self.logged_gets(bucket, key) < n && t0.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_millis(200));
        self.logged_gets(bucket, key)
    }

    /// A store configuration for `s3://bucket/prefix` on this server (or on `endpoint`).
    pub fn store(&self, bucket: &str, prefix: &str, endpoint: Option<String>) -> StoreConfig {
        Self::store_for(&endpoint.unwrap_or_else(|| self.endpoint()), bucket, prefix)
    }

    /// A store configuration for `s3://bucket/prefix` at `endpoint` (moto takes any
    /// credentials).
    pub fn store_for(endpoint: &str, bucket: &str, prefix: &str) -> StoreConfig {
        StoreConfig::parse(&format!("s3://{bucket}/{prefix}"))
            .unwrap()
            .endpoint(endpoint)
            .region("us-east-1")
            .credentials("testing", "testing")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // The shell and moto share the process group the shell leads.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut v = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        v.push(after[..j].to_owned());
        rest = &after[j..];
    }
    v.sort();
    v
}

fn http(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    http_bytes(port, method, path, body).map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
}

/// One HTTP/1.1 request with `Connection: close`; the response status and body.
fn http_bytes(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // moto checks no signature, but serves objects only to requests that carry one.
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Content-Type: application/octet-stream\r\nAuthorization: AWS4-HMAC-SHA256 \
         Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, \
         Signature=0\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header"))?;
    let head = String::from_utf8_lossy(&resp[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head}")))?;
    let mut body = resp[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body);
    }
    Ok((status, body))
}

fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
    out
}

/// A TCP proxy to a server on loopback that can go down: during an outage it shuts
/// every open connection (requests in flight fail) and closes its listening socket
/// (new connections are refused), then listens again on the same port.
#[derive(Debug)]
pub struct Proxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    st: Arc<ProxyState>,
}

#[derive(Debug)]
struct ProxyState {
    upstream: SocketAddr,
    down_until: Mutex<Option<Instant>>,
    conns: Mutex<Vec<TcpStream>>,
    /// (bytes sent upstream that start an outage, its length)
    trigger: Mutex<Option<(u64, Duration)>>,
    sent_up: AtomicU64,
    outages: AtomicU64,
    stop: AtomicBool,
}

impl ProxyState {
    fn go_down(&self, d: Duration) {
        *self.down_until.lock().unwrap() = Some(Instant::now() + d);
        self.outages.fetch_add(1, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn is_down(&self) -> bool {
        let mut d = self.down_until.lock().unwrap();
        match *d {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *d = None;
                false
            }
            None => false,
        }
    }
}

impl Proxy {
    /// A proxy to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let st = Arc::new(ProxyState {
            upstream: SocketAddr::from(([127, 0, 0, 1], upstream_port)),
            down_until: Mutex::new(None),
            conns: Mutex::new(Vec::new()),
            trigger: Mutex::new(None),
            sent_up: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s2 = st.clone();
        thread::spawn(move || accept_loop(Some(listener), port, s2));
        Proxy { port, st }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts an outage of `d` once `bytes` more have been sent upstream.
    pub fn outage_after(&self, bytes: u64, d: Duration) {
        let at = self.st.sent_up.load(Ordering::SeqCst) + bytes;
        *self.st.trigger.lock().unwrap() = Some((at, d));
    }

    /// Outages so far.
    pub fn outages(&self) -> u64 {
        self.st.outages.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.st.stop.store(true, Ordering::SeqCst);
        self.st.go_down(Duration::ZERO);
    }
}

fn accept_loop(mut listener: Option<TcpListener>, port: u16, st: Arc<ProxyState>) {
    while !st.stop.load(Ordering::SeqCst) {
        if st.is_down() {
            listener = None; // refuse: nothing listens on the port
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        let l = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => {
                    l.set_nonblocking(true).unwrap();
                    listener.insert(l)
                }
                Err(_) => {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
        };
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(st.upstream) else {
                    continue;
                };
                {
                    let mut conns = st.conns.lock().unwrap();
                    conns.push(client.try_clone().unwrap());
                    conns.push(server.try_clone().unwrap());
                }
                let st_up = st.clone();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || pipe(c2, s2, Some(st_up)));
                thread::spawn(move || pipe(server, client, None));
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Copies `from` to `to` until either side closes; counts upstream bytes and fires the
/// outage trigger when `st` is given.
fn pipe(mut from: TcpStream, mut to: TcpStream, st: Option<Arc<ProxyState>>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some(st) = &st {
            let sent = st.sent_up.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            let fire = {
                let mut t = st.trigger.lock().unwrap();
                match *t {
                    Some((at, d)) if sent >= at => {
                        *t = None;
                        Some(d)
                    }
                    _ => None,
                }
            };
            if let Some(d) = fire {
                st.go_down(d);
                break;
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
