//! The demo's one accept loop: every connection handed to its server's handler until cancelled, backing off when the process is out of descriptors.

use std::future::Future;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Accepts on `listener` until `cancel`, spawning `handle(stream)` for each
/// connection (the handler watches `cancel` itself, so it can close its
/// connection its own way). An accept error (out of file descriptors, say)
/// is waited out, never the end of serving: a load test's target keeps
/// answering as long as it can.
pub async fn accept_until<H, F>(listener: TcpListener, cancel: CancellationToken, mut handle: H)
where
    H: FnMut(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        tokio::spawn(handle(stream));
    }
}
