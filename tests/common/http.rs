//! Scripted HTTP servers: what the REST client meets besides the simulator (split
//! answers, connections closed early, answers held back for pipelined requests), and
//! what each saw.

/// What a scripted server saw: each request's text, and how many connections.
#[derive(Default)]
pub struct Seen {
    pub requests: std::sync::Mutex<Vec<String>>,
    pub connections: std::sync::atomic::AtomicUsize,
    /// Connections on which more bytes came before the first request was answered.
    pub early: std::sync::atomic::AtomicUsize,
}

/// Listens on an ephemeral port and runs `connection` for each connection accepted,
/// each in its own task, counting them in what it returns.
async fn serve<F, Fut>(connection: F) -> (url::Url, std::sync::Arc<Seen>)
where
    F: Fn(tokio::net::TcpStream, std::sync::Arc<Seen>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(Seen::default());
    let on_server = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            on_server
                .connections
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(connection(stream, on_server.clone()));
        }
    });
    (url::Url::parse(&format!("http://{addr}/")).unwrap(), seen)
}

/// A server that answers each request with `pieces`, written one by one (so answers
/// arrive split), and closes each connection after `per_connection` answers — without
/// saying so, as a server whose keep-alive time ran out does.
pub async fn scripted_server(
    pieces: &'static [&'static [u8]],
    per_connection: usize,
) -> (url::Url, std::sync::Arc<Seen>) {
    scripted(pieces, per_connection, false).await
}

/// Like [`scripted_server`], but after its answers a connection reads one more request
/// and closes without answering it (a keep-alive connection closed just as a request
/// was written).
pub async fn scripted(
    pieces: &'static [&'static [u8]],
    per_connection: usize,
    mute_after: bool,
) -> (url::Url, std::sync::Arc<Seen>) {
    use std::sync::atomic::Ordering;
    use tokio::io::AsyncWriteExt;
    serve(move |mut stream, seen| async move {
        let mut buf = Vec::new();
        for n in 0..per_connection + usize::from(mute_after) {
            let Some(request) = read_request(&mut stream, &mut buf).await else {
                return;
            };
            seen.requests.lock().unwrap().push(request);
            if n == 0 && !buf.is_empty() {
                seen.early.fetch_add(1, Ordering::SeqCst);
            }
            if n == per_connection {
                return;
            }
            for piece in pieces {
                if stream.write_all(piece).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
                tokio::task::yield_now().await;
            }
        }
    })
    .await
}

/// Reads what comes into `buf`; false at the end of the connection.
pub async fn read_more(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// Reads one request from `stream` (its head, then as many bytes as it announces), `buf`
/// holding what was read before and keeping what follows; none at the end of the
/// connection.
pub async fn read_request(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !read_more(stream, buf).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < end + length {
        if !read_more(stream, buf).await {
            return None;
        }
    }
    let request = String::from_utf8_lossy(&buf[..end + length]).into_owned();
    buf.drain(..end + length);
    Some(request)
}

/// A server that answers the first request of each connection at once, then holds its
/// answers back until `batch` more requests have come on that connection, and answers
/// them together: only a client that pipelines gets those answers.
pub async fn gathering_server(batch: usize) -> (url::Url, std::sync::Arc<Seen>) {
    use tokio::io::AsyncWriteExt;
    serve(move |mut stream, seen| async move {
        let mut buf = Vec::new();
        let (mut held, mut answered) = (0, 0);
        while let Some(request) = read_request(&mut stream, &mut buf).await {
            seen.requests.lock().unwrap().push(request);
            held += 1;
            if answered == 0 || held == batch {
                answered += held;
                if stream.write_all(&NO_CONTENT.repeat(held)).await.is_err() {
                    return;
                }
                held = 0;
            }
        }
    })
    .await
}

/// A server that, like most, serves each connection's requests one at a time, and
/// answers none until `k` requests are being served at once over all connections: a
/// client that queues a request behind another's answer on one connection never gets
/// there. With `warm`, the very first request is answered at once and not counted.
pub async fn barrier_server(k: usize, warm: bool) -> (url::Url, std::sync::Arc<Seen>) {
    use tokio::io::AsyncWriteExt;
    let reached = std::sync::Arc::new(tokio::sync::watch::channel(false).0);
    serve(move |mut stream, seen| {
        let reached = reached.clone();
        async move {
            let mut buf = Vec::new();
            while let Some(request) = read_request(&mut stream, &mut buf).await {
                let serving = {
                    let mut requests = seen.requests.lock().unwrap();
                    requests.push(request);
                    requests.len() - usize::from(warm)
                };
                if serving >= k {
                    reached.send_replace(true);
                }
                let mut wait = reached.subscribe();
                if serving > 0 && wait.wait_for(|r| *r).await.is_err() {
                    return;
                }
                if stream.write_all(NO_CONTENT).await.is_err() {
                    return;
                }
            }
        }
    })
    .await
}

/// An answer with nothing to read.
const NO_CONTENT: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
