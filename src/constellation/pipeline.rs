//! HTTP/1.1 pipelining of repeatable requests (RFC 9112, section 9.3.2): requests that
//! callers bring while a connection's answers are awaited are written together, in one
//! write, and their answers read together. The kernel's cost is per call more than per
//! byte, so in a burst a push costs a fraction of a write and of a read.
//!
//! Only requests that may reach the server twice without harm come here (a push, a
//! subscription, settings): when a connection closes with requests unanswered, they are
//! written again on a new one, which no other request would allow. A new connection
//! carries one request alone: pipelining starts once the server has answered on it and
//! kept it open, so a server that closes every connection is never sent more than one.

use super::wire::{open, read_answer, timed_out, Answer, Endpoint, Failure};
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The most room a lane's read buffer keeps between rounds.
const KEEP_BUF: usize = 64 * 1024;

/// Connections carrying pipelined requests, each served by its own task: a lane.
pub(super) struct Pipeline {
    endpoint: Arc<Endpoint>,
    /// The most requests a lane holds, written or waiting to be.
    depth: usize,
    lanes: Mutex<Vec<Lane>>,
}

/// A lane as callers see it: its task's inbox, and how many requests it holds.
struct Lane {
    inbox: mpsc::UnboundedSender<Request>,
    load: Arc<AtomicUsize>,
}

/// A request given to a lane, and where its answer goes.
struct Request {
    bytes: Vec<u8>,
    max_body: usize,
    timeout: Duration,
    /// Whether it was already left unanswered by a connection that failed: the next
    /// failure is its caller's.
    retried: bool,
    reply: oneshot::Sender<io::Result<Answer>>,
}

impl Pipeline {
    /// Lanes to `endpoint`, each holding up to `depth` requests.
    pub(super) fn new(endpoint: Arc<Endpoint>, depth: usize) -> Self {
        Self {
            endpoint,
            depth,
            lanes: Mutex::new(Vec::new()),
        }
    }

    /// Sends `bytes`, a repeatable request, and awaits its answer (of at most
    /// `max_body` bytes when a success) for `timeout` once written.
    pub(super) async fn exchange(
        &self,
        bytes: Vec<u8>,
        max_body: usize,
        timeout: Duration,
    ) -> io::Result<Answer> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Request {
            bytes,
            max_body,
            timeout,
            retried: false,
            reply,
        });
        answer.await.unwrap_or_else(|_| Err(ended()))
    }

    /// Gives `request` to the first lane holding fewer than `depth` requests (filling
    /// lanes in turn makes the batches that save system calls), or to a new lane.
    fn enqueue(&self, request: Request) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        // A lane whose task is gone (its runtime ended) is replaced.
        lanes.retain(|lane| !lane.inbox.is_closed());
        let free = lanes
            .iter()
            .position(|lane| lane.load.load(Ordering::Relaxed) < self.depth);
        let at = free.unwrap_or_else(|| {
            lanes.push(Lane::start(self.endpoint.clone(), self.depth));
            lanes.len() - 1
        });
        let lane = &lanes[at];
        lane.load.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::error::SendError(request)) = lane.inbox.send(request) {
            lane.load.fetch_sub(1, Ordering::Relaxed);
            let _ = request.reply.send(Err(ended()));
        }
    }
}

impl Lane {
    fn start(endpoint: Arc<Endpoint>, depth: usize) -> Self {
        let (inbox, requests) = mpsc::unbounded_channel();
        let load = Arc::new(AtomicUsize::new(0));
        let carrier = Carrier {
            endpoint,
            requests,
            load: load.clone(),
            depth,
            waiting: VecDeque::new(),
            stream: None,
            buf: Vec::new(),
        };
        tokio::spawn(carrier.run());
        Self { inbox, load }
    }
}

/// A lane's task: its connection, and the requests it holds.
struct Carrier {
    endpoint: Arc<Endpoint>,
    requests: mpsc::UnboundedReceiver<Request>,
    load: Arc<AtomicUsize>,
    depth: usize,
    /// Requests to write, in order; those a closed connection left unanswered first.
    waiting: VecDeque<Request>,
    /// The connection, and whether the server kept it open after an answer.
    stream: Option<(TcpStream, bool)>,
    /// What was read past the last answer.
    buf: Vec<u8>,
}

impl Carrier {
    /// Serves requests until the pipeline is dropped.
    async fn run(mut self) {
        loop {
            if self.waiting.is_empty() {
                match self.requests.recv().await {
                    Some(request) => self.waiting.push_back(request),
                    None => return,
                }
            }
            while let Ok(request) = self.requests.try_recv() {
                self.waiting.push_back(request);
            }
            self.round().await;
            // A large answer (settings, a list) leaves no large buffer behind.
            self.buf.shrink_to(KEEP_BUF);
        }
    }

    /// Writes the waiting requests that fit, in one write, and reads their answers.
    async fn round(&mut self) {
        let Some((mut stream, mut proven)) = self.connection().await else {
            return;
        };
        let room = if proven { self.depth } else { 1 };
        let mut batch = Vec::with_capacity(room.min(self.waiting.len()));
        let mut out = Vec::new();
        while batch.len() < room {
            let Some(request) = self.waiting.pop_front() else {
                break;
            };
            if request.reply.is_closed() {
                // Its caller stopped waiting before it was written.
                self.load.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            out.extend_from_slice(&request.bytes);
            batch.push(request);
        }
        let Some(first) = batch.first() else {
            self.stream = Some((stream, proven));
            return;
        };
        let written = tokio::time::timeout(first.timeout, stream.write_all(&out)).await;
        if let Err(error) = written.unwrap_or_else(|_| Err(timed_out(first.timeout))) {
            self.requeue(batch.into_iter(), (!proven).then_some(error));
            return;
        }
        let started = Instant::now();
        let mut batch = batch.into_iter();
        while let Some(request) = batch.next() {
            let deadline = started + request.timeout;
            let read = read_answer(&mut stream, &mut self.buf, request.max_body);
            let read = tokio::time::timeout_at(deadline, read).await;
            let (error, unanswered) = match read {
                Ok(Ok((answer, keeps))) => {
                    self.finish(request, Ok(answer));
                    if keeps {
                        proven = true;
                        continue;
                    }
                    // The server closes the connection after this answer: it did not
                    // take what followed.
                    self.requeue(batch, None);
                    return;
                }
                Ok(Err(Failure::Unanswered { error, .. })) => (error, Some(request)),
                Ok(Err(Failure::Answering(error))) => {
                    self.finish(request, Err(copy(&error)));
                    (error, None)
                }
                Err(_) => {
                    let error = timed_out(request.timeout);
                    self.finish(request, Err(copy(&error)));
                    (error, None)
                }
            };
            // A connection that served requests and then failed (a keep-alive time
            // running out, a restart) is not the fault of those it left unanswered:
            // they go again. One that never answered counts against them.
            self.requeue(
                unanswered.into_iter().chain(batch),
                (!proven).then_some(error),
            );
            return;
        }
        if self.buf.is_empty() {
            self.stream = Some((stream, true));
        } else {
            // Bytes no request asked for: the connection is not used again.
            self.buf.clear();
        }
    }

    /// The kept connection while the server has not closed it, else a new one; none when
    /// it cannot be opened (the waiting requests then fail).
    async fn connection(&mut self) -> Option<(TcpStream, bool)> {
        if let Some(kept) = self.stream.take().filter(|(stream, _)| open(stream)) {
            return Some(kept);
        }
        self.buf.clear();
        let timeout = self.waiting.front().map_or(Duration::ZERO, |r| r.timeout);
        let connected = tokio::time::timeout(timeout, self.endpoint.connect()).await;
        match connected.unwrap_or_else(|_| Err(timed_out(timeout))) {
            Ok(stream) => Some((stream, false)),
            Err(error) => {
                for request in std::mem::take(&mut self.waiting) {
                    self.finish(request, Err(copy(&error)));
                }
                None
            }
        }
    }

    /// Puts unanswered requests back at the head of the line, in order. After a
    /// failure that counts against them (`error`), a request that was already left
    /// unanswered once gets it instead. Each connection either answers a request or
    /// counts against those it was given, so a request is not written forever.
    fn requeue(
        &mut self,
        requests: impl DoubleEndedIterator<Item = Request>,
        error: Option<io::Error>,
    ) {
        for mut request in requests.rev() {
            match &error {
                Some(error) if request.retried => self.finish(request, Err(copy(error))),
                _ => {
                    request.retried |= error.is_some();
                    self.waiting.push_front(request);
                }
            }
        }
    }

    /// Answers `request`'s caller.
    fn finish(&self, request: Request, answer: io::Result<Answer>) {
        self.load.fetch_sub(1, Ordering::Relaxed);
        let _ = request.reply.send(answer);
    }
}

/// The same error again, for each request a failure leaves unanswered.
fn copy(error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), error.to_string())
}

fn ended() -> io::Error {
    io::Error::other("the connection's task ended")
}
