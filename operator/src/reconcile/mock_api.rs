//! A mocked API server for reconciler tests: it expects an exact sequence of calls, checks each one, and
//! answers it, then fails on any call beyond the sequence (the controller-rs pattern).

use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

use super::Context;
use crate::metrics::Metrics;

/// How the mock answers a call.
pub enum Reply {
    /// 200 with the request body (what an apply or create returns, close enough).
    Echo,
    /// 200 with this object.
    Json(Value),
    /// 404 Not Found.
    NotFound,
}

/// An assertion on a request's JSON body.
type BodyCheck = Box<dyn FnOnce(&Value) + Send>;

/// One expected call: method, path (without query), an optional check of the JSON body, and the reply.
pub struct Call {
    method: Method,
    path: String,
    check: Option<BodyCheck>,
    reply: Reply,
}

impl Call {
    /// An expected call answered with `reply`.
    pub fn new(method: Method, path: impl Into<String>, reply: Reply) -> Self {
        Call {
            method,
            path: path.into(),
            check: None,
            reply,
        }
    }

    /// Also checks the request's JSON body.
    pub fn check(mut self, check: impl FnOnce(&Value) + Send + 'static) -> Self {
        self.check = Some(Box::new(check));
        self
    }

    /// Answers with `reply` instead.
    pub fn reply(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }

    /// A GET answered with `reply`.
    pub fn get(path: impl Into<String>, reply: Reply) -> Self {
        Call::new(Method::GET, path, reply)
    }

    /// A server-side apply (PATCH with the operator's field manager), echoed.
    pub fn apply(path: impl Into<String>) -> Self {
        Call::new(Method::PATCH, path, Reply::Echo)
    }

    /// An Event published in the test namespace, whose reason is checked.
    pub fn event(reason: &'static str) -> Self {
        Call::new(
            Method::POST,
            "/apis/events.k8s.io/v1/namespaces/testns/events",
            Reply::Echo,
        )
        .check(move |body| {
            assert_eq!(body["reason"], reason, "event reason");
        })
    }
}

/// Paths of the objects reconcilers touch in namespace `testns`.
pub mod path {
    /// A namespaced core (v1) object.
    pub fn core(plural: &str, name: &str) -> String {
        format!("/api/v1/namespaces/testns/{plural}/{name}")
    }
    /// A namespaced object of an API group.
    pub fn group(group_version: &str, plural: &str, name: &str) -> String {
        format!("/apis/{group_version}/namespaces/testns/{plural}/{name}")
    }
    /// A StatefulSet.
    pub fn stateful_set(name: &str) -> String {
        group("apps/v1", "statefulsets", name)
    }
    /// A CacheCluster's status subresource.
    pub fn cluster_status(name: &str) -> String {
        group(
            "ferrocache.io/v1alpha1",
            "cacheclusters",
            &format!("{name}/status"),
        )
    }
    /// A CacheParameterGroup.
    pub fn parameter_group(name: &str) -> String {
        group("ferrocache.io/v1alpha1", "cacheparametergroups", name)
    }
}

/// The test side of the mocked API server.
pub struct ApiServerVerifier(Handle<Request<Body>, Response<Body>>);

impl ApiServerVerifier {
    /// Serves `calls` in order, asserting each, then asserts that no further call comes.
    pub fn run(self, calls: Vec<Call>) -> JoinHandle<()> {
        let mut handle = self.0;
        tokio::spawn(async move {
            for (i, call) in calls.into_iter().enumerate() {
                let Some((request, send)) = handle.next_request().await else {
                    panic!("call {i} never came: {} {}", call.method, call.path);
                };
                assert_eq!(
                    (request.method(), request.uri().path()),
                    (&call.method, call.path.as_str()),
                    "call {i}"
                );
                if call.method == Method::PATCH
                    && request
                        .uri()
                        .query()
                        .unwrap_or_default()
                        .contains("fieldManager")
                {
                    assert!(
                        request
                            .uri()
                            .query()
                            .unwrap_or_default()
                            .contains("fieldManager=ferrocache-operator"),
                        "server-side apply uses the operator's field manager"
                    );
                }
                let body = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .expect("request body");
                let json: Value = if body.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&body).expect("JSON request body")
                };
                if let Some(check) = call.check {
                    check(&json);
                }
                let response = match call.reply {
                    Reply::Echo => Response::builder().body(Body::from(body.to_vec())),
                    Reply::Json(value) => Response::builder()
                        .body(Body::from(serde_json::to_vec(&value).expect("JSON"))),
                    Reply::NotFound => {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Body::from(
                                serde_json::to_vec(&json!({
                                    "kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "reason": "NotFound", "code": 404, "message": "not found",
                                }))
                                .expect("JSON"),
                            ))
                    }
                };
                send.send_response(response.expect("valid response"));
            }
            if let Some((request, _)) = handle.next_request().await {
                panic!("unexpected call: {} {}", request.method(), request.uri());
            }
        })
    }
}

/// A fixed "now": Tuesday 2024-06-04 12:00 UTC, outside the examples' Sunday and Wednesday windows.
pub fn tuesday_noon() -> Timestamp {
    Timestamp::from_second(1_717_502_400).expect("valid timestamp")
}

impl Context {
    /// A context on a mocked API server, with a fixed clock.
    pub fn test() -> (Arc<Context>, ApiServerVerifier) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "testns");
        let mut ctx = Context::new(client, Metrics::default(), Some("test".into()));
        ctx.clock = tuesday_noon;
        (Arc::new(ctx), ApiServerVerifier(handle))
    }
}

/// Waits for the mock to have served every call (and seen no extra one) once the reconciler is done.
pub async fn finished(ctx: Arc<Context>, server: JoinHandle<()>) {
    drop(ctx);
    tokio::time::timeout(std::time::Duration::from_secs(2), server)
        .await
        .expect("mock API server finished in time")
        .expect("mock API server assertions");
}
