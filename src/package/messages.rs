//! A package's message subscription: long poll, route each message to its topic.

use super::context::Context;
use super::queue::{Job, Origin};
use super::state::Package;
use super::trouble::Trouble;
use super::work::submit;
use crate::config::CallbackPayload;
use crate::constellation::model::{ReceivedMessage, RESPONSE_KEY};
use crate::constellation::Error;
use crate::mapping::Invocation;
use crate::report::{Code, Problem};
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Keeps `package` subscribed to its messages and groups and publishes what arrives,
/// until its lifecycle drains.
pub(super) async fn run(cx: Arc<Context>, package: Arc<Package>) {
    let mut groups_rx = package.groups.subscribe();
    let mut trouble = Trouble::new(&cx);
    // The live subscription, and the id to pass when subscribing again (the lost one).
    let mut sub: Option<String> = None;
    let mut renew: Option<String> = None;
    let mut joined: BTreeSet<String> = BTreeSet::new();
    // Groups the server refused: reported once, not asked again until wanted anew.
    let mut refused: BTreeSet<String> = BTreeSet::new();
    loop {
        let result = async {
            let wanted: BTreeSet<String> = groups_rx.borrow_and_update().iter().cloned().collect();
            if sub.is_some() && !joined.is_subset(&wanted) {
                // A group can only be left by starting afresh.
                sub = None;
                renew = None;
            }
            let id = match &sub {
                Some(id) => id.clone(),
                // The request is boxed once its turn comes (see `Server::request`):
                // rare, it takes no room in the poll's, which a package holds all its
                // life.
                None => {
                    let subscribe = || {
                        cx.server
                            .client
                            .subscribe_to_message(&package.identity, renew.as_deref())
                    };
                    let id = cx.server.request(subscribe).await?;
                    joined.clear();
                    sub.insert(id).clone()
                }
            };
            Box::pin(join(&cx, &package, &id, &wanted, &mut joined, &mut refused)).await?;
            let _turn = cx.server.poll_turn().await;
            let poll = cx.server.client.get_messages(&package.identity, &id, 0);
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    messages = &mut poll => return messages,
                    changed = groups_rx.changed() => {
                        let wanted: BTreeSet<String> = groups_rx.borrow_and_update().iter().cloned().collect();
                        if changed.is_err() || !joined.is_subset(&wanted) {
                            // Abandon this poll; the next round starts afresh.
                            sub = None;
                            renew = None;
                            return Ok(Vec::new());
                        }
                        Box::pin(join(&cx, &package, &id, &wanted, &mut joined, &mut refused)).await?;
                    }
                }
            }
        };
        let result = tokio::select! {
            r = Box::pin(result) => r,
            _ = cx.lifecycle.drain.cancelled() => return,
        };
        match result {
            Ok(messages) => {
                trouble.ok();
                for m in messages {
                    deliver(&cx, &package, m);
                }
            }
            Err(Error::SubscriptionLost { .. }) => {
                tracing::info!("message subscription lost; renewing it");
                renew = sub.take();
            }
            Err(e) => {
                if !e.is_transient() {
                    renew = sub.take().or(renew);
                }
                tokio::select! {
                    _ = Box::pin(trouble.wait(&cx, "message subscription", &package, &e)) => {}
                    _ = cx.lifecycle.drain.cancelled() => return,
                }
            }
        }
    }
}

/// Joins the groups of `wanted` not yet `joined` on subscription `id`. A group the
/// server refuses (403, 400) is reported on the package's `error` topic and left out:
/// the package keeps its messages and its other groups.
async fn join(
    cx: &Context,
    package: &Package,
    id: &str,
    wanted: &BTreeSet<String>,
    joined: &mut BTreeSet<String>,
    refused: &mut BTreeSet<String>,
) -> Result<(), Error> {
    refused.retain(|g| wanted.contains(g));
    let missing: Vec<String> = wanted
        .iter()
        .filter(|g| !joined.contains(*g) && !refused.contains(*g))
        .cloned()
        .collect();
    for group in missing {
        let call = cx
            .server
            .client
            .subscribe_to_message_group(&package.identity, &group, Some(id));
        match cx.server.request(|| call).await {
            Ok(_) => {
                joined.insert(group);
            }
            Err(e) if e.is_refusal() => {
                let origin = Origin {
                    topic: format!("{}/groups", package.base_topic),
                    payload: group.clone(),
                };
                let reason = format!("group {group:?} refused by Constellation: {e}");
                package.fail(&cx.publisher, &origin, &Problem::new(Code::of(&e), reason));
                refused.insert(group);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Publishes a received message: a `__Response` on `saga/<id>`; a message a
/// `[[command]]` takes as that command's publish; anything else on `callback/<key>`
/// (its saga remembered for the device's answer; with MQTT 5, the response topic and
/// correlation data set).
fn deliver(cx: &Arc<Context>, package: &Arc<Package>, message: ReceivedMessage) {
    package.messaged();
    let base = &package.base_topic;
    let saga = message.scope.saga_id.clone().filter(|s| !s.is_empty());
    if message.key != RESPONSE_KEY {
        if let Some(invocation) = cx.devices.invoke(&package.id, &message) {
            return command(cx, package, &message, saga, invocation);
        }
    }
    let (topic, properties) = if message.key == RESPONSE_KEY {
        let Some(saga) = &saga else {
            tracing::warn!("a __Response without a saga id: dropped");
            return;
        };
        (format!("{base}/saga/{saga}"), None)
    } else {
        let properties = saga.as_ref().map(|saga| {
            package.remember_saga(saga, message.sender.reply_address());
            PublishProperties {
                response_topic: Some(format!("{base}/response/{saga}")),
                correlation_data: Some(saga.clone().into()),
                ..PublishProperties::default()
            }
        });
        (format!("{base}/callback/{}", message.key), properties)
    };
    if topic.contains(['+', '#']) {
        tracing::warn!(%topic, "a message key or saga id with an MQTT wildcard cannot be published: dropped");
        return;
    }
    let payload = match package.callback_payload() {
        CallbackPayload::Message => serde_json::to_vec(&message),
        CallbackPayload::Data => serde_json::to_vec(&message.data),
    };
    match payload {
        Ok(payload) => cx
            .publisher
            .publish_with(&topic, payload.into(), false, properties),
        Err(e) => tracing::error!(%topic, error = %e, "cannot serialise a message"),
    }
}

/// Publishes a command (never retained) and, for a saga awaiting the device's answer,
/// answers it with an error when the time is up.
fn command(
    cx: &Arc<Context>,
    package: &Arc<Package>,
    message: &ReceivedMessage,
    saga: Option<String>,
    invocation: Result<Invocation, String>,
) {
    let invocation = match invocation {
        Ok(i) => i,
        Err(e) => return tracing::warn!(error = %e, "command not sent"),
    };
    // What the saga's time-out reports: the first publish (a command has one at least).
    let topic = invocation
        .publishes
        .first()
        .map(|(topic, _)| topic.clone())
        .unwrap_or_default();
    for (topic, payload) in invocation.publishes {
        cx.publisher
            .publish_command(&topic, payload, invocation.qos);
    }
    let Some(saga) = saga else { return };
    package.remember_saga(&saga, message.sender.reply_address());
    if let Some(timeout) = invocation.timeout {
        let (cx, package) = (cx.clone(), package.clone());
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(answer) = cx.devices.time_out(&package.id, &saga) {
                let origin = Origin {
                    topic,
                    payload: String::new(),
                };
                let _ = submit(
                    &cx,
                    &package,
                    Job {
                        intent: answer,
                        origin,
                    },
                );
            }
        });
    }
}
