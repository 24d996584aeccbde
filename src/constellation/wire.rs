//! HTTP/1.1 over plain TCP, for `http://` servers: the lean transport of the REST client.
//!
//! Each exchange runs in the caller's task: the request is written whole in one write,
//! the answer read and framed here (head and chunk sizes parsed by `httparse`), and the
//! connection put back in a small idle set for the next request. No connection task, no
//! dispatch channel, no buffer held between exchanges: a long poll waiting for its answer
//! holds its socket and nothing else, and a push costs one write and one read.

use bytes::Bytes;
use std::io;
use std::net::IpAddr;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::{Host, Url};

/// Idle connections kept for reuse; more are closed when they come back.
const MAX_IDLE: usize = 256;
/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest response body accepted (a long poll's answer with `limit` 0 included).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Headers a response may carry.
const MAX_HEADERS: usize = 64;

/// Where the server is, and the connections to it that wait for a request.
pub(super) struct Wire {
    host: Target,
    port: u16,
    /// The `Host` header: the URL's host and port as written.
    authority: String,
    idle: Mutex<Vec<TcpStream>>,
}

#[derive(Debug)]
enum Target {
    Name(String),
    Ip(IpAddr),
}

/// An answer: its status and whole body.
pub(super) struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Wire {
    /// The transport for `base`, when it is an `http://` URL with a host.
    pub(super) fn for_url(base: &Url) -> Option<Self> {
        if base.scheme() != "http" {
            return None;
        }
        let host = match base.host()? {
            Host::Domain(d) => Target::Name(d.to_owned()),
            Host::Ipv4(a) => Target::Ip(a.into()),
            Host::Ipv6(a) => Target::Ip(a.into()),
        };
        let authority = base[url::Position::BeforeHost..url::Position::AfterPort].to_owned();
        Some(Self {
            host,
            port: base.port_or_known_default()?,
            authority,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The `Host` header value.
    pub(super) fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends `request` (head and body, as written on the wire) and reads the answer.
    /// A reused connection that the server closed before answering a single byte is
    /// replaced by a new one, once: that is a keep-alive connection the server dropped.
    pub(super) async fn exchange(&self, request: &[u8]) -> io::Result<Answer> {
        let reused = match self.checkout() {
            Some(stream) => match exchange_on(stream, request).await {
                Err(Failure::Unanswered(_)) => None,
                done => Some(done),
            },
            None => None,
        };
        let done = match reused {
            Some(done) => done,
            None => exchange_on(self.connect().await?, request).await,
        };
        let (answer, stream) =
            done.map_err(|(Failure::Unanswered(e) | Failure::Answering(e))| e)?;
        if let Some(stream) = stream {
            self.keep(stream);
        }
        Ok(answer)
    }

    async fn connect(&self) -> io::Result<TcpStream> {
        let stream = match &self.host {
            Target::Ip(ip) => TcpStream::connect((*ip, self.port)).await?,
            Target::Name(name) => TcpStream::connect((name.as_str(), self.port)).await?,
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// An idle connection still open, as far as the reactor knows (one the server closed
    /// is readable: dropped here without a system call).
    fn checkout(&self) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(stream) = idle.pop() {
            use futures_util::FutureExt;
            if stream.readable().now_or_never().is_none() {
                return Some(stream);
            }
        }
        None
    }

    /// Keeps `stream` for the next request (unless [`MAX_IDLE`] already wait).
    fn keep(&self, stream: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(stream);
        }
    }
}

/// Why an exchange failed: before any byte of the answer (the request may not have been
/// seen), or while reading it.
enum Failure {
    Unanswered(io::Error),
    Answering(io::Error),
}

/// One request and its answer on `stream`; the stream comes back when it may carry
/// another request.
async fn exchange_on(
    mut stream: TcpStream,
    request: &[u8],
) -> Result<(Answer, Option<TcpStream>), Failure> {
    stream
        .write_all(request)
        .await
        .map_err(Failure::Unanswered)?;
    let mut buf = Vec::new();
    // Whether any byte of an answer came (an interim one included).
    let mut answered = false;
    let head = loop {
        let read = match fill(&mut stream, &mut buf, MAX_HEAD).await {
            Ok(0) => Err(eof("the server closed the connection before answering")),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        read.map_err(|e| {
            if answered {
                Failure::Answering(e)
            } else {
                Failure::Unanswered(e)
            }
        })?;
        answered = true;
        match parse_head(&buf).map_err(Failure::Answering)? {
            Some(head) if head.status < 200 => {
                // An interim answer (100 Continue): the real one follows.
                buf.drain(..head.len);
            }
            Some(head) => break head,
            None => {}
        }
    };
    buf.drain(..head.len);
    let read = read_body(&mut stream, buf, &head).await;
    let body = read.map_err(Failure::Answering)?;
    let reusable = head.keep_alive && head.framed;
    let answer = Answer {
        status: head.status,
        body,
    };
    Ok((answer, reusable.then_some(stream)))
}

/// What the head of an answer says.
struct Head {
    /// Its length in bytes, blank line included.
    len: usize,
    status: u16,
    length: Option<usize>,
    chunked: bool,
    keep_alive: bool,
    /// Whether the body's end is known without the connection closing.
    framed: bool,
}

fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(format!("malformed answer: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    let mut head = Head {
        len,
        status,
        length: None,
        chunked: false,
        keep_alive: response.version == Some(1),
        framed: false,
    };
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?;
            head.length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        }
    }
    let bodiless = status == 204 || status == 304;
    head.framed = bodiless || head.chunked || head.length.is_some();
    if bodiless {
        head.length = Some(0);
        head.chunked = false;
    }
    Ok(Some(head))
}

/// The body after `head`, `buf` holding what was read past the head.
async fn read_body(stream: &mut TcpStream, mut buf: Vec<u8>, head: &Head) -> io::Result<Bytes> {
    if head.chunked {
        return read_chunked(stream, buf).await;
    }
    match head.length {
        Some(n) if n > MAX_BODY => Err(invalid(format!("a body of {n} bytes is too large"))),
        Some(n) => {
            buf.reserve(n.saturating_sub(buf.len()));
            while buf.len() < n {
                if fill(stream, &mut buf, n).await? == 0 {
                    return Err(eof("the server closed the connection mid-answer"));
                }
            }
            buf.truncate(n);
            Ok(buf.into())
        }
        // Neither length nor chunks: the body runs to the end of the connection.
        None => {
            while fill(stream, &mut buf, MAX_BODY).await? > 0 {}
            Ok(buf.into())
        }
    }
}

async fn read_chunked(stream: &mut TcpStream, mut raw: Vec<u8>) -> io::Result<Bytes> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let (skip, size) = loop {
            match httparse::parse_chunk_size(&raw[at..]) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) => more(stream, &mut raw).await?,
                Err(_) => return Err(invalid("malformed chunk size".into())),
            }
        };
        at += skip;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size == 0 {
            break;
        }
        if size > MAX_BODY - body.len() {
            return Err(invalid("a chunked body too large".into()));
        }
        // The chunk and its CRLF.
        while raw.len() - at < size + 2 {
            more(stream, &mut raw).await?;
        }
        if &raw[at + size..at + size + 2] != b"\r\n" {
            return Err(invalid("a chunk without its CRLF".into()));
        }
        body.extend_from_slice(&raw[at..at + size]);
        at += size + 2;
    }
    // Trailer fields, if any, up to the blank line.
    loop {
        match raw[at..].windows(2).position(|w| w == b"\r\n") {
            Some(0) => return Ok(body.into()),
            Some(line) => at += line + 2,
            None => more(stream, &mut raw).await?,
        }
        if raw.len() > MAX_BODY {
            return Err(invalid("chunked trailers too large".into()));
        }
    }
}

/// Reads more into `raw`; the end of the connection is an error here.
async fn more(stream: &mut TcpStream, raw: &mut Vec<u8>) -> io::Result<()> {
    if fill(stream, raw, MAX_BODY).await? == 0 {
        return Err(eof("the server closed the connection mid-answer"));
    }
    Ok(())
}

/// Reads what is available into `buf`, growing it up to `limit` bytes; 0 at the end of
/// the connection.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    if buf.len() >= limit {
        return Err(invalid(format!("an answer beyond {limit} bytes")));
    }
    if buf.capacity() == buf.len() {
        buf.reserve((buf.len().max(512)).min(limit - buf.len()));
    }
    stream.read_buf(buf).await
}

fn invalid(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

fn eof(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, reason)
}
