//! Following one export's filters: subscribe, request the current values, long-poll the
//! updates; renew a lost subscription (then request again, which also finds what was
//! purged meanwhile); back off while the server is down; report a refused filter and
//! try again after the credential hold.

use super::publish::Export;
use crate::constellation::model::StateObject;
use crate::constellation::{Backoff, Client, Error, Identity};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often an export asks for its StateObjects again, to clear those purged.
const RECONCILE: Duration = Duration::from_secs(60);

/// Follows `x` as `identity` until `stop`.
pub(super) async fn follow(
    x: Arc<Export>,
    client: Client,
    identity: Identity,
    hold: Duration,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let error = tokio::select! {
            e = run(&x, &client, &identity, &mut backoff) => e,
            () = stop.cancelled() => return,
        };
        let wait = if error.is_refusal() {
            x.report(&format!(
                "export {:?}: {error}; tried again in {} s",
                x.config.filter,
                hold.as_secs()
            ));
            hold
        } else {
            tracing::warn!(%error, "export: Constellation unreachable; retrying");
            backoff.next_delay()
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// One subscription's life: until an error other than its loss.
async fn run(x: &Export, client: &Client, identity: &Identity, backoff: &mut Backoff) -> Error {
    loop {
        let mut subscription: Option<String> = None;
        for filter in x.config.filter.as_slice() {
            match client
                .subscribe_to_state_objects(identity, subscription.as_deref(), filter)
                .await
            {
                Ok(id) => subscription = Some(id),
                Err(e) => return e,
            }
        }
        let Some(subscription) = subscription else {
            // No filter: validation refuses that; nothing to follow.
            return Error::BadRequest {
                action: "SubscribeToStateObjects",
                message: "the export has no filter".into(),
            };
        };
        if let Err(e) = reconcile(x, client, identity).await {
            return e;
        }
        backoff.reset();
        let mut next_reconcile = Instant::now() + RECONCILE;
        loop {
            match client.get_state_objects(identity, &subscription, 0).await {
                Ok(sos) => {
                    for so in &sos {
                        x.publish(so);
                    }
                }
                Err(Error::SubscriptionLost { .. }) => break,
                Err(e) => return e,
            }
            if Instant::now() >= next_reconcile {
                if let Err(e) = reconcile(x, client, identity).await {
                    return e;
                }
                next_reconcile = Instant::now() + RECONCILE;
            }
        }
        tracing::info!("export: subscription lost; renewing");
    }
}

/// Requests the current values: publishes each, clears what is gone.
async fn reconcile(x: &Export, client: &Client, identity: &Identity) -> Result<(), Error> {
    let mut current: Vec<StateObject> = Vec::new();
    for filter in x.config.filter.as_slice() {
        current.extend(client.request_state_objects(identity, filter).await?);
    }
    let keys: HashSet<String> = current.iter().map(super::topics::key).collect();
    for so in &current {
        x.publish(so);
    }
    let gone: Vec<String> = x.keys().into_iter().filter(|k| !keys.contains(k)).collect();
    x.remove(&gone);
    Ok(())
}
