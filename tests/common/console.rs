//! Playing the Constellation console against mapped packages: fixtures, calls with or
//! without a saga, waiting for the adapter's polls.

use super::mqtt::Harness;
use super::{wait_for, within};
use constellation_mqtt::constellation::model::{
    OutgoingMessage, ReceivedMessage, Scope, ScopeType, SenderType,
};
use constellation_mqtt::sim::{Participant, SubKind};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A file of `tests/fixtures/` (real payloads; its README says where each comes from).
pub fn fixture(path: &str) -> String {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Waits until the adapter long-polls messages for `owner` (`Sentinel/Package`).
pub async fn polled(h: &Harness, owner: &str) {
    let handle = h.sim.handle();
    wait_for(&format!("{owner}'s message subscription"), T, || async {
        handle
            .subscriptions()
            .into_iter()
            .find(|s| s.owner == owner && s.kind == SubKind::Messages && s.polling > 0)
            .map(drop)
    })
    .await;
}

/// The console (a hub consumer).
pub fn console() -> Participant {
    Participant {
        sentinel: "Consumer".into(),
        package: "Console".into(),
    }
}

/// The console calls `key` on `owner` with `data`, in saga `saga`.
pub fn call(h: &Harness, owner: &str, key: &str, data: Value, saga: Option<&str>) {
    let msg = OutgoingMessage {
        scope: Scope {
            kind: ScopeType::Package,
            args: vec![owner.into()],
            saga_id: saga.map(str::to_owned),
        },
        key: key.into(),
        data,
    };
    h.sim
        .handle()
        .send(&console(), SenderType::ConsumerHub, msg)
        .unwrap();
}

/// The answer to the console's saga `saga`.
pub async fn answer(h: &Harness, saga: &str) -> ReceivedMessage {
    within(
        "the saga's answer",
        h.sim.handle().saga_response(&console(), saga, T),
    )
    .await
    .expect("an answer")
}
