//! A small client of etcd's v3 API through its JSON gateway (`POST /v3/...`, keys and
//! values in base64, 64-bit numbers as JSON strings).
//!
//! Why the gateway and not the `etcd-client` crate: that crate generates its gRPC code
//! from `.proto` files at build time and needs `protoc`, which is not on our build
//! machines; it would also bring tonic, prost and h2 into the RM. The gateway has been
//! part of every etcd since 3.3 (`/v3/` from 3.4, Debian's version), speaks plain HTTP/1.1,
//! and the five calls the RM needs (lease grant/keep-alive/revoke, range, txn) are
//! small JSON documents: hyper (already in the build, under axum) carries them.
//!
//! One short-lived TCP connection per request: the RM makes a few a second, and a
//! connection per request can never be stuck on a dead member.

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    #[error("etcd endpoint {endpoint:?} is not http://host:port")]
    BadEndpoint { endpoint: String },
    #[error("no etcd endpoint answered {call} (tried {endpoints}): {reason}")]
    Unavailable {
        call: &'static str,
        endpoints: String,
        reason: String,
    },
    #[error("etcd refused {call}: {reason}")]
    Refused { call: &'static str, reason: String },
}

/// Base64 as the gateway wants bytes.
fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

/// The gateway writes int64 as strings; it omits zero values.
fn num<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        S(String),
        I(i64),
    }
    match N::deserialize(d)? {
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
        N::I(i) => Ok(i),
    }
}

/// One key-value as etcd returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub create_revision: i64,
}

#[derive(Deserialize)]
struct WireKv {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default, deserialize_with = "num")]
    create_revision: i64,
}

impl From<WireKv> for Kv {
    fn from(w: WireKv) -> Self {
        Self {
            key: unb64(&w.key),
            value: unb64(&w.value),
            create_revision: w.create_revision,
        }
    }
}

/// A lease as grant and keep-alive answer it (TTL 0 or absent: etcd no longer has it).
#[derive(Deserialize)]
struct LeaseResp {
    #[serde(rename = "ID", default, deserialize_with = "num")]
    id: i64,
    #[serde(rename = "TTL", default, deserialize_with = "num")]
    ttl: i64,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize, Default)]
struct Header {
    #[serde(default, deserialize_with = "num")]
    revision: i64,
}

#[derive(Deserialize)]
struct RangeResp {
    #[serde(default)]
    kvs: Vec<WireKv>,
}

#[derive(Deserialize)]
struct TxnResp {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<serde_json::Value>,
}

/// A condition of a transaction.
#[derive(Debug, Clone)]
pub enum Compare {
    /// The key's create revision (0: the key does not exist).
    CreateRevision { key: Vec<u8>, revision: i64 },
}

/// An operation of a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        /// 0: no lease.
        lease: i64,
    },
    Get {
        key: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
}

impl Compare {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::CreateRevision { key, revision } => serde_json::json!({
                "key": b64(key), "target": "CREATE", "result": "EQUAL",
                "create_revision": revision.to_string(),
            }),
        }
    }
}

impl Op {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Put { key, value, lease } => serde_json::json!({
                "request_put": {"key": b64(key), "value": b64(value), "lease": lease.to_string()}
            }),
            Self::Get { key } => serde_json::json!({"request_range": {"key": b64(key)}}),
            Self::Delete { key } => {
                serde_json::json!({"request_delete_range": {"key": b64(key)}})
            }
        }
    }
}

/// What a transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOutcome {
    pub succeeded: bool,
    /// The store's revision after it.
    pub revision: i64,
    /// The keys its `Get`s found, in order.
    pub found: Vec<Kv>,
}

/// A client of one etcd cluster (any of its endpoints).
#[derive(Debug, Clone)]
pub struct Etcd {
    /// `host:port` of each member's client URL.
    endpoints: Vec<String>,
    timeout: Duration,
}

impl Etcd {
    /// `endpoints`: `http://host:port` (TLS to etcd is not supported yet). Every
    /// request is bounded by `timeout`.
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<Self, EtcdError> {
        let mut hosts = Vec::new();
        for e in endpoints {
            let host = e
                .strip_prefix("http://")
                .map(|h| h.trim_end_matches('/'))
                .filter(|h| {
                    h.rsplit_once(':')
                        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                })
                .ok_or_else(|| EtcdError::BadEndpoint {
                    endpoint: e.clone(),
                })?;
            hosts.push(host.to_string());
        }
        if hosts.is_empty() {
            return Err(EtcdError::BadEndpoint {
                endpoint: String::new(),
            });
        }
        Ok(Self {
            endpoints: hosts,
            timeout,
        })
    }

    /// POSTs `body` to `path` at the first endpoint that answers.
    async fn post(
        &self,
        call: &'static str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<Vec<u8>, EtcdError> {
        let body = Bytes::from(serde_json::to_vec(&body).expect("json"));
        let mut last = String::new();
        for host in &self.endpoints {
            match tokio::time::timeout(self.timeout, post_once(host, path, body.clone())).await {
                Ok(Ok((200, bytes))) => return Ok(bytes),
                Ok(Ok((status, bytes))) => {
                    // etcd answered: another member would say the same.
                    return Err(EtcdError::Refused {
                        call,
                        reason: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
                    });
                }
                Ok(Err(e)) => last = format!("{host}: {e}"),
                Err(_) => last = format!("{host}: no answer within {:?}", self.timeout),
            }
        }
        Err(EtcdError::Unavailable {
            call,
            endpoints: self.endpoints.join(", "),
            reason: last,
        })
    }

    /// POSTs `body` and reads the answer as `T`: the first JSON document of it (a
    /// streaming call such as keep-alive answers one per line).
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        call: &'static str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, EtcdError> {
        let bytes = self.post(call, path, body).await?;
        let first = bytes
            .split(|c| *c == b'\n')
            .find(|l| !l.iter().all(u8::is_ascii_whitespace))
            .unwrap_or(&bytes);
        serde_json::from_slice(first).map_err(|e| EtcdError::Refused {
            call,
            reason: format!(
                "unreadable answer ({e}): {}",
                String::from_utf8_lossy(&bytes)
            ),
        })
    }

    /// A lease call (`/v3/lease/WHAT`) whose body is one number, `{FIELD: "value"}`.
    async fn lease_call<T: serde::de::DeserializeOwned>(
        &self,
        call: &'static str,
        what: &str,
        field: &str,
        value: i64,
    ) -> Result<T, EtcdError> {
        let mut body = serde_json::Map::new();
        body.insert(field.into(), value.to_string().into());
        self.call(call, &format!("/v3/lease/{what}"), body.into())
            .await
    }

    /// A new lease of `ttl` (etcd rounds very short ones up); its id.
    pub async fn grant(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let secs = ttl.as_secs().max(1) as i64;
        let r: LeaseResp = self.lease_call("lease grant", "grant", "TTL", secs).await?;
        if r.id == 0 {
            return Err(EtcdError::Refused {
                call: "lease grant",
                reason: r.error,
            });
        }
        Ok(r.id)
    }

    /// Renews `lease`; `false` when etcd no longer has it (expired or revoked).
    pub async fn keep_alive(&self, lease: i64) -> Result<bool, EtcdError> {
        #[derive(Deserialize)]
        struct R {
            result: Option<LeaseResp>,
        }
        let r: R = self
            .lease_call("lease keep-alive", "keepalive", "ID", lease)
            .await?;
        Ok(r.result.is_some_and(|r| r.ttl > 0))
    }

    pub async fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        self.lease_call::<serde_json::Value>("lease revoke", "revoke", "ID", lease)
            .await
            .map(|_| ())
    }

    /// Every key that starts with `prefix`, in key order.
    pub async fn range_prefix(&self, prefix: &[u8]) -> Result<Vec<Kv>, EtcdError> {
        let body = serde_json::json!({"key": b64(prefix), "range_end": b64(&prefix_end(prefix))});
        let r: RangeResp = self.call("range", "/v3/kv/range", body).await?;
        Ok(r.kvs.into_iter().map(Kv::from).collect())
    }

    /// One key, if it exists.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Kv>, EtcdError> {
        let body = serde_json::json!({"key": b64(key)});
        let r: RangeResp = self.call("range", "/v3/kv/range", body).await?;
        Ok(r.kvs.into_iter().next().map(Kv::from))
    }

    /// `if all compares hold { success } else { failure }`, atomically.
    pub async fn txn(
        &self,
        compare: &[Compare],
        success: &[Op],
        failure: &[Op],
    ) -> Result<TxnOutcome, EtcdError> {
        let body = serde_json::json!({
            "compare": compare.iter().map(Compare::to_json).collect::<Vec<_>>(),
            "success": success.iter().map(Op::to_json).collect::<Vec<_>>(),
            "failure": failure.iter().map(Op::to_json).collect::<Vec<_>>(),
        });
        let r: TxnResp = self.call("txn", "/v3/kv/txn", body).await?;
        let mut found = Vec::new();
        for resp in r.responses {
            if let Some(range) = resp.get("response_range") {
                let rr: RangeResp =
                    serde_json::from_value(range.clone()).map_err(|e| EtcdError::Refused {
                        call: "txn",
                        reason: e.to_string(),
                    })?;
                found.extend(rr.kvs.into_iter().map(Kv::from));
            }
        }
        Ok(TxnOutcome {
            succeeded: r.succeeded,
            revision: r.header.revision,
            found,
        })
    }
}

/// The end of the range of keys that start with `prefix` (etcd's "prefix + 1").
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff: to the end of the key space.
    vec![0]
}

/// The largest answer read from etcd: the whole state of a big cluster fits (etcd's own
/// default request limit is 1.5 MiB a value).
const MAX_ANSWER: usize = 1 << 30;

async fn post_once(host: &str, path: &str, body: Bytes) -> Result<(u16, Vec<u8>), String> {
    let req = hyper::Request::post(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let (parts, bytes) = crate::http1::exchange(host, req, MAX_ANSWER).await?;
    Ok((parts.status.as_u16(), bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[test]
    fn endpoints_must_be_http_host_port() {
        let ok = Etcd::new(&["http://127.0.0.1:2379/".into()], Duration::from_secs(1)).unwrap();
        assert_eq!(ok.endpoints, vec!["127.0.0.1:2379"]);
        for bad in ["127.0.0.1:2379", "https://h:1", "http://h", "http://h:x"] {
            let e = Etcd::new(&[bad.into()], Duration::from_secs(1)).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn gateway_numbers_and_omitted_fields_parse() {
        let r: TxnResp = serde_json::from_str(
            r#"{"header":{"revision":"7"},"responses":[{"response_range":{"kvs":[{"key":"YQ==","value":"Yg==","create_revision":"3"}]}}]}"#,
        )
        .unwrap();
        assert!(!r.succeeded);
        assert_eq!(r.header.revision, 7);
        let kv: RangeResp =
            serde_json::from_value(r.responses[0]["response_range"].clone()).unwrap();
        let kv = Kv::from(kv.kvs.into_iter().next().unwrap());
        assert_eq!(
            (kv.key, kv.value, kv.create_revision),
            (b"a".to_vec(), b"b".to_vec(), 3)
        );
    }
}
