//! A package's StateObject links: current values, then every update, on `so/...`.

use super::context::Context;
use super::state::Package;
use super::trouble::Trouble;
use crate::config::SoPayload;
use crate::constellation::model::{SoFilter, StateObject};
use crate::constellation::Error;
use std::sync::Arc;

/// Follows the package's filter set (config, then its latest `subscribe`), until the
/// lifecycle drains. A new set starts a fresh subscription with exactly those filters.
pub(super) async fn run(cx: Arc<Context>, package: Arc<Package>) {
    let mut filters_rx = package.filters.subscribe();
    let mut trouble = Trouble::new(&cx);
    loop {
        let filters = filters_rx.borrow_and_update().clone();
        if filters.is_empty() {
            tokio::select! {
                changed = filters_rx.changed() => if changed.is_err() { return },
                _ = cx.lifecycle.drain.cancelled() => return,
            }
            continue;
        }
        // Boxed so that a package without links (most) keeps a small task.
        let follow = Box::pin(follow(&cx, &package, &filters, &mut trouble));
        tokio::select! {
            () = follow => {}
            changed = filters_rx.changed() => if changed.is_err() { return },
            _ = cx.lifecycle.drain.cancelled() => return,
        }
    }
}

/// Publishes the current values, subscribes, and long-polls for ever (renewing a lost
/// subscription and backing off on failures).
async fn follow(cx: &Context, package: &Package, filters: &[SoFilter], trouble: &mut Trouble) {
    let mut id: Option<String> = None;
    let mut first = true;
    loop {
        let result: Result<(), Error> = async {
            if first {
                for filter in filters {
                    for so in cx
                        .server
                        .request(
                            cx.server
                                .client
                                .request_state_objects(&package.identity, filter),
                        )
                        .await?
                    {
                        publish(cx, package, &so);
                    }
                }
                first = false;
            }
            let sub = match &id {
                Some(sub) => sub.clone(),
                None => {
                    let sub = subscribe(cx, package, filters, None).await?;
                    id = Some(sub.clone());
                    sub
                }
            };
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
                tracing::info!(package = %package.id, "StateObject subscription lost; renewing");
                match subscribe(cx, package, filters, Some(&subscription)).await {
                    Ok(sub) => id = Some(sub),
                    Err(e) => {
                        id = None;
                        tokio::time::sleep(trouble.after(
                            "StateObject subscription",
                            &package.id,
                            &e,
                        ))
                        .await;
                    }
                }
            }
            Err(e) => {
                if !e.is_transient() {
                    id = None;
                }
                tokio::time::sleep(trouble.after("StateObject subscription", &package.id, &e))
                    .await;
            }
        }
    }
}

/// Subscribes with every filter: the first creates (or renews `renew`), the rest add.
async fn subscribe(
    cx: &Context,
    package: &Package,
    filters: &[SoFilter],
    renew: Option<&str>,
) -> Result<String, Error> {
    let mut id = renew.map(str::to_owned);
    for filter in filters {
        let call =
            cx.server
                .client
                .subscribe_to_state_objects(&package.identity, id.as_deref(), filter);
        id = Some(cx.server.request(call).await?);
    }
    Ok(id.unwrap_or_default())
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
        Ok(payload) => cx.publisher.publish(&topic, payload, true),
        Err(e) => tracing::error!(%topic, error = %e, "cannot serialise a StateObject"),
    }
}
