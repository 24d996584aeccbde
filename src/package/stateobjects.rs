//! A package's StateObject links: current values, then every update, on `so/...`.

use super::context::Context;
use super::queue::Origin;
use super::state::Package;
use super::trouble::Trouble;
use crate::config::SoPayload;
use crate::constellation::model::{SoFilter, StateObject};
use crate::constellation::Error;
use crate::lock::lock;
use crate::report::{Code, Problem};
use std::sync::Arc;

/// Follows the package's filter set (config and its latest `subscribe`), until the
/// lifecycle drains. A new set starts a fresh subscription with exactly those filters,
/// and clears the retained `so/...` topics of StateObjects it no longer follows; a
/// StateObject purged through the adapter has its topic cleared too.
pub(super) async fn run(cx: Arc<Context>, package: Arc<Package>) {
    let mut filters_rx = package.filters.subscribe();
    let mut purged = cx.purged.subscribe();
    let mut trouble = Trouble::new(&cx);
    loop {
        let filters = filters_rx.borrow_and_update().clone();
        clear(&cx, &package, |so| !filters.iter().any(|f| f.matches(so)));
        // Allocated only with links: a package without (most) keeps a small task.
        let mut follow =
            (!filters.is_empty()).then(|| Box::pin(follow(&cx, &package, &filters, &mut trouble)));
        loop {
            tokio::select! {
                () = async {
                    match follow.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                } => break,
                changed = filters_rx.changed() => if changed.is_err() { return } else { break },
                purge = purged.recv() => match purge {
                    Ok(filter) => clear(&cx, &package, |so| filter.matches(so)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = cx.lifecycle.drain.cancelled() => return,
            }
        }
    }
}

/// Clears (an empty retained publish) every linked `so/...` topic whose StateObject
/// passes `gone`.
fn clear(cx: &Context, package: &Package, gone: impl Fn(&StateObject) -> bool) {
    let mut topics = Vec::new();
    lock(&package.linked).retain(|topic, so| {
        let keep = !gone(so);
        if !keep {
            topics.push(topic.clone());
        }
        keep
    });
    for topic in topics {
        cx.publisher.publish(&topic, Vec::new(), true);
    }
}

/// Subscribes, publishes the current values, and long-polls for ever (renewing a lost
/// subscription and backing off on failures). The current values are read after each
/// new subscription is made, never before: a StateObject that changes in between is in
/// their answer or in the subscription's, not lost between the two. A filter the server
/// refuses (403, 400) is reported on the package's `error` topic and left out; the
/// others go on.
async fn follow(cx: &Context, package: &Package, filters: &[SoFilter], trouble: &mut Trouble) {
    let mut filters = filters.to_vec();
    let mut id: Option<String> = None;
    // Whether the current values are still to be published for the subscription.
    let mut current = true;
    loop {
        let result: Result<(), Error> = async {
            let sub = match &id {
                Some(sub) => sub.clone(),
                None => {
                    let sub = subscribe(cx, package, &mut filters, None).await?;
                    id = Some(sub.clone());
                    current = true;
                    sub
                }
            };
            if current {
                publish_current(cx, package, &mut filters).await?;
                current = false;
            }
            if filters.is_empty() {
                // Nothing left to follow: until the filter set changes.
                std::future::pending::<()>().await;
            }
            let _turn = cx.server.poll_turn().await;
            for so in cx
                .server
                .client
                .get_state_objects(&package.identity, &sub, 0)
                .await?
            {
                publish(cx, package, &so);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => trouble.ok(),
            Err(Error::SubscriptionLost { subscription, .. }) => {
                tracing::info!("StateObject subscription lost; renewing");
                match subscribe(cx, package, &mut filters, Some(&subscription)).await {
                    Ok(sub) => {
                        id = Some(sub);
                        // What changed while it was lost.
                        current = true;
                    }
                    Err(e) => {
                        id = None;
                        trouble
                            .wait(cx, "StateObject subscription", package, &e)
                            .await;
                    }
                }
            }
            Err(e) => {
                if !e.is_transient() {
                    id = None;
                }
                trouble
                    .wait(cx, "StateObject subscription", package, &e)
                    .await;
            }
        }
    }
}

/// Publishes the current values of every filter's StateObjects. A filter the server
/// refuses is reported and taken out of `filters`.
async fn publish_current(
    cx: &Context,
    package: &Package,
    filters: &mut Vec<SoFilter>,
) -> Result<(), Error> {
    let mut usable = Vec::new();
    for filter in filters.iter() {
        let call = cx
            .server
            .client
            .request_state_objects(&package.identity, filter);
        match refusal(cx.server.request(|| call).await)? {
            Ok(sos) => {
                sos.iter().for_each(|so| publish(cx, package, so));
                usable.push(filter.clone());
            }
            Err(refused) => report_refused(cx, package, filter, &refused),
        }
    }
    *filters = usable;
    Ok(())
}

/// Subscribes with every filter: the first creates (or renews `renew`), the rest add.
/// A filter the server refuses is reported and taken out of `filters`.
async fn subscribe(
    cx: &Context,
    package: &Package,
    filters: &mut Vec<SoFilter>,
    renew: Option<&str>,
) -> Result<String, Error> {
    let mut id = renew.map(str::to_owned);
    let mut usable = Vec::new();
    for filter in filters.iter() {
        let call =
            cx.server
                .client
                .subscribe_to_state_objects(&package.identity, id.as_deref(), filter);
        match refusal(cx.server.request(|| call).await)? {
            Ok(sub) => {
                id = Some(sub);
                usable.push(filter.clone());
            }
            Err(refused) => report_refused(cx, package, filter, &refused),
        }
    }
    *filters = usable;
    Ok(id.unwrap_or_default())
}

/// Splits off a refusal for good ([`Error::is_refusal`]: `Ok(Err(_))`, reported and
/// skipped by the caller) from a failure worth retrying (`Err(_)`).
fn refusal<T>(result: Result<T, Error>) -> Result<Result<T, Error>, Error> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(e) if e.is_refusal() => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

fn report_refused(cx: &Context, package: &Package, filter: &SoFilter, error: &Error) {
    let origin = Origin {
        topic: format!("{}/subscribe", package.base_topic),
        payload: serde_json::to_string(filter).unwrap_or_default(),
    };
    let reason = format!("StateObject link refused by Constellation: {error}");
    let problem = Problem::new(Code::of(error), reason);
    package.fail(&cx.publisher, &origin, &problem);
}

fn publish(cx: &Context, package: &Package, so: &StateObject) {
    let topic = format!(
        "{}/so/{}/{}/{}",
        &package.base_topic, so.sentinel_name, so.package_name, so.name
    );
    if topic.contains(['+', '#']) {
        tracing::warn!(%topic, "a StateObject name with an MQTT wildcard cannot be published: skipped");
        return;
    }
    let payload = match package.so_payload() {
        SoPayload::Object => serde_json::to_vec(so),
        SoPayload::Value => serde_json::to_vec(&so.value),
    };
    match payload {
        Ok(payload) => {
            // Remembered once per topic, without what filters do not look at.
            lock(&package.linked)
                .entry(topic.clone())
                .or_insert_with(|| StateObject {
                    value: serde_json::Value::Null,
                    metadatas: None,
                    ..so.clone()
                });
            cx.publisher.publish(&topic, payload, true);
        }
        Err(e) => tracing::error!(%topic, error = %e, "cannot serialise a StateObject"),
    }
}
