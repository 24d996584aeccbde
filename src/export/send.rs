//! Calling Constellation from MQTT: a message published on `<prefix>/_send`
//! (`{"Scope":{"Type":"Package","Args":["Nest"]},"Key":"SetTemp","Data":21,"SagaId":"s1"}`)
//! is sent as the adapter's identity. With a saga id, or an MQTT 5 response topic (a
//! saga id is then made up), the `__Response` is published on
//! `<prefix>/_send/response/<sagaId>` or that response topic (with its correlation
//! data). An announced callback's command topic,
//! `<prefix>/_send/callback/<sentinel>/<package>/<key>`, sends that message with the
//! payload as its data. What cannot be sent is answered on `<prefix>/_send/error`.

use super::topics::level;
use crate::config::{Config, ExportCallback};
use crate::constellation::model::{
    json_or_text, OutgoingMessage, ReceivedMessage, Scope, ScopeType, RESPONSE_KEY,
};
use crate::constellation::{Backoff, Client, Error, Identity};
use crate::lock::lock;
use crate::mqtt::Publisher;
use crate::report::{Code, Problem};
use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Sagas waiting for their answer at once; beyond, the oldest is answered "no answer".
const MAX_PENDING: usize = 10_000;

/// The `_send` gateway.
pub struct Send {
    client: Client,
    identity: Identity,
    publisher: Publisher,
    prefix: String,
    timeout: Duration,
    /// Announced callbacks, by command topic.
    callbacks: HashMap<String, ExportCallback>,
    /// Sagas sent, by id: where their answer goes.
    pending: Mutex<HashMap<String, Reply>>,
}

/// Where a saga's answer is published.
struct Reply {
    topic: String,
    correlation: Option<Bytes>,
    sent: Instant,
}

/// A `_send` payload.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Request {
    scope: RequestScope,
    key: String,
    #[serde(default)]
    data: Value,
    saga_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RequestScope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    args: Vec<String>,
    saga_id: Option<String>,
}

/// The command topic of an announced callback.
pub fn callback_topic(prefix: &str, cb: &ExportCallback) -> String {
    format!(
        "{prefix}/_send/callback/{}/{}/{}",
        level(&cb.sentinel),
        level(&cb.package),
        level(&cb.key)
    )
}

impl Send {
    /// The gateway of `config`, its answers' poller started as `identity`.
    pub fn start(
        config: &Config,
        client: &Client,
        publisher: &Publisher,
        identity: Identity,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let callbacks = config
            .export
            .iter()
            .flat_map(|x| &x.callback)
            .map(|cb| (callback_topic(&config.prefix, cb), cb.clone()))
            .collect();
        let send = Arc::new(Self {
            client: client.clone(),
            identity,
            publisher: publisher.clone(),
            prefix: config.prefix.clone(),
            timeout: Duration::from_millis(config.constellation.saga_timeout_ms),
            callbacks,
            pending: Mutex::default(),
        });
        tokio::spawn(
            send.clone()
                .answers(Duration::from_secs(config.constellation.auth_retry_s), stop)
                .instrument(tracing::info_span!("send")),
        );
        send
    }

    /// Handles a publish on `topic` under `<prefix>/_send` (`properties`: its MQTT 5
    /// ones).
    pub fn handle(&self, topic: &str, payload: &[u8], properties: Option<&PublishProperties>) {
        let message = if topic == format!("{}/_send", self.prefix) {
            self.request(payload, properties)
        } else if let Some(cb) = self.callbacks.get(topic) {
            Ok((callback_message(cb, payload), None))
        } else {
            Err(format!(
                "{topic} is neither `_send` nor an announced callback's topic"
            ))
        };
        match message {
            Ok((message, reply)) => self.send(message, reply, payload),
            Err(reason) => self.error(&reason, payload),
        }
    }

    /// Reads a `_send` payload: the message, and where its answer goes.
    fn request(
        &self,
        payload: &[u8],
        properties: Option<&PublishProperties>,
    ) -> Result<(OutgoingMessage, Option<(String, Reply)>), String> {
        let r: Request = serde_json::from_slice(payload)
            .map_err(|e| format!("not a message ({{\"Scope\":{{\"Type\",\"Args\"}},\"Key\",\"Data\",\"SagaId\"?}}): {e}"))?;
        let kind = ScopeType::from_name(&r.scope.kind)
            .ok_or_else(|| format!("unknown scope type {:?}", r.scope.kind))?;
        if r.key.is_empty() || r.key == RESPONSE_KEY {
            return Err(format!("{:?} is not a message key one may send", r.key));
        }
        let response_topic = properties.and_then(|p| p.response_topic.clone());
        let correlation = properties.and_then(|p| p.correlation_data.clone());
        let saga = r
            .saga_id
            .or(r.scope.saga_id)
            .filter(|s| !s.is_empty())
            .or_else(|| {
                response_topic
                    .is_some()
                    .then(|| uuid::Uuid::new_v4().to_string())
            });
        let reply = saga.as_ref().map(|saga| {
            let topic = response_topic
                .clone()
                .unwrap_or_else(|| format!("{}/_send/response/{}", self.prefix, level(saga)));
            (
                saga.clone(),
                Reply {
                    topic,
                    correlation,
                    sent: Instant::now(),
                },
            )
        });
        let message = OutgoingMessage {
            scope: Scope {
                kind,
                args: r.scope.args,
                saga_id: saga,
            },
            key: r.key,
            data: r.data,
        };
        Ok((message, reply))
    }

    fn send(&self, message: OutgoingMessage, reply: Option<(String, Reply)>, payload: &[u8]) {
        if let Some((saga, reply)) = reply {
            let mut pending = lock(&self.pending);
            if pending.len() >= MAX_PENDING {
                let oldest = pending
                    .iter()
                    .min_by_key(|(_, r)| r.sent)
                    .map(|(s, _)| s.clone());
                if let Some(oldest) = oldest.and_then(|s| pending.remove(&s).map(|r| (s, r))) {
                    drop(pending);
                    self.no_answer(&oldest.0, oldest.1);
                    pending = lock(&self.pending);
                }
            }
            pending.insert(saga, reply);
        }
        let (client, identity, publisher) = (
            self.client.clone(),
            self.identity.clone(),
            self.publisher.clone(),
        );
        let error_topic = format!("{}/_send/error", self.prefix);
        let payload = String::from_utf8_lossy(payload).into_owned();
        tokio::spawn(async move {
            if let Err(e) = client.send_message(&identity, &message).await {
                tracing::warn!(error = %e, key = %message.key, "_send: not sent");
                let problem = Problem::new(Code::of(&e), e.to_string());
                let body = problem.payload("_send", Value::String(payload));
                publisher.publish(&error_topic, body, false);
            }
        });
    }

    /// Publishes `reason` on `<prefix>/_send/error`.
    fn error(&self, reason: &str, payload: &[u8]) {
        tracing::warn!(reason, "_send: refused");
        let payload = Value::String(String::from_utf8_lossy(payload).into_owned());
        let body = Problem::new(Code::Send, reason).payload("_send", payload);
        self.publisher
            .publish(&format!("{}/_send/error", self.prefix), body, false);
    }

    fn no_answer(&self, saga: &str, reply: Reply) {
        self.publish_answer(
            reply,
            &json!({"Error": format!("no answer to saga {saga}")}),
        );
    }

    fn publish_answer(&self, reply: Reply, data: &Value) {
        let properties = reply.correlation.map(|c| PublishProperties {
            correlation_data: Some(c),
            ..PublishProperties::default()
        });
        self.publisher
            .publish_with(&reply.topic, data.to_string().into(), false, properties);
    }

    /// Long-polls the identity's messages: each `__Response` of a pending saga is
    /// published where its answer goes; sagas unanswered past the saga time-out are
    /// answered "no answer".
    async fn answers(self: Arc<Self>, hold: Duration, stop: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut subscription: Option<String> = None;
        loop {
            let step = async {
                let id = match &subscription {
                    Some(id) => id.clone(),
                    None => {
                        self.client
                            .subscribe_to_message(&self.identity, None)
                            .await?
                    }
                };
                subscription = Some(id.clone());
                let messages = self.client.get_messages(&self.identity, &id, 0).await?;
                Ok::<_, Error>(messages)
            };
            let result = tokio::select! {
                r = step => r,
                () = stop.cancelled() => return,
            };
            let wait = match result {
                Ok(messages) => {
                    backoff.reset();
                    for m in messages {
                        self.answer(m);
                    }
                    None
                }
                Err(Error::SubscriptionLost { .. }) => {
                    subscription = None;
                    None
                }
                Err(e) if e.is_refusal() => {
                    subscription = None;
                    self.error(&format!("answers to _send sagas: {e}"), b"");
                    Some(hold)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "_send answers: retrying");
                    Some(backoff.next_delay())
                }
            };
            self.expire();
            if let Some(wait) = wait {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }

    fn answer(&self, m: ReceivedMessage) {
        let saga = m.scope.saga_id.as_deref().filter(|_| m.key == RESPONSE_KEY);
        let Some(reply) = saga.and_then(|s| lock(&self.pending).remove(s)) else {
            tracing::debug!(key = %m.key, "_send: a message that answers no pending saga");
            return;
        };
        self.publish_answer(reply, &m.data);
    }

    fn expire(&self) {
        let timeout = self.timeout;
        let expired: Vec<(String, Reply)> = {
            let mut pending = lock(&self.pending);
            let keys: Vec<String> = pending
                .iter()
                .filter(|(_, r)| r.sent.elapsed() >= timeout)
                .map(|(s, _)| s.clone())
                .collect();
            keys.into_iter()
                .filter_map(|s| pending.remove(&s).map(|r| (s, r)))
                .collect()
        };
        for (saga, reply) in expired {
            self.no_answer(&saga, reply);
        }
    }
}

/// The message an announced callback's command sends: the payload as its data (a
/// number or boolean for those types, nothing for a button).
fn callback_message(cb: &ExportCallback, payload: &[u8]) -> OutgoingMessage {
    let text = String::from_utf8_lossy(payload);
    let data = match cb.type_name.as_deref() {
        None => Value::Null,
        Some("System.String") => Value::String(text.into_owned()),
        Some(_) => json_or_text(&text),
    };
    OutgoingMessage {
        scope: Scope {
            kind: ScopeType::Package,
            args: vec![format!("{}/{}", cb.sentinel, cb.package)],
            saga_id: None,
        },
        key: cb.key.clone(),
        data,
    }
}
