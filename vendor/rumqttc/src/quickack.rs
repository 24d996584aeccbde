//! Patched (constellation-mqtt, see vendor/README.md): a TCP stream that acknowledges
//! what it reads at once.
//!
//! Linux delays a TCP acknowledgement (up to 40 ms) hoping to send it with data. An
//! MQTT client that acknowledges publishes only later (once their work is kept) sends
//! no data meanwhile, and a broker with Nagle's algorithm on (Mosquitto's default,
//! `set_tcp_nodelay false`) holds its next small packets until that acknowledgement:
//! every publish then waits for the client's previous PUBACK. `TCP_QUICKACK` is not
//! permanent (the kernel goes back to delaying), so it is set again after every read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP stream whose reads are acknowledged at once.
pub(crate) struct QuickAck(pub(crate) TcpStream);

impl QuickAck {
    fn acknowledge(&self) {
        #[cfg(target_os = "linux")]
        {
            // Best effort: a failure only leaves the kernel's delayed acknowledgement.
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.acknowledge();
        }
        read
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
