//! A lean gRPC load client straight on `h2`, for the hot-path benchmark.
//!
//! The load client shares the 2 cores with the scaler, so every microsecond
//! it spends per call is taken from the thing being measured (in a cluster,
//! KEDA calls from another pod). tonic's `Channel` adds a buffer task and the
//! hyper client on top of h2; this client sends pre-encoded requests on one
//! h2 connection and checks each answer: HTTP 200, `grpc-status: 0` and a
//! body that decodes as the method's response type.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HeaderValue, TE};
use http::{Method, Request, Uri};
use mcp_autoscaler::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, ScaledObjectRef,
};
use prost::Message;
use std::net::SocketAddr;
use std::sync::Arc;

/// The three methods KEDA polls, in the order calls rotate through them.
const METHODS: [&str; 3] = ["GetMetricSpec", "GetMetrics", "IsActive"];

/// One h2 connection and every request body, encoded once.
#[derive(Clone)]
pub struct RawClient {
    send: h2::client::SendRequest<Bytes>,
    uris: Arc<[Uri; 3]>,
    /// Per ScaledObject: the framed `ScaledObjectRef` and `GetMetricsRequest`.
    bodies: Arc<Vec<[Bytes; 2]>>,
}

/// A message in gRPC's length-prefixed framing (uncompressed).
fn framed(message: &impl Message) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.encoded_len());
    out.put_u8(0);
    out.put_u32(message.encoded_len() as u32);
    message.encode(&mut out).expect("capacity reserved");
    out.freeze()
}

impl RawClient {
    /// Connects to `addr` (plaintext HTTP/2) with the same windows as the
    /// tonic client, for ScaledObjects made by `so(i)`.
    pub async fn connect(
        addr: SocketAddr,
        count: usize,
        so: impl Fn(usize) -> ScaledObjectRef,
    ) -> Self {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (send, connection) = h2::client::Builder::new()
            .initial_connection_window_size(64 << 20)
            .initial_window_size(1 << 20)
            .handshake(tcp)
            .await
            .expect("h2 handshake");
        tokio::spawn(async move {
            connection.await.ok();
        });
        let uris = METHODS.map(|m| {
            format!("http://{addr}/externalscaler.ExternalScaler/{m}")
                .parse()
                .expect("uri")
        });
        let bodies = (0..count)
            .map(|i| {
                let so = so(i);
                let metrics = GetMetricsRequest {
                    scaled_object_ref: Some(so.clone()),
                    metric_name: "mcp-desired-replicas".into(),
                };
                [framed(&so), framed(&metrics)]
            })
            .collect();
        Self {
            send,
            uris: Arc::new(uris),
            bodies: Arc::new(bodies),
        }
    }

    /// Calls method `k` (see [`METHODS`]) for ScaledObject `i` and checks the
    /// answer.
    pub async fn call(&self, i: usize, k: usize) {
        let body = self.bodies[i][usize::from(k == 1)].clone();
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uris[k].clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/grpc"))
            .header(TE, HeaderValue::from_static("trailers"))
            .body(())
            .expect("request");
        let mut send = self.send.clone().ready().await.expect("connection open");
        let (response, mut stream) = send.send_request(request, false).expect("send headers");
        stream.send_data(body, true).expect("send body");
        let response = response.await.expect("response");
        assert_eq!(response.status(), 200, "{} answered HTTP", METHODS[k]);
        let mut body = response.into_body();
        let mut data = BytesMut::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("body");
            body.flow_control()
                .release_capacity(chunk.len())
                .expect("release");
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.expect("trailers").unwrap_or_default();
        let status = trailers.get("grpc-status").map(HeaderValue::as_bytes);
        assert_eq!(
            status,
            Some(&b"0"[..]),
            "{} failed: {trailers:?}",
            METHODS[k]
        );
        assert!(data.len() >= 5, "{} sent no message", METHODS[k]);
        data.advance(5);
        let decoded = match k {
            0 => GetMetricSpecResponse::decode(data).map(|_| ()),
            1 => GetMetricsResponse::decode(data).map(|_| ()),
            _ => IsActiveResponse::decode(data).map(|_| ()),
        };
        decoded.expect("the answer decodes as the method's response");
    }
}
