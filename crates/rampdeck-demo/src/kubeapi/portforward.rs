//! `GET pods/{name}/portforward?ports=...` over a WebSocket, as the API server and kubelet
//! serve it to kube-rs's `Api::<Pod>::portforward`: subprotocol `v4.channel.k8s.io`, binary
//! frames `[channel, payload...]`, for the i-th port a data channel 2i and an error channel
//! 2i+1, each opened by the server with the port as two little-endian bytes. The data
//! channel is bridged to a TCP connection to the pod's IP and port; a refused connection
//! is reported on the error channel, as the kubelet reports it. The WebSocket closes when
//! every port's connection has ended, when the client closes it, or when the demo stops.
//!
//! Not served: SPDY and the `portforward.k8s.io` tunnel `kubectl port-forward` prefers
//! (kubectl gets a 400 from the demo).

use std::net::Ipv4Addr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::core;
use super::error::ApiError;
use super::http::{full, Body};
use super::ops::not_found;
use super::query::Query;
use super::store::Key;
use super::KubeApi;

/// The one subprotocol served (the kubelet's binary v4 channel protocol).
pub const PROTOCOL: &str = "v4.channel.k8s.io";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read from a pod connection per frame.
const CHUNK: usize = 32 * 1024;

/// What the port bridges send to the WebSocket.
enum Out {
    Frame(Vec<u8>),
    /// A port's connection ended (or never opened).
    Done,
}

/// The ports of `?ports=80,8080` (kube-rs) or repeated `?ports=`... (last kept).
fn ports(q: &Query) -> Result<Vec<u16>, ApiError> {
    let raw = q.get("ports").unwrap_or("");
    let mut out = Vec::new();
    for p in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => out.push(n),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "invalid port {p:?}: must be between 1 and 65535"
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::BadRequest(
            "at least one port must be given: ?ports=N".to_owned(),
        ));
    }
    Ok(out)
}

/// Answers the upgrade and starts the bridge; errors before the upgrade are Status objects.
pub fn serve(api: &KubeApi, key: &Key, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::GET && req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let pod = api.store.get(key).ok_or_else(|| not_found(key))?;
    if core::phase(&pod) != "Running" {
        return Err(ApiError::BadRequest(format!(
            "unable to upgrade connection: pod {} is not running (phase {})",
            key.name,
            core::phase(&pod)
        )));
    }
    let ip: Ipv4Addr = pod["status"]["podIP"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unable to upgrade connection: pod {} has no IP yet",
                key.name
            ))
        })?;
    let headers = req.headers();
    let websocket = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(ws_key) = headers.get(SEC_WEBSOCKET_KEY).filter(|_| websocket) else {
        return Err(ApiError::BadRequest(format!(
            "port-forward needs a WebSocket upgrade with subprotocol {PROTOCOL} (as kube-rs sends it); the demo serves neither SPDY nor kubectl's tunnelled port-forward"
        )));
    };
    let offered: Vec<String> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect();
    if !offered.iter().any(|p| p == PROTOCOL) {
        return Err(ApiError::BadRequest(format!(
            "port-forward: the demo speaks only subprotocol {PROTOCOL} (as kube-rs sends it), not kubectl's tunnelled port-forward; the client offered {offered:?}"
        )));
    }
    let ports = ports(&Query::parse(req.uri().query()))?;
    let accept = derive_accept_key(ws_key.as_bytes());
    let who = format!("{}_{}, uid {}", key.name, key.namespace, core::uid(&pod));
    let cancel = api.cancel.clone();
    tokio::spawn(async move {
        // The client may give up before the upgrade completes; nothing to clean up then.
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            bridge(ws, ip, ports, who, cancel).await;
        }
    });
    let mut r = Response::new(full(Vec::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).map_err(|e| ApiError::BadRequest(e.to_string()))?,
    );
    h.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(PROTOCOL));
    Ok(r)
}

/// A connect error as Go words it (the kubelet's message is Go's `net.Dial` error).
fn dial_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
        ErrorKind::TimedOut => "i/o timeout".to_owned(),
        ErrorKind::HostUnreachable => "no route to host".to_owned(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            text.to_lowercase()
        }
    }
}

/// Copies a pod connection's bytes into data frames of `channel`.
async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, channel: u8, out: mpsc::Sender<Out>) {
    let mut buf = vec![0u8; CHUNK + 1];
    loop {
        buf[0] = channel;
        match from.read(&mut buf[1..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.send(Out::Frame(buf[..=n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = out.send(Out::Done).await;
}

async fn bridge<S>(
    ws: WebSocketStream<S>,
    ip: Ipv4Addr,
    ports: Vec<u16>,
    who: String,
    cancel: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    for (i, port) in ports.iter().enumerate() {
        let le = port.to_le_bytes();
        for channel in [2 * i as u8, 2 * i as u8 + 1] {
            if sink
                .send(Message::binary(vec![channel, le[0], le[1]]))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    let (tx, mut rx) = mpsc::channel::<Out>(64);
    let mut writers: Vec<Option<OwnedWriteHalf>> = Vec::with_capacity(ports.len());
    for (i, port) in ports.iter().enumerate() {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((ip, *port))).await {
            Ok(Ok(conn)) => {
                let _ = conn.set_nodelay(true);
                let (r, w) = conn.into_split();
                writers.push(Some(w));
                tokio::spawn(pump(r, 2 * i as u8, tx.clone()));
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => dial_error(&e),
                    _ => "i/o timeout".to_owned(),
                };
                writers.push(None);
                let mut frame = vec![2 * i as u8 + 1];
                frame.extend(
                    format!("error forwarding port {port} to pod {who}: dial tcp4 {ip}:{port}: connect: {why}")
                        .into_bytes(),
                );
                let _ = tx.send(Out::Frame(frame)).await;
                let _ = tx.send(Out::Done).await;
            }
        }
    }
    drop(tx);
    let mut open = ports.len();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            out = rx.recv() => match out {
                Some(Out::Frame(f)) => {
                    if sink.send(Message::binary(f)).await.is_err() {
                        return;
                    }
                }
                Some(Out::Done) => {
                    open -= 1;
                    if open == 0 {
                        break;
                    }
                }
                None => break,
            },
            got = stream.next() => match got {
                Some(Ok(Message::Binary(b))) if b.len() > 1 => {
                    let channel = usize::from(b[0]);
                    // Only data channels carry bytes to the pod; others are ignored.
                    if channel % 2 == 0 {
                        if let Some(slot) = writers.get_mut(channel / 2) {
                            if let Some(w) = slot {
                                if w.write_all(&b[1..]).await.is_err() {
                                    *slot = None;
                                }
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lists() {
        assert_eq!(
            ports(&Query::parse(Some("&ports=80%2C1234"))).unwrap(),
            [80, 1234]
        );
        assert!(ports(&Query::parse(Some("ports=0"))).is_err());
        assert!(ports(&Query::parse(None)).is_err());
    }
}
