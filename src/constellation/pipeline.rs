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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// Where the lanes' clocks start.
    epoch: Instant,
}

/// The most lanes; beyond, a request joins the lane holding the fewest.
const MAX_LANES: usize = 256;

/// A lane as callers see it: its task's inbox, and what it is doing.
struct Lane {
    inbox: mpsc::UnboundedSender<Request>,
    state: Arc<LaneState>,
}

/// What a lane is doing, as its callers see it.
#[derive(Default)]
struct LaneState {
    /// Requests it holds: given to it and not yet answered.
    held: AtomicUsize,
    /// When it began writing requests to await their answers (its round), in µs since
    /// the pipeline's epoch, plus one; 0 out of a round.
    round_began: AtomicU64,
    /// Whether the server answered its last round within [`QUEUE_BEHIND`].
    fast: AtomicBool,
}

/// A request may wait behind a lane's round when the server answered that lane's last
/// round within this, and the round has not lasted longer: against a server that
/// quick, the wait is short and the shared write is worth it; against a slower one, or
/// one stuck on a request, requests go on other connections, which it may serve at
/// once.
const QUEUE_BEHIND: Duration = Duration::from_millis(1);

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
            epoch: Instant::now(),
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

    /// Gives `request` to a lane with room that already holds requests, when it is
    /// not in a round or its server is quick (see [`QUEUE_BEHIND`]): that is the batch
    /// that saves system calls. Else to an idle lane, else to a new one. A slow server
    /// thus gets as many requests at once as it did without pipelining.
    fn enqueue(&self, mut request: Request) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        // A lane whose task is gone (its runtime ended) is replaced, once: a new lane's
        // task is gone too only when the runtime is shutting down.
        for _ in 0..2 {
            let at = self.choose(&mut lanes);
            let lane = &lanes[at];
            lane.state.held.fetch_add(1, Ordering::Relaxed);
            match lane.inbox.send(request) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => {
                    lanes.swap_remove(at);
                    request = back;
                }
            }
        }
        let _ = request.reply.send(Err(ended()));
    }

    /// The lane for the next request (see [`Pipeline::enqueue`]), started if need be.
    fn choose(&self, lanes: &mut Vec<Lane>) -> usize {
        let held = |lane: &Lane| lane.state.held.load(Ordering::Relaxed);
        let now = micros(self.epoch.elapsed());
        let joinable = |lane: &Lane| match lane.state.round_began.load(Ordering::Relaxed) {
            0 => true,
            began => {
                lane.state.fast.load(Ordering::Relaxed)
                    && now.saturating_sub(began) < micros(QUEUE_BEHIND)
            }
        };
        let collecting = lanes
            .iter()
            .position(|lane| joinable(lane) && (1..self.depth).contains(&held(lane)));
        let idle = || lanes.iter().position(|lane| held(lane) == 0);
        match collecting.or_else(idle) {
            Some(at) => at,
            None if lanes.len() < MAX_LANES => {
                lanes.push(Lane::start(self.endpoint.clone(), self.depth, self.epoch));
                lanes.len() - 1
            }
            None => (0..lanes.len())
                .min_by_key(|&i| held(&lanes[i]))
                .unwrap_or_default(),
        }
    }
}

impl Lane {
    fn start(endpoint: Arc<Endpoint>, depth: usize, epoch: Instant) -> Self {
        let (inbox, requests) = mpsc::unbounded_channel();
        let state = Arc::new(LaneState::default());
        let carrier = Carrier {
            endpoint,
            requests,
            state: state.clone(),
            epoch,
            depth,
            waiting: VecDeque::new(),
            stream: None,
            buf: Vec::new(),
        };
        tokio::spawn(carrier.run());
        Self { inbox, state }
    }
}

/// A lane's task: its connection, and the requests it holds.
struct Carrier {
    endpoint: Arc<Endpoint>,
    requests: mpsc::UnboundedReceiver<Request>,
    state: Arc<LaneState>,
    /// The pipeline's epoch, for [`LaneState::round_began`].
    epoch: Instant,
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
            let began = micros(self.epoch.elapsed()).saturating_add(1);
            self.state.round_began.store(began, Ordering::Relaxed);
            self.round().await;
            self.state.round_began.store(0, Ordering::Relaxed);
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
                self.state.held.fetch_sub(1, Ordering::Relaxed);
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
        let fast = started.elapsed() < QUEUE_BEHIND;
        self.state.fast.store(fast, Ordering::Relaxed);
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
        self.state.held.fetch_sub(1, Ordering::Relaxed);
        let _ = request.reply.send(answer);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The same error again, for each request a failure leaves unanswered.
fn copy(error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), error.to_string())
}

fn ended() -> io::Error {
    io::Error::other("the connection's task ended")
}
