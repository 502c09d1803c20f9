//! One HTTP/1.1 exchange over a fresh TCP connection: how the RM talks to etcd's JSON
//! gateway and how its web proxy reaches an AM's UI (hyper is in the build already, under
//! axum; a pooled client would keep connections to AMs that come and go).

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Bytes};
use hyper::http::response::Parts;

/// Sends `req` to `host` (`host:port`) and reads the answer, at most `max_body` bytes of
/// body; errors are said in words (the callers put them in pages and logs).
pub(crate) async fn exchange<B>(
    host: &str,
    req: hyper::Request<B>,
    max_body: usize,
) -> Result<(Parts, Bytes), String>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| format!("cannot reach {host}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let bytes = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|e| format!("the answer from {host}: {e}"))?
            .to_bytes();
        Ok((parts, bytes))
    }
    .await;
    driver.abort();
    result
}
