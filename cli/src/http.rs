//! A small blocking HTTP/1.1 client over a unix or TCP socket: one connection per request
//! (`Connection: close`), Content-Length and chunked bodies, and the `Upgrade` handshake.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

pub const DEFAULT_ADDRESS: &str = "unix:///run/ctrd/ctrd.sock";

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    /// `host:port`
    Tcp(String),
}

impl Address {
    pub fn parse(s: &str) -> std::result::Result<Address, String> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("invalid address {s:?}: the socket path is empty"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if let Some(hostport) = s.strip_prefix("tcp://") {
            let hostport = hostport.trim_end_matches('/');
            let port_ok = hostport
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !port_ok {
                return Err(format!("invalid address {s:?}: expected tcp://HOST:PORT"));
            }
            return Ok(Address::Tcp(hostport.to_string()));
        }
        if s.starts_with('/') {
            return Ok(Address::Unix(PathBuf::from(s)));
        }
        Err(format!(
            "invalid address {s:?}: expected unix:///path/to/socket or tcp://host:port"
        ))
    }

    fn host_header(&self) -> &str {
        match self {
            Address::Unix(_) => "ctrd",
            Address::Tcp(hp) => hp,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Tcp(hp) => write!(f, "tcp://{hp}"),
        }
    }
}

/// Every way a request can fail.
#[derive(Debug)]
pub enum Error {
    /// Could not connect (or the connection broke before an answer came).
    Connect { address: String, reason: String },
    /// The daemon answered with a 4xx/5xx status.
    Api { status: u16, message: String },
    /// Anything else (bad answer, local I/O, usage).
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect { address, reason } => write!(f, "cannot reach ctrd at {address}: {reason}"),
            Error::Api { message, .. } => write!(f, "{message}"),
            Error::Other(m) => write!(f, "{m}"),
        }
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::Other(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error::Other(s.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A connected socket of either kind.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(how),
            Stream::Tcp(s) => s.shutdown(how),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

/// What a request sends as its body.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    File(File, u64),
}

/// An answer: status, headers (names lower-cased) and a body to read.
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: BodyReader,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Reads the whole body.
    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body
            .read_to_end(&mut out)
            .map_err(|e| Error::Other(format!("reading the answer: {e}")))?;
        Ok(out)
    }

    /// Reads the whole body as JSON (`null` when empty).
    pub fn json(self) -> Result<Value> {
        let b = self.bytes()?;
        if b.iter().all(|c| c.is_ascii_whitespace()) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&b).map_err(|e| Error::Other(format!("the daemon's answer is not JSON: {e}")))
    }

    /// Turns a 4xx/5xx answer into `Error::Api`, passing a success through.
    pub fn check(self) -> Result<Response> {
        if self.is_success() || self.status == 101 {
            return Ok(self);
        }
        let status = self.status;
        let reason = self.reason.clone();
        let body = self.bytes().unwrap_or_default();
        Err(Error::Api {
            status,
            message: error_message(status, &reason, &body),
        })
    }
}

/// The message of an error answer: its `{"error": "..."}`, else its text, else the status.
pub fn error_message(status: u16, reason: &str, body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(m) = v.get("error").and_then(Value::as_str) {
            return m.to_string();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("the daemon answered {status} {reason}").trim_end().to_string()
    } else {
        format!("the daemon answered {status}: {text}")
    }
}

/// The body of an answer, decoded.
pub enum BodyReader {
    Empty,
    Length(io::Take<BufReader<Stream>>),
    Chunked(ChunkedReader<BufReader<Stream>>),
    UntilClose(BufReader<Stream>),
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BodyReader::Empty => Ok(0),
            BodyReader::Length(r) => r.read(buf),
            BodyReader::Chunked(r) => r.read(buf),
            BodyReader::UntilClose(r) => r.read(buf),
        }
    }
}

impl BodyReader {
    /// After a `101 Switching Protocols`: the raw connection (with what was already buffered).
    pub fn into_upgraded(self) -> Option<BufReader<Stream>> {
        match self {
            BodyReader::UntilClose(r) => Some(r),
            _ => None,
        }
    }
}

/// Decodes `Transfer-Encoding: chunked`, handing out data as soon as it arrives.
pub struct ChunkedReader<R> {
    inner: R,
    /// Bytes left in the current chunk.
    left: u64,
    done: bool,
}

impl<R: BufRead> ChunkedReader<R> {
    pub fn new(inner: R) -> Self {
        ChunkedReader {
            inner,
            left: 0,
            done: false,
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let n = (&mut self.inner).take(4096).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a chunked body",
            ));
        }
        Ok(String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string())
    }
}

impl<R: BufRead> Read for ChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line = self.read_line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    match self.read_line() {
                        Ok(l) if l.is_empty() => break,
                        Ok(_) => continue,
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                        Err(e) => return Err(e),
                    }
                }
                self.done = true;
                return Ok(0);
            }
            self.left = size;
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of a chunk",
            ));
        }
        self.left -= n as u64;
        if self.left == 0 {
            let end = self.read_line()?;
            if !end.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "chunk not followed by CRLF"));
            }
        }
        Ok(n)
    }
}

/// Talks to one daemon.
#[derive(Clone)]
pub struct Client {
    pub address: Address,
    pub timeout: Option<Duration>,
}

impl Client {
    pub fn new(address: Address) -> Self {
        Client { address, timeout: None }
    }

    fn connect_error(&self, e: impl fmt::Display) -> Error {
        Error::Connect {
            address: self.address.to_string(),
            reason: e.to_string(),
        }
    }

    pub fn connect(&self) -> Result<Stream> {
        let s = match &self.address {
            Address::Unix(p) => Stream::Unix(UnixStream::connect(p).map_err(|e| self.connect_error(e))?),
            Address::Tcp(hp) => {
                let s = TcpStream::connect(hp).map_err(|e| self.connect_error(e))?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        };
        if let Some(t) = self.timeout {
            let _ = match &s {
                Stream::Unix(u) => u.set_read_timeout(Some(t)),
                Stream::Tcp(t2) => t2.set_read_timeout(Some(t)),
            };
        }
        Ok(s)
    }

    /// Sends one request and reads the answer's head. The body is left to read.
    pub fn send(&self, method: &str, path: &str, body: Body<'_>, extra: &[(&str, &str)]) -> Result<Response> {
        let mut stream = self.connect()?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.address.host_header());
        head.push_str("User-Agent: ctr/");
        head.push_str(env!("CARGO_PKG_VERSION"));
        head.push_str("\r\n");
        let upgrade = extra.iter().any(|(n, _)| n.eq_ignore_ascii_case("upgrade"));
        if !upgrade {
            head.push_str("Connection: close\r\n");
        }
        for (n, v) in extra {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        let mut json_bytes = Vec::new();
        let (len, mut file) = match body {
            Body::None => (None, None),
            Body::Json(v) => {
                json_bytes = serde_json::to_vec(v).map_err(|e| Error::Other(e.to_string()))?;
                head.push_str("Content-Type: application/json\r\n");
                (Some(json_bytes.len() as u64), None)
            }
            Body::File(f, n) => {
                head.push_str("Content-Type: application/octet-stream\r\n");
                (Some(n), Some(f))
            }
        };
        if let Some(n) = len {
            head.push_str(&format!("Content-Length: {n}\r\n"));
        } else if matches!(method, "POST" | "PUT" | "PATCH") {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        let sent = (|| -> io::Result<()> {
            let mut w = io::BufWriter::with_capacity(64 * 1024, &mut stream);
            w.write_all(head.as_bytes())?;
            if let Some(f) = file.as_mut() {
                io::copy(f, &mut w)?;
            } else if len.is_some() {
                w.write_all(&json_bytes)?;
            }
            w.flush()
        })();
        match (sent, read_response(stream, method == "HEAD")) {
            // The daemon may answer (e.g. 413) and close before taking the whole body.
            (_, Ok(resp)) => Ok(resp),
            (Err(e), Err(_)) => Err(self.connect_error(format!("sending the request: {e}"))),
            (Ok(()), Err(Error::Other(m))) => Err(self.connect_error(m)),
            (Ok(()), Err(e)) => Err(e),
        }
    }

    /// A request with an optional JSON body; errors for 4xx/5xx; returns the JSON answer.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let b = body.map_or(Body::None, Body::Json);
        self.send(method, path, b, &[])?.check()?.json()
    }

    /// Like `call` but hands back the streaming answer.
    pub fn stream(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response> {
        let b = body.map_or(Body::None, Body::Json);
        self.send(method, path, b, &[])?.check()
    }
}

/// Reads a status line and headers from the socket.
pub fn read_response(stream: Stream, head_only: bool) -> Result<Response> {
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let mut line = String::new();
    let read_line = |r: &mut BufReader<Stream>, line: &mut String| -> Result<()> {
        line.clear();
        let n = r
            .by_ref()
            .take(16 * 1024)
            .read_line(line)
            .map_err(|e| Error::Other(format!("reading the answer: {e}")))?;
        if n == 0 {
            return Err(Error::Other("the connection closed before an answer came".into()));
        }
        Ok(())
    };
    read_line(&mut r, &mut line)?;
    let status_line = line.trim_end().to_string();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(Error::Other(format!("not an HTTP answer: {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Other(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for _ in 0..200 {
        read_line(&mut r, &mut line)?;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let chunked = get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = get("content-length").and_then(|v| v.parse::<u64>().ok());
    let body = if status == 101 {
        BodyReader::UntilClose(r)
    } else if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        BodyReader::Empty
    } else if chunked {
        BodyReader::Chunked(ChunkedReader::new(r))
    } else if let Some(n) = length {
        BodyReader::Length(r.take(n))
    } else {
        BodyReader::UntilClose(r)
    };
    Ok(Response {
        status,
        reason,
        headers,
        body,
    })
}

/// Percent-encodes one path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            Address::parse("unix:///run/ctrd/ctrd.sock"),
            Ok(Address::Unix("/run/ctrd/ctrd.sock".into()))
        );
        assert_eq!(
            Address::parse("tcp://127.0.0.1:8888"),
            Ok(Address::Tcp("127.0.0.1:8888".into()))
        );
        assert_eq!(
            Address::parse("tcp://[::1]:8888"),
            Ok(Address::Tcp("[::1]:8888".into()))
        );
        assert_eq!(Address::parse("/tmp/x.sock"), Ok(Address::Unix("/tmp/x.sock".into())));
        assert!(Address::parse("tcp://127.0.0.1").is_err());
        assert!(Address::parse("tcp://:80").is_err());
        assert!(Address::parse("http://x").is_err());
        assert!(Address::parse("unix://").is_err());
        assert_eq!(Address::parse(DEFAULT_ADDRESS).unwrap().to_string(), DEFAULT_ADDRESS);
        assert_eq!(
            Address::parse("tcp://localhost:1/").unwrap().to_string(),
            "tcp://localhost:1"
        );
    }

    fn dechunk(input: &[u8], bufsize: usize) -> io::Result<Vec<u8>> {
        let mut r = ChunkedReader::new(io::BufReader::new(Cursor::new(input.to_vec())));
        let mut out = Vec::new();
        let mut buf = vec![0u8; bufsize];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn decodes_chunked() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for bs in [1, 3, 7, 4096] {
            assert_eq!(dechunk(body, bs).unwrap(), b"Wikipedia in\r\n\r\nchunks.");
        }
        assert_eq!(dechunk(b"0\r\n\r\n", 16).unwrap(), b"");
        // Upper-case hex and a missing final CRLF after the last chunk.
        assert_eq!(dechunk(b"A\r\n0123456789\r\n0\r\n", 16).unwrap(), b"0123456789");
        assert!(dechunk(b"zz\r\nxx\r\n", 16).is_err());
        assert!(dechunk(b"5\r\nab", 16).is_err());
    }

    #[test]
    fn reads_error_messages() {
        assert_eq!(
            error_message(404, "Not Found", br#"{"error":"no such container: x"}"#),
            "no such container: x"
        );
        assert_eq!(
            error_message(502, "Bad Gateway", b""),
            "the daemon answered 502 Bad Gateway"
        );
        assert_eq!(error_message(500, "", b"boom"), "the daemon answered 500: boom");
    }

    #[test]
    fn encodes() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(encode("web-1_x.y"), "web-1_x.y");
    }

    #[test]
    fn talks_to_a_fake_server() {
        use std::os::unix::net::UnixListener;
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let t = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"pid\": 42}",
                "HTTP/1.1 404 Not Found\r\ncontent-length: 25\r\n\r\n{\"error\":\"no such thing\"}",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n2\r\ncd\r\n0\r\n\r\n",
            ] {
                let (mut c, _) = l.accept().unwrap();
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut req = String::new();
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    req.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                assert!(req.contains("Connection: close"));
                if req.starts_with("PUT") {
                    assert!(req.contains("Content-Length: 14\r\n"), "{req}");
                    let mut b = [0u8; 14];
                    r.read_exact(&mut b).unwrap();
                    assert_eq!(&b, br#"{"args":["x"]}"#);
                }
                c.write_all(answer.as_bytes()).unwrap();
            }
        });
        let c = Client::new(Address::Unix(sock));
        let v = c
            .call(
                "PUT",
                "/containers/a/process",
                Some(&serde_json::json!({"args": ["x"]})),
            )
            .unwrap();
        assert_eq!(v["pid"], 42);
        match c.call("GET", "/containers/b", None) {
            Err(Error::Api { status: 404, message }) => assert_eq!(message, "no such thing"),
            other => panic!("unexpected {:?}", other.map(|_| ())),
        }
        let r = c.stream("GET", "/events", None).unwrap();
        assert_eq!(r.bytes().unwrap(), b"ab\ncd");
        t.join().unwrap();
    }

    #[test]
    fn unreachable_daemon_is_a_connect_error() {
        let c = Client::new(Address::Unix("/nonexistent/ctrd.sock".into()));
        let e = c.call("GET", "/state", None).unwrap_err();
        assert!(matches!(e, Error::Connect { .. }));
        assert!(e
            .to_string()
            .starts_with("cannot reach ctrd at unix:///nonexistent/ctrd.sock: "));
    }
}
