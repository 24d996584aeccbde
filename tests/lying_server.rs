//! A server that answers `200 OK` with a body that is not the action's (an HTML page, a
//! body far over the action's size): the built binary takes none of it as delivered,
//! reports it once on the package's `error` topic and in `bad_answers_total`, holds no
//! such body, and delivers everything once the server answers properly again.

mod common;

use common::binary::{kill, run, write_config};
use common::mqtt::{free_port, Device};
use common::{start, wait_for};
use constellation_mqtt::sim::{Faults, Lie, Participant, World};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

const LOGS: usize = 20;

#[tokio::test]
async fn nothing_a_lying_server_answers_counts_as_delivered() {
    let sim = start(World::open("demo")).await;
    let handle = sim.handle();
    let dir = tempfile::tempdir().unwrap();
    let (v4, v5, http) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.path().join("rumqttd.toml"),
        common::mqtt::broker_toml(v4, v5, 256 * 1024),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        sim.url().as_str(),
        "[mqtt]\nbroker_config = \"rumqttd.toml\"\n",
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{http}"));
    std::fs::write(&config, text).unwrap();
    let mut adapter = run(&config, &dir.path().join("adapter.log"));
    let device = Device::connect("liar-device", v4).await;
    device.wait_adapter_online("constellation").await;
    let who = Participant::parse("Liar/Device").unwrap();

    for (round, lie) in [Lie::Garbage, Lie::Huge(8 * 1024 * 1024)]
        .into_iter()
        .enumerate()
    {
        device.subscribe("constellation/Liar/Device/error").await;
        handle.set_faults(Faults {
            lie: Some(lie.clone()),
            ..Faults::default()
        });
        for i in 0..LOGS {
            device
                .publish("constellation/Liar/Device/log", format!("r{round}-{i}"))
                .await;
        }
        device
            .publish(
                "constellation/Liar/Device/stateobject/Round",
                round.to_string(),
            )
            .await;
        let error = device
            .expect("constellation/Liar/Device/error", |p| {
                p.contains("not this action's")
            })
            .await;
        eprintln!("{lie:?}: {}", error.payload);
        wait_for("bad_answers_total", Duration::from_secs(30), || async {
            let text = common::http()
                .get(format!("http://127.0.0.1:{http}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains("constellation_mqtt_bad_answers_total{")
                .then_some(())
        })
        .await;
        handle.set_faults(Faults::default());
        wait_for(
            "every log and the value",
            Duration::from_secs(60),
            || async {
                let logs: BTreeSet<String> = handle
                    .logs(Some(&who))
                    .into_iter()
                    .map(|l| l.message)
                    .filter(|m| m.starts_with(&format!("r{round}-")))
                    .collect();
                let value = handle
                    .state_object("Liar", "Device", "Round")
                    .map(|so| so.value);
                (logs.len() == LOGS && value == Some(json!(round))).then_some(())
            },
        )
        .await;
        // Reported once for the whole episode, not once per retry.
        let reports = device
            .drain()
            .await
            .into_iter()
            .filter(|r| r.topic.ends_with("/error"))
            .count();
        assert!(reports <= 1, "{reports} more reports");
    }
    kill(&mut adapter);
}
