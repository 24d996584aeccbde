//! HTTP/1.1 over plain TCP, for `http://` servers: the lean transport of the REST client.
//!
//! Each exchange runs in the caller's task: the request is written whole in one write,
//! the answer read and framed here (head and chunk sizes parsed by `httparse`), and the
//! connection put back in a small idle set for the next request. No connection task, no
//! dispatch channel, no buffer held between exchanges: a long poll waiting for its answer
//! holds its socket and nothing else. (Repeatable requests may instead share
//! connections: see `pipeline`, which reads its answers with [`read_answer`].)

use bytes::Bytes;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::{Host, Url};

/// Idle connections kept for reuse; more are closed when they come back.
const MAX_IDLE: usize = 256;
/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest body of an error answer (a 4xx or 5xx page), whatever the action's limit.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Headers a response may carry.
const MAX_HEADERS: usize = 64;

/// Where the server is, and the connections to it that wait for a request.
pub(super) struct Wire {
    endpoint: Arc<Endpoint>,
    /// The `Host` header: the URL's host and port as written.
    authority: String,
    idle: Mutex<Vec<TcpStream>>,
}

/// The server's address, and how a connection to it is opened.
pub(super) struct Endpoint {
    host: Target,
    port: u16,
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
    /// The request was written on a kept connection that closed without answering, and
    /// sent again on a new one: the server may have taken it twice.
    pub resent: bool,
}

/// What the caller allows of one exchange.
#[derive(Clone, Copy)]
pub(super) struct Terms {
    /// The largest successful answer's body accepted; more is a protocol error.
    pub max_body: usize,
    /// Whether the request may reach the server twice without harm (see
    /// [`Wire::exchange`]).
    pub repeatable: bool,
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
        let endpoint = Arc::new(Endpoint {
            host,
            port: base.port_or_known_default()?,
        });
        Some(Self {
            endpoint,
            authority,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The `Host` header value.
    pub(super) fn authority(&self) -> &str {
        &self.authority
    }

    /// The server's address.
    pub(super) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// Sends `request` (head and body, as written on the wire) and reads the answer.
    /// A kept connection that the server closed before answering a single byte is
    /// replaced by a new one, once: that is a keep-alive connection the server dropped.
    /// When the request was written before the connection closed, the server may have
    /// taken it: a request that is not `repeatable` is still sent once more (a closed
    /// keep-alive connection almost never took it), and the answer says so (`resent`).
    pub(super) async fn exchange(&self, request: &[u8], terms: Terms) -> io::Result<Answer> {
        let mut resent = false;
        let reused = match self.checkout() {
            Some(stream) => match exchange_on(stream, request, terms.max_body).await {
                Err(Failure::Unanswered { written, .. }) => {
                    resent = written && !terms.repeatable;
                    None
                }
                done => Some(done),
            },
            None => None,
        };
        let done = match reused {
            Some(done) => done,
            None => exchange_on(self.endpoint.connect().await?, request, terms.max_body).await,
        };
        let (mut answer, stream) = done.map_err(|failure| match failure {
            Failure::Unanswered { error, .. } | Failure::Answering(error) => error,
        })?;
        answer.resent = resent;
        if let Some(stream) = stream {
            self.keep(stream);
        }
        Ok(answer)
    }

    /// An idle connection still open, as far as the reactor knows (see [`open`]).
    fn checkout(&self) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(stream) = idle.pop() {
            if open(&stream) {
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

impl Endpoint {
    /// A new connection to the server, without Nagle's delay.
    pub(super) async fn connect(&self) -> io::Result<TcpStream> {
        let stream = match &self.host {
            Target::Ip(ip) => TcpStream::connect((*ip, self.port)).await?,
            Target::Name(name) => TcpStream::connect((name.as_str(), self.port)).await?,
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Whether a kept connection is still open, as far as the reactor knows: one the server
/// closed is readable, and is found so without a system call.
pub(super) fn open(stream: &TcpStream) -> bool {
    use futures_util::FutureExt;
    stream.readable().now_or_never().is_none()
}

/// Why an exchange failed: before any byte of the answer (the request may not have been
/// seen, or not even written), or while reading it.
pub(super) enum Failure {
    Unanswered { error: io::Error, written: bool },
    Answering(io::Error),
}

/// One request and its answer on `stream`; the stream comes back when it may carry
/// another request.
async fn exchange_on(
    mut stream: TcpStream,
    request: &[u8],
    max_body: usize,
) -> Result<(Answer, Option<TcpStream>), Failure> {
    stream
        .write_all(request)
        .await
        .map_err(|error| Failure::Unanswered {
            error,
            written: false,
        })?;
    let mut buf = Vec::new();
    let (answer, keeps) = read_answer(&mut stream, &mut buf, max_body).await?;
    // Bytes after the answer belong to no request: the connection is not used again.
    let reusable = keeps && buf.is_empty();
    Ok((answer, reusable.then_some(stream)))
}

/// Reads the next answer on `stream` (interim ones skipped), of at most `max_body`
/// bytes when it is a success; and whether the connection may carry more after it.
/// `buf` holds what was read before it, and keeps what comes after it: the next answer,
/// on a pipelined connection.
pub(super) async fn read_answer(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    max_body: usize,
) -> Result<(Answer, bool), Failure> {
    // Whether any byte of an answer came (an interim one included).
    let mut answered = !buf.is_empty();
    let head = loop {
        match parse_head(buf).map_err(Failure::Answering)? {
            Some(head) if head.status < 200 => {
                // An interim answer (100 Continue): the real one follows.
                buf.drain(..head.len);
                continue;
            }
            Some(head) => break head,
            None => {}
        }
        let read = match fill(stream, buf, MAX_HEAD).await {
            Ok(0) => Err(eof("the server closed the connection before answering")),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        read.map_err(|e| {
            if answered {
                Failure::Answering(e)
            } else {
                Failure::Unanswered {
                    error: e,
                    written: true,
                }
            }
        })?;
        answered = true;
    };
    buf.drain(..head.len);
    let limit = if (200..300).contains(&head.status) {
        max_body
    } else {
        max_body.max(MAX_ERROR_BODY)
    };
    let body = read_body(stream, buf, &head, limit)
        .await
        .map_err(Failure::Answering)?;
    let answer = Answer {
        status: head.status,
        body,
        resent: false,
    };
    Ok((answer, head.keep_alive && head.framed))
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

/// The head of an answer at the start of `buf`, once it is whole (none before). A
/// repeated `Content-Length`, or one beside `Transfer-Encoding`, is an error: the body's
/// end would be ambiguous.
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
            if head.length.replace(n).is_some() {
                return Err(invalid("Content-Length given twice".into()));
            }
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
    if head.chunked && head.length.is_some() {
        return Err(invalid(
            "both Content-Length and Transfer-Encoding: chunked".into(),
        ));
    }
    let bodiless = status == 204 || status == 304;
    head.framed = bodiless || head.chunked || head.length.is_some();
    if bodiless {
        head.length = Some(0);
        head.chunked = false;
    }
    Ok(Some(head))
}

/// The body after `head`, of at most `limit` bytes. `buf` holds what was read past the
/// head, and keeps what was read past the body.
async fn read_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head: &Head,
    limit: usize,
) -> io::Result<Bytes> {
    if head.chunked {
        return read_chunked(stream, buf, limit).await;
    }
    match head.length {
        Some(n) if n > limit => Err(too_large(n, limit)),
        Some(n) => {
            buf.reserve(n.saturating_sub(buf.len()));
            while buf.len() < n {
                if fill(stream, buf, n).await? == 0 {
                    return Err(eof("the server closed the connection mid-answer"));
                }
            }
            if buf.len() == n {
                return Ok(std::mem::take(buf).into());
            }
            // The next answer follows (pipelined): the body is copied out, not the rest
            // (an empty body, most answers, costs nothing).
            let body = Bytes::copy_from_slice(&buf[..n]);
            buf.drain(..n);
            Ok(body)
        }
        // Neither length nor chunks: the body runs to the end of the connection.
        None => {
            while fill(stream, buf, limit + 1).await? > 0 {
                if buf.len() > limit {
                    return Err(too_large(buf.len(), limit));
                }
            }
            Ok(std::mem::take(buf).into())
        }
    }
}

async fn read_chunked(
    stream: &mut TcpStream,
    raw: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Bytes> {
    let mut chunks = Chunked::new(limit);
    loop {
        if let Some(end) = chunks.step(raw)? {
            raw.drain(..end);
            return Ok(chunks.body.into());
        }
        // What is decoded is not kept twice: `raw` holds at most a chunk and its framing.
        raw.drain(..chunks.at);
        chunks.at = 0;
        more(stream, raw, limit).await?;
    }
}

/// A chunked body, decoded as its bytes arrive: [`Chunked::step`] takes everything read
/// so far and goes on where it stopped.
struct Chunked {
    body: Vec<u8>,
    /// Where in the raw bytes decoding goes on.
    at: usize,
    /// In the trailer fields (the last chunk read).
    trailers: bool,
    limit: usize,
}

impl Chunked {
    fn new(limit: usize) -> Self {
        Self {
            body: Vec::new(),
            at: 0,
            trailers: false,
            limit,
        }
    }

    /// Decodes what `raw` (all bytes read so far) holds past the last call: where the
    /// body ends in `raw` once it is whole, none while more is needed.
    fn step(&mut self, raw: &[u8]) -> io::Result<Option<usize>> {
        while !self.trailers {
            let (skip, size) = match httparse::parse_chunk_size(&raw[self.at..]) {
                Ok(httparse::Status::Complete(found)) => found,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(_) => return Err(invalid("malformed chunk size".into())),
            };
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if size == 0 {
                self.at += skip;
                self.trailers = true;
                break;
            }
            if size > self.limit - self.body.len() {
                return Err(too_large(self.body.len().saturating_add(size), self.limit));
            }
            // The chunk and its CRLF.
            let start = self.at + skip;
            if raw.len() - start < size + 2 {
                return Ok(None);
            }
            if &raw[start + size..start + size + 2] != b"\r\n" {
                return Err(invalid("a chunk without its CRLF".into()));
            }
            self.body.extend_from_slice(&raw[start..start + size]);
            self.at = start + size + 2;
        }
        // Trailer fields, if any, up to the blank line.
        loop {
            match raw[self.at..].windows(2).position(|w| w == b"\r\n") {
                Some(0) => return Ok(Some(self.at + 2)),
                Some(line) => self.at += line + 2,
                None if raw.len() - self.at > MAX_HEAD => {
                    return Err(invalid("chunked trailers too large".into()))
                }
                None => return Ok(None),
            }
        }
    }
}

/// Reads more into `raw` (the rest of a chunked body of at most `limit` bytes, with its
/// framing); the end of the connection is an error here.
async fn more(stream: &mut TcpStream, raw: &mut Vec<u8>, limit: usize) -> io::Result<()> {
    if fill(stream, raw, limit.saturating_add(MAX_HEAD)).await? == 0 {
        return Err(eof("the server closed the connection mid-answer"));
    }
    Ok(())
}

/// Reads what is available into `buf`, growing it up to `limit` bytes; 0 at the end of
/// the connection. The room is made once bytes are there: a long poll waiting for its
/// answer (every package has one) holds no buffer.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    if buf.len() >= limit {
        return Err(invalid(format!("an answer beyond {limit} bytes")));
    }
    stream.readable().await?;
    if buf.capacity() == buf.len() {
        buf.reserve((buf.len().max(512)).min(limit - buf.len()));
    }
    // Read as `AsyncRead` does (not `try_read_buf`): a short read clears the socket's
    // readiness, which `Wire::checkout` reads as "closed by the server".
    stream.read_buf(buf).await
}

/// No answer came within `timeout`.
pub(super) fn timed_out(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no answer within {} ms", timeout.as_millis()),
    )
}

fn invalid(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

fn too_large(n: usize, limit: usize) -> io::Error {
    invalid(format!("a body of {n} bytes, beyond this action's {limit}"))
}

fn eof(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `body` sent in chunks of the given sizes (each at least 1), with an extension on
    /// some and a trailer field at the end.
    fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut raw = Vec::new();
        let mut rest = body;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
            let ext = if n.is_multiple_of(2) { ";x=1" } else { "" };
            raw.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
            raw.extend_from_slice(&rest[..n]);
            raw.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        raw.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
        raw
    }

    proptest! {
        /// Fed as it arrives, in pieces split anywhere, a chunked body decodes to the
        /// same bytes and ends at the same place as when it arrives whole.
        #[test]
        fn a_chunked_body_decodes_the_same_whatever_its_splits(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            sizes in proptest::collection::vec(1usize..80, 1..8),
            splits in proptest::collection::vec(0usize..700, 0..12),
            extra in proptest::collection::vec(any::<u8>(), 0..4),
        ) {
            let mut raw = chunked(&body, &sizes);
            let end = raw.len();
            raw.extend_from_slice(&extra);
            let mut cuts: Vec<usize> = splits.into_iter().map(|s| s % (raw.len() + 1)).collect();
            cuts.push(raw.len());
            cuts.sort_unstable();
            let mut decoder = Chunked::new(usize::MAX / 2);
            let mut found = None;
            for cut in cuts {
                if let Some(at) = decoder.step(&raw[..cut]).unwrap() {
                    found = Some(at);
                    break;
                }
            }
            prop_assert_eq!(found, Some(end));
            prop_assert_eq!(decoder.body, body);
        }

        /// A head is found only once whole, and is the same whatever came after it.
        #[test]
        fn a_head_is_parsed_only_whole_and_alike(
            status in 200u16..600,
            length in 0usize..100_000,
            close in any::<bool>(),
            rest in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let connection = if close { "Connection: close\r\n" } else { "" };
            let text = format!("HTTP/1.1 {status} X\r\nContent-Length: {length}\r\n{connection}\r\n");
            let mut raw = text.clone().into_bytes();
            raw.extend_from_slice(&rest);
            for cut in 0..text.len() {
                prop_assert!(parse_head(&raw[..cut]).unwrap().is_none());
            }
            let head = parse_head(&raw).unwrap().unwrap();
            prop_assert_eq!(head.len, text.len());
            prop_assert_eq!(head.status, status);
            prop_assert_eq!(head.keep_alive, !close);
            let bodiless = status == 204 || status == 304;
            prop_assert_eq!(head.length, Some(if bodiless { 0 } else { length }));
        }

        /// Nothing a server sends makes the head parser or the chunk decoder panic.
        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_head(&raw);
            let _ = Chunked::new(1024).step(&raw);
        }
    }

    #[test]
    fn a_chunked_body_over_the_limit_is_refused() {
        let raw = chunked(&[7; 100], &[60]);
        let e = Chunked::new(80).step(&raw).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
