//! Presets that learn their devices at run time, end to end: a real MQTT client
//! publishes the ecosystem's real payloads (`tests/fixtures/`) on the embedded
//! broker, the adapter projects them into the simulator.

mod common;

use common::console::*;
use common::mqtt::*;
use common::*;
use constellation_mqtt::config::Preset;
use constellation_mqtt::constellation::model::StateObject;
use constellation_mqtt::sim::World;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

async fn with_preset(kind: &str) -> Harness {
    Harness::embedded(World::open("demo"), |c| {
        c.preset = vec![Preset {
            kind: kind.into(),
            ..Preset::default()
        }]
    })
    .await
}

/// Waits until `owner` has StateObject `name` at `expected`.
async fn so_is(h: &Harness, owner: (&str, &str), name: &str, expected: Value) -> StateObject {
    so(h, owner, name, |v| *v == expected).await
}

/// Waits until `sentinel/package` has StateObject `name` with a value passing `check`.
async fn so(
    h: &Harness,
    owner: (&str, &str),
    name: &str,
    check: impl Fn(&Value) -> bool,
) -> StateObject {
    let handle = h.sim.handle();
    wait_for(&format!("{}/{}: {name}", owner.0, owner.1), T, || async {
        handle
            .state_object(owner.0, owner.1, name)
            .filter(|so| check(&so.value))
    })
    .await
}

/// Waits until the descriptor of `owner` passes `check`.
async fn descriptor(h: &Harness, owner: &str, check: impl Fn(&Value) -> bool) -> Value {
    let handle = h.sim.handle();
    wait_for(&format!("{owner}'s descriptor"), T, || async {
        handle
            .descriptors()
            .get(owner)
            .filter(|d| check(d))
            .cloned()
    })
    .await
}

fn callback_keys(descriptor: &Value) -> Vec<String> {
    descriptor["MessageCallbacks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["MessageKey"].as_str().map(str::to_owned))
        .collect()
}

/// The `StateObjectTypes` property list of the package's own type: (name, type).
fn so_types(descriptor: &Value) -> Vec<(String, String)> {
    descriptor["StateObjectTypes"][0]["Properties"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["Name"].as_str().unwrap_or_default().to_owned(),
                p["TypeName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn bridge_devices() -> String {
    let binary = |p: &str| json!({"type": "binary", "name": p, "property": p, "value_on": "ON", "value_off": "OFF"});
    let numeric = |p: &str| json!({"type": "numeric", "name": p, "property": p});
    json!([
        {"friendly_name": "Coordinator", "type": "Coordinator", "ieee_address": "0x00", "definition": null},
        {"friendly_name": "bulb_color", "type": "Router", "ieee_address": "0x01",
         "definition": {"model": "LED1624G9", "exposes": [
            {"type": "light", "features": [binary("state"), numeric("brightness"), numeric("color_temp")]},
            numeric("linkquality")]}},
        {"friendly_name": "living room", "type": "EndDevice", "ieee_address": "0x02",
         "definition": {"model": "WXKG01LM", "exposes": [
            {"type": "enum", "name": "action", "property": "action", "values": ["single", "double"]},
            numeric("battery"), numeric("voltage"), numeric("linkquality")]}},
        {"friendly_name": "living room/sensor", "type": "EndDevice", "ieee_address": "0x03",
         "definition": {"model": "WSDCGQ01LM", "exposes": [
            {"type": "numeric", "name": "temperature", "property": "temperature", "unit": "°C"},
            numeric("humidity")]}},
    ])
    .to_string()
}

#[tokio::test]
async fn zigbee2mqtt_devices_from_the_bridge_list_with_names_holding_slash_and_space() {
    let h = with_preset("zigbee2mqtt").await;
    let d = h.device("z2m").await;
    d.subscribe("zigbee2mqtt/+/set").await;
    d.subscribe("zigbee2mqtt/+/get").await;
    d.publish_retained("zigbee2mqtt/bridge/devices", bridge_devices())
        .await;
    // States published retained: whenever the adapter's subscription lands, it gets them.
    d.publish_retained(
        "zigbee2mqtt/bulb_color",
        fixture("zigbee2mqtt/state-bulb.json"),
    )
    .await;
    d.publish_retained(
        "zigbee2mqtt/living room/sensor",
        fixture("zigbee2mqtt/state-wsdcgq01lm.json"),
    )
    .await;
    d.publish_retained(
        "zigbee2mqtt/living room",
        fixture("zigbee2mqtt/state-button-2x.json"),
    )
    .await;
    let bulb = ("Zigbee", "bulb_color");
    let state = so(&h, bulb, "state", |v| *v == json!(true)).await;
    assert_eq!(state.type_name.as_deref(), Some("System.Boolean"));
    // Typed from `exposes`: numbers as System.Double.
    so(&h, bulb, "brightness", |v| v.as_f64() == Some(215.0)).await;
    so(&h, bulb, "color_temp", |v| v.as_f64() == Some(325.0)).await;
    // The longest name wins: "living room/sensor" is its own package.
    let sensor = ("Zigbee", "living room.sensor");
    let t = so(&h, sensor, "temperature", |v| *v == json!(27.34)).await;
    assert_eq!(t.type_name.as_deref(), Some("System.Double"));
    assert_eq!(t.metadatas.unwrap()["Unit"], json!("°C"));
    so(&h, sensor, "humidity", |v| *v == json!(44.72)).await;
    let button = ("Zigbee", "living room");
    so(&h, button, "action", |v| *v == json!("single")).await;
    so(&h, button, "battery", |v| v.as_f64() == Some(100.0)).await;
    assert!(h
        .sim
        .handle()
        .state_object("Zigbee", "living room", "temperature")
        .is_none());

    // Availability, 2.x JSON and 1.x plain.
    let lines = fixture("zigbee2mqtt/availability.txt");
    let mut lines = lines.lines().filter(|l| !l.starts_with('#'));
    for expected in [true, false, true] {
        let (topic, payload) = lines.next().unwrap().split_once(' ').unwrap();
        d.publish_retained(topic, payload).await;
        so(&h, bulb, "Online", |v| *v == json!(expected)).await;
    }

    // Descriptors: Set and Get, typed StateObjects, the enumeration.
    let desc = descriptor(&h, "Zigbee/living room", |d| !so_types(d).is_empty()).await;
    assert_eq!(callback_keys(&desc), ["Set", "Get"]);
    let types = so_types(&desc);
    assert!(
        types.contains(&("battery".into(), "System.Double".into())),
        "{types:?}"
    );
    assert!(
        types.contains(&("action".into(), "living room.action".into())),
        "{types:?}"
    );
    let action = &desc["StateObjectTypes"][1];
    assert_eq!(action["IsEnum"], json!(true));
    assert_eq!(action["EnumValues"][1]["Name"], json!("double"));

    // Set in a saga: published (not retained), answered by the device's next state.
    polled(&h, "Zigbee/bulb_color").await;
    call(
        &h,
        "Zigbee/bulb_color",
        "Set",
        json!({"state": "OFF"}),
        Some("z1"),
    );
    let set = d.expect("zigbee2mqtt/bulb_color/set", |_| true).await;
    assert_eq!(
        serde_json::from_str::<Value>(&set.payload).unwrap(),
        json!({"state": "OFF"})
    );
    assert!(!set.retain);
    let new_state = json!({"state": "OFF", "brightness": 215, "color_temp": 325});
    d.publish("zigbee2mqtt/bulb_color", new_state.to_string())
        .await;
    assert_eq!(answer(&h, "z1").await.data, new_state);
    so(&h, bulb, "state", |v| *v == json!(false)).await;
    // Get with a property name.
    call(&h, "Zigbee/bulb_color", "Get", json!("brightness"), None);
    let get = d.expect("zigbee2mqtt/bulb_color/get", |_| true).await;
    assert_eq!(
        serde_json::from_str::<Value>(&get.payload).unwrap(),
        json!({"brightness": ""})
    );

    // A device removed from the list: its package is re-declared without callbacks.
    let fewer: Vec<Value> = serde_json::from_str::<Vec<Value>>(&bridge_devices())
        .unwrap()
        .into_iter()
        .filter(|d| d["friendly_name"] != "bulb_color")
        .collect();
    d.publish_retained(
        "zigbee2mqtt/bridge/devices",
        Value::Array(fewer).to_string(),
    )
    .await;
    descriptor(&h, "Zigbee/bulb_color", |d| callback_keys(d).is_empty()).await;
}

#[tokio::test]
async fn zigbee2mqtt_the_longest_name_owns_an_overlapping_topic() {
    let h = with_preset("zigbee2mqtt").await;
    let d = h.device("z2m").await;
    let list = json!([{"friendly_name": "lamp"}, {"friendly_name": "lamp/availability"}]);
    d.publish_retained("zigbee2mqtt/bridge/devices", list.to_string())
        .await;
    d.publish_retained("zigbee2mqtt/lamp/availability", r#"{"linkquality": 9}"#)
        .await;
    so_is(&h, ("Zigbee", "lamp.availability"), "linkquality", json!(9)).await;
    assert!(h
        .sim
        .handle()
        .state_object("Zigbee", "lamp", "Online")
        .is_none());
}

#[tokio::test]
async fn home_assistant_discovery_with_base_topic_abbreviations_and_shared_state() {
    let h = with_preset("homeassistant").await;
    let d = h.device("ha").await;
    d.subscribe("homeassistant/light/kitchen/set").await;
    d.publish_retained(
        "homeassistant/light/kitchen/config",
        fixture("homeassistant/discovery-abbrev-light.json"),
    )
    .await;
    d.publish_retained(
        "homeassistant/sensor/sensorBedroomT/config",
        fixture("homeassistant/discovery-sensor-shared-state.json"),
    )
    .await;
    d.publish_retained(
        "homeassistant/light/kitchen/state",
        r#"{"state": "ON", "brightness": 255}"#,
    )
    .await;
    let shared = r#"{"temperature":23.20,"humidity":43.70}"#;
    d.publish_retained("homeassistant/sensor/sensorBedroom/state", shared)
        .await;

    // `~/state` resolved; a JSON-schema light as Home Assistant shows it: on (its config
    // supports no brightness, so the state's brightness is not shown; checked below).
    so_is(&h, ("HomeAssistant", "Kitchen"), "light", json!(true)).await;
    let t = so(&h, ("HomeAssistant", "Bedroom"), "temperature", |v| {
        *v == json!(23.2)
    })
    .await;
    assert_eq!(t.type_name.as_deref(), Some("System.Double"));
    assert_eq!(t.metadatas.unwrap()["Unit"], json!("°C"));

    // The colour mode is pushed after where the brightness would be (StateObjects of a
    // rule go in name order, through one queue): once it is visible, the brightness
    // would be too.
    d.publish_retained(
        "homeassistant/light/kitchen/state",
        r#"{"state": "ON", "brightness": 200, "color_mode": "onoff"}"#,
    )
    .await;
    so_is(
        &h,
        ("HomeAssistant", "Kitchen"),
        "light.color_mode",
        json!("onoff"),
    )
    .await;
    assert!(h
        .sim
        .handle()
        .state_object("HomeAssistant", "Kitchen", "light.brightness")
        .is_none());

    // `~/set` resolved: a callback per command topic.
    let desc = descriptor(&h, "HomeAssistant/Kitchen", |d| {
        !callback_keys(d).is_empty()
    })
    .await;
    assert_eq!(
        callback_keys(&desc),
        ["SetLight", "TurnOnLight", "TurnOffLight"]
    );
    polled(&h, "HomeAssistant/Kitchen").await;
    // What light.turn_off and light.turn_on publish in the JSON schema.
    call(&h, "HomeAssistant/Kitchen", "SetLight", json!(false), None);
    let set = d.expect("homeassistant/light/kitchen/set", |_| true).await;
    assert_eq!(
        serde_json::from_str::<Value>(&set.payload).unwrap(),
        json!({"state": "OFF"})
    );
    assert!(!set.retain);
    call(
        &h,
        "HomeAssistant/Kitchen",
        "TurnOnLight",
        json!({"brightness": 128, "color_temp": 300}),
        None,
    );
    let set = d.expect("homeassistant/light/kitchen/set", |_| true).await;
    assert_eq!(
        serde_json::from_str::<Value>(&set.payload).unwrap(),
        json!({"state": "ON", "brightness": 128, "color_temp": 300})
    );

    // A second entity of the same device, on the same state topic, added later, with
    // availability and a command template: the descriptor follows.
    let humidity = json!({
        "name": "Humidity", "stat_t": "homeassistant/sensor/sensorBedroom/state",
        "val_tpl": "{{ value_json.humidity }}", "unit_of_meas": "%", "uniq_id": "hum01ae",
        "avty": [{"t": "bedroom/status", "pl_avail": "up", "pl_not_avail": "down"}],
        "dev": {"ids": ["bedroom01ae"], "name": "Bedroom"}});
    d.publish_retained(
        "homeassistant/sensor/bedroom/humidity/config",
        humidity.to_string(),
    )
    .await;
    let desc = descriptor(&h, "HomeAssistant/Bedroom", |d| so_types(d).len() == 2).await;
    assert_eq!(
        so_types(&desc),
        [
            ("Humidity".to_string(), "System.Double".to_string()),
            ("temperature".to_string(), "System.Double".to_string())
        ]
    );
    d.publish(
        "homeassistant/sensor/sensorBedroom/state",
        r#"{"temperature":23.4,"humidity":44.1}"#,
    )
    .await;
    so_is(&h, ("HomeAssistant", "Bedroom"), "Humidity", json!(44.1)).await;
    so_is(&h, ("HomeAssistant", "Bedroom"), "temperature", json!(23.4)).await;
    d.publish_retained("bedroom/status", "up").await;
    so_is(&h, ("HomeAssistant", "Bedroom"), "Online", json!(true)).await;
    d.publish_retained("bedroom/status", "down").await;
    so_is(&h, ("HomeAssistant", "Bedroom"), "Online", json!(false)).await;

    // An empty config removes the entity.
    d.publish_retained("homeassistant/sensor/bedroom/humidity/config", "")
        .await;
    descriptor(&h, "HomeAssistant/Bedroom", |d| so_types(d).len() == 1).await;
}

#[tokio::test]
async fn home_assistant_device_based_discovery_with_components_and_command_template() {
    let h = with_preset("homeassistant").await;
    let d = h.device("ha").await;
    d.subscribe("plug/#").await;
    d.subscribe("constellation/#").await;
    let config = json!({
        "dev": {"ids": "plug01", "name": "Desk plug"}, "o": {"name": "tester"},
        "~": "plug", "avty_t": "~/lwt",
        "cmps": {
            "relay": {"p": "switch", "name": "Relay", "stat_t": "~/relay", "cmd_t": "~/relay/set",
                      "cmd_tpl": "{{ value | lower }}", "stat_on": "on", "stat_off": "off"},
            "power": {"p": "sensor", "name": "Power", "stat_t": "~/sensor",
                      "val_tpl": "{{ value_json.power }}", "unit_of_meas": "W"}}});
    d.publish_retained("homeassistant/device/plug01/config", config.to_string())
        .await;
    d.publish_retained("plug/relay", "on").await;
    d.publish_retained("plug/sensor", r#"{"power": 12.5}"#)
        .await;
    d.publish_retained("plug/lwt", "online").await;
    let plug = ("HomeAssistant", "Desk plug");
    so(&h, plug, "Relay", |v| *v == json!(true)).await;
    so(&h, plug, "Power", |v| *v == json!(12.5)).await;
    so(&h, plug, "Online", |v| *v == json!(true)).await;
    // A payload without the template's key: no update, no error.
    d.publish("plug/sensor", r#"{"energy": 3}"#).await;
    let desc = descriptor(&h, "HomeAssistant/Desk plug", |d| {
        !callback_keys(d).is_empty()
    })
    .await;
    assert_eq!(callback_keys(&desc), ["SetRelay"]);
    polled(&h, "HomeAssistant/Desk plug").await;
    call(
        &h,
        "HomeAssistant/Desk plug",
        "SetRelay",
        json!(false),
        Some("p1"),
    );
    let set = d.expect("plug/relay/set", |_| true).await;
    assert_eq!(set.payload, "off");
    d.publish("plug/relay", "off").await;
    assert_eq!(answer(&h, "p1").await.data, json!("off"));
    so(&h, plug, "Relay", |v| *v == json!(false)).await;
    let errors = d.errors().await;
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn homie_v4_and_v5_devices() {
    let h = with_preset("homie").await;
    let d = h.device("homie").await;
    d.subscribe("homie/#").await;
    for (topic, payload) in [
        ("homie/thermo/$state", "ready"),
        ("homie/thermo/$nodes", "sensor,heater"),
        ("homie/thermo/sensor/$properties", "temperature"),
        ("homie/thermo/sensor/temperature/$datatype", "float"),
        ("homie/thermo/sensor/temperature/$unit", "°C"),
        ("homie/thermo/heater/$properties", "power"),
        ("homie/thermo/heater/power/$datatype", "boolean"),
        ("homie/thermo/heater/power/$settable", "true"),
        ("homie/thermo/sensor/temperature", "21.5"),
        ("homie/thermo/heater/power", "false"),
    ] {
        d.publish_retained(topic, payload).await;
    }
    let thermo = ("Homie", "thermo");
    let t = so(&h, thermo, "sensor.temperature", |v| *v == json!(21.5)).await;
    assert_eq!(t.type_name.as_deref(), Some("System.Double"));
    so(&h, thermo, "heater.power", |v| *v == json!(false)).await;
    so(&h, thermo, "Online", |v| *v == json!(true)).await;
    so(&h, thermo, "State", |v| *v == json!("ready")).await;
    let desc = descriptor(&h, "Homie/thermo", |d| !callback_keys(d).is_empty()).await;
    assert_eq!(callback_keys(&desc), ["SetHeaterPower"]);
    polled(&h, "Homie/thermo").await;
    call(&h, "Homie/thermo", "SetHeaterPower", json!(true), None);
    let set = d.expect("homie/thermo/heater/power/set", |_| true).await;
    assert_eq!(set.payload, "true");

    let description = json!({"homie": "5.0", "version": 1, "nodes": {"light": {"properties": {
        "on": {"datatype": "boolean", "settable": true},
        "mode": {"datatype": "enum", "format": "warm,cold"}}}}});
    d.publish_retained("homie/5/lamp/$description", description.to_string())
        .await;
    d.publish_retained("homie/5/lamp/$state", "ready").await;
    d.publish_retained("homie/5/lamp/light/on", "true").await;
    d.publish_retained("homie/5/lamp/light/mode", "warm").await;
    let lamp = ("Homie", "lamp");
    so(&h, lamp, "light.on", |v| *v == json!(true)).await;
    so(&h, lamp, "light.mode", |v| *v == json!("warm")).await;
    so(&h, lamp, "Online", |v| *v == json!(true)).await;
    let desc = descriptor(&h, "Homie/lamp", |d| !callback_keys(d).is_empty()).await;
    assert_eq!(callback_keys(&desc), ["SetLightOn"]);
    assert_eq!(
        desc["StateObjectTypes"][1]["EnumValues"][1]["Name"],
        json!("cold")
    );
    d.publish_retained("homie/5/lamp/$state", "lost").await;
    so(&h, lamp, "Online", |v| *v == json!(false)).await;
}

#[tokio::test]
async fn esphome_prefixes_learned_from_discovery() {
    let h = with_preset("esphome").await;
    let d = h.device("esphome").await;
    let config = json!({
        "name": "Inverter0 Power Demand", "unit_of_meas": "W",
        "stat_t": "attic-powerwall/sensor/inverter0_power_demand/state",
        "avty_t": "attic-powerwall/status", "uniq_id": "attic-powerwallsensorinverter0",
        "dev": {"ids": "a4cf12", "name": "attic-powerwall", "sw": "esphome v2024.6.0", "mdl": "esp32dev"}});
    d.publish_retained(
        "homeassistant/sensor/attic-powerwall/inverter0_power_demand/config",
        config.to_string(),
    )
    .await;
    d.publish_retained("attic-powerwall/status", "online").await;
    for line in fixture("esphome/states.txt").lines() {
        let (topic, payload) = line.split_once(' ').unwrap();
        d.publish_retained(topic, payload).await;
    }
    let node = ("ESPHome", "attic-powerwall");
    so(&h, node, "switch.attic-powerwall_restart", |v| {
        *v == json!(false)
    })
    .await;
    so(&h, node, "sensor.inverter0_power_demand", |v| {
        *v == json!(190)
    })
    .await;
    so(&h, node, "Online", |v| *v == json!(true)).await;
    let desc = descriptor(&h, "ESPHome/attic-powerwall", |d| {
        !callback_keys(d).is_empty()
    })
    .await;
    assert_eq!(callback_keys(&desc), ["Command"]);
}

#[tokio::test]
async fn tasmota_discovery_honours_a_device_s_full_topic() {
    let h = with_preset("tasmota").await;
    let d = h.device("tasmota").await;
    d.subscribe("home/shelly/cmnd/#").await;
    let config = json!({"ip": "192.168.1.20", "dn": "Shelly", "hn": "shelly-3B8F4",
        "mac": "DC4F22D3B8F4", "md": "Shelly 1", "t": "shelly", "ft": "home/%topic%/%prefix%/",
        "tp": ["cmnd", "stat", "tele"], "onln": "Online", "ofln": "Offline"});
    d.publish_retained("tasmota/discovery/DC4F22D3B8F4/config", config.to_string())
        .await;
    d.publish_retained("home/shelly/tele/LWT", "Online").await;
    d.publish_retained(
        "home/shelly/tele/SENSOR",
        fixture("tasmota/tele-sensor-am2301.json"),
    )
    .await;
    let shelly = ("Tasmota", "shelly");
    let t = so(&h, shelly, "AM2301.Temperature", |v| *v == json!(24.6)).await;
    assert_eq!(t.type_name.as_deref(), Some("System.Double"));
    so(&h, shelly, "Online", |v| *v == json!(true)).await;
    polled(&h, "Tasmota/shelly").await;
    descriptor(&h, "Tasmota/shelly", |d| callback_keys(d).len() == 3).await;
    call(&h, "Tasmota/shelly", "Power", json!("TOGGLE"), Some("t1"));
    let cmd = d.expect("home/shelly/cmnd/POWER", |_| true).await;
    assert_eq!(cmd.payload, "TOGGLE");
    d.publish("home/shelly/stat/RESULT", r#"{"POWER":"ON"}"#)
        .await;
    assert_eq!(answer(&h, "t1").await.data, json!("ON"));
}

#[tokio::test]
async fn unreadable_discovery_payloads_are_reported_and_nothing_else_stops() {
    let h = Harness::embedded(World::open("demo"), |c| {
        c.preset = ["homeassistant", "zigbee2mqtt"]
            .into_iter()
            .map(|kind| Preset {
                kind: kind.into(),
                ..Preset::default()
            })
            .collect()
    })
    .await;
    let d = h.device("bad").await;
    d.subscribe("constellation/#").await;
    d.publish("homeassistant/sensor/x/config", "{not json")
        .await;
    let e = d
        .expect("constellation/_adapter/error", |p| {
            p.contains("homeassistant/sensor/x/config")
        })
        .await;
    assert!(e.payload.contains("not JSON"), "{}", e.payload);
    d.publish("zigbee2mqtt/bridge/devices", r#"{"not": "a list"}"#)
        .await;
    d.expect("constellation/_adapter/error", |p| {
        p.contains("must be a JSON array")
    })
    .await;
    d.publish("homeassistant/sensor/y/config", vec![0xff, 0xfe])
        .await;
    d.expect("constellation/_adapter/error", |p| p.contains("not UTF-8"))
        .await;
    // Oversized on a foreign topic: refused before anything reads it.
    d.publish("homeassistant/sensor/big/config", vec![b' '; 300 * 1024])
        .await;
    d.expect("constellation/_adapter/error", |p| {
        p.contains("exceeds the limit")
    })
    .await;
    // A template that does not compile: reported on the package's error topic.
    let bad =
        json!({"stat_t": "y/state", "val_tpl": "{{ value_json.t ", "dev": {"name": "Broken"}});
    d.publish("homeassistant/sensor/z/config", bad.to_string())
        .await;
    let e = d
        .expect("constellation/HomeAssistant/Broken/error", |_| true)
        .await;
    assert!(e.payload.contains("template"), "{}", e.payload);
    // A good config still works.
    let good = json!({"stat_t": "good/state", "name": "Level", "dev": {"name": "Good"}});
    d.publish_retained("homeassistant/sensor/good/config", good.to_string())
        .await;
    d.publish_retained("good/state", "7").await;
    so_is(&h, ("HomeAssistant", "Good"), "Level", json!(7)).await;
}

#[tokio::test]
async fn through_mosquitto_learned_subscriptions_survive_a_broker_restart() {
    let mut h = Harness::external(World::open("demo"), |c| {
        c.preset = vec![Preset {
            kind: "zigbee2mqtt".into(),
            base: Some("z2m/home".into()),
            sentinel: Some("Zb".into()),
            ..Preset::default()
        }]
    })
    .await;
    let d = h.device("z2m").await;
    d.publish_retained("z2m/home/bridge/devices", bridge_devices())
        .await;
    d.publish_retained("z2m/home/bulb_color", r#"{"state": "ON"}"#)
        .await;
    so_is(&h, ("Zb", "bulb_color"), "state", json!(true)).await;
    // The broker lost every session: the adapter subscribes again, learned topics too.
    h.restart_mosquitto().await;
    let d = h.device("z2m-again").await;
    d.publish("z2m/home/bulb_color", r#"{"state": "OFF"}"#)
        .await;
    so_is(&h, ("Zb", "bulb_color"), "state", json!(false)).await;
}

#[tokio::test]
async fn every_tasmota_fixture_through_the_preset_and_its_command_flow() {
    let h = with_preset("tasmota").await;
    let d = h.device("tasmota").await;
    d.subscribe("cmnd/#").await;
    d.publish(
        "tele/tasmota/SENSOR",
        fixture("tasmota/tele-sensor-ds18b20.json"),
    )
    .await;
    d.publish(
        "tele/pow1/SENSOR",
        fixture("tasmota/tele-sensor-energy-pow.json"),
    )
    .await;
    let t = so(&h, ("Tasmota", "tasmota"), "DS18B20.Temperature", |v| {
        *v == json!(20.6)
    })
    .await;
    assert_eq!(t.type_name.as_deref(), Some("System.Double"));
    so_is(&h, ("Tasmota", "pow1"), "ENERGY.Power", json!(2635)).await;
    so_is(&h, ("Tasmota", "pow1"), "ENERGY.Factor", json!(0.99)).await;
    for line in fixture("tasmota/lwt.txt").lines() {
        let (topic, payload) = line.split_once(' ').unwrap();
        d.publish_retained(topic, payload).await;
        let online = payload == "Online";
        so_is(&h, ("Tasmota", "tasmota_XXXXXX"), "Online", json!(online)).await;
    }
    let handle = h.sim.handle();
    for name in ["Time", "TempUnit", "ENERGY.TotalStartTime"] {
        assert!(
            handle.state_object("Tasmota", "pow1", name).is_none(),
            "{name}"
        );
    }

    // The documented command flow, through the preset's Power callback.
    let switch = "Tasmota/tasmota_switch";
    d.publish("tele/tasmota_switch/LWT", "Online").await;
    polled(&h, switch).await;
    call(&h, switch, "Power", json!("TOGGLE"), Some("f1"));
    let cmd = d.expect("cmnd/tasmota_switch/POWER", |_| true).await;
    assert_eq!(cmd.payload, "TOGGLE");
    assert!(!cmd.retain);
    d.publish("stat/tasmota_switch/RESULT", r#"{"Dimmer": 40}"#)
        .await;
    for line in fixture("tasmota/command-flow.txt")
        .lines()
        .filter(|l| l.starts_with('>'))
    {
        let (topic, payload) = line[2..].split_once(' ').unwrap();
        if payload.contains("ON") {
            d.publish(topic, payload).await;
        }
    }
    assert_eq!(answer(&h, "f1").await.data, json!("ON"));
    so_is(&h, ("Tasmota", "tasmota_switch"), "POWER", json!(true)).await;
}

#[tokio::test]
async fn zigbee2mqtt_bridge_requests_are_correlated_by_transaction() {
    let h = with_preset("zigbee2mqtt").await;
    let d = h.device("z2m").await;
    d.subscribe("zigbee2mqtt/bridge/request/#").await;
    d.publish_retained("zigbee2mqtt/bridge/devices", "[]").await;
    d.publish_retained("zigbee2mqtt/bridge/state", r#"{"state":"online"}"#)
        .await;
    so_is(&h, ("Zigbee", "bridge"), "Online", json!(true)).await;
    let desc = descriptor(&h, "Zigbee/bridge", |d| !callback_keys(d).is_empty()).await;
    assert_eq!(callback_keys(&desc), ["Request"]);
    polled(&h, "Zigbee/bridge").await;
    let lines = fixture("zigbee2mqtt/bridge-request.txt");
    let mut lines = lines.lines().map(|l| l.split_once(' ').unwrap());
    let (request_topic, request) = lines.next().unwrap();
    let (response_topic, response) = lines.next().unwrap();
    call(
        &h,
        "Zigbee/bridge",
        "Request",
        json!(["permit_join", {"value": true}]),
        Some("b1"),
    );
    let sent = d.expect(request_topic, |_| true).await;
    let mut expected: Value = serde_json::from_str(request).unwrap();
    expected["transaction"] = json!("b1");
    assert_eq!(
        serde_json::from_str::<Value>(&sent.payload).unwrap(),
        expected
    );
    // The fixture's own response (transaction 23) answers another request, not this one.
    d.publish(response_topic, response).await;
    let mut mine: Value = serde_json::from_str(response).unwrap();
    mine["transaction"] = json!("b1");
    d.publish(response_topic, mine.to_string()).await;
    assert_eq!(answer(&h, "b1").await.data, mine);
}

#[tokio::test]
async fn a_runaway_template_in_a_discovery_config_is_an_error_and_the_uplink_keeps_flowing() {
    let h = with_preset("homeassistant").await;
    let d = h.device("looper").await;
    d.subscribe("constellation/HomeAssistant/Looper/error")
        .await;
    // A value_template of 10^10 steps: it would hold the dispatcher for hours.
    let runaway = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ value }}";
    d.publish_retained(
        "homeassistant/sensor/looper/loop/config",
        json!({"name": "Loop", "stat_t": "test/looper/state", "val_tpl": runaway,
                "dev": {"name": "Looper", "ids": ["looper-1"]}})
        .to_string()
        .into_bytes(),
    )
    .await;
    descriptor(&h, "HomeAssistant/Looper", |_| true).await;
    d.publish("test/looper/state", "21").await;
    // Published after it: arrives, so nothing was held up behind the runaway template.
    d.publish("constellation/Probe/Dev/stateobject/Alive", "true")
        .await;
    h.state_object_arrives("Probe", "Dev", "Alive").await;
    let e = d
        .expect("constellation/HomeAssistant/Looper/error", |_| true)
        .await;
    assert!(e.payload.contains("ran out of fuel"), "{}", e.payload);
    assert!(h
        .sim
        .handle()
        .state_object("HomeAssistant", "Looper", "Loop")
        .is_none());
}

#[tokio::test]
async fn a_device_gone_takes_its_subscriptions_with_it() {
    let h = with_preset("homeassistant").await;
    let http = h.adapter.as_ref().unwrap().http.unwrap();
    let filters = || async {
        let text = metrics_text(http).await;
        text.lines()
            .find_map(|l| l.strip_prefix("constellation_mqtt_mqtt_filters "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap()
    };
    let before = filters().await;
    let d = h.device("garden").await;
    let config = "homeassistant/sensor/garden/temperature/config";
    d.publish_retained(
        config,
        r#"{"name":"Temperature","stat_t":"garden/temperature","uniq_id":"garden01","dev":{"ids":["garden01"],"name":"Garden"}}"#,
    )
    .await;
    wait_for("the state topic subscribed", T, || async {
        (filters().await == before + 1).then_some(())
    })
    .await;
    d.publish("garden/temperature", "12.5").await;
    so_is(&h, ("HomeAssistant", "Garden"), "Temperature", json!(12.5)).await;
    // Removed the Home Assistant way: an empty retained config.
    d.publish_retained(config, "").await;
    wait_for("the state topic unsubscribed", T, || async {
        (filters().await == before).then_some(())
    })
    .await;
}

/// Home Assistant's MQTT binary sensor compares the rendered value, as text, with
/// `payload_on`/`payload_off` (validated as strings: Zigbee2MQTT's JSON `false` is
/// `"False"`), and keeps its state when neither matches. A Zigbee2MQTT contact sensor
/// announces `payload_on: false`: `{"contact": false}` is the door open.
#[tokio::test]
async fn a_binary_sensor_reads_its_payloads_as_home_assistant_does() {
    let h = with_preset("homeassistant").await;
    let d = h.device("front-door").await;
    d.publish_retained(
        "homeassistant/binary_sensor/0x00158d0001a2b3c4/contact/config",
        fixture("homeassistant/discovery-z2m-contact.json"),
    )
    .await;
    // Learned (and its state topic subscribed) once its descriptor is declared.
    descriptor(&h, "HomeAssistant/front_door", |_| true).await;
    d.publish(
        "zigbee2mqtt/front_door",
        r#"{"contact": false, "battery": 90}"#,
    )
    .await;
    so_is(&h, ("HomeAssistant", "front_door"), "door", json!(true)).await;
    d.publish(
        "zigbee2mqtt/front_door",
        r#"{"contact": true, "battery": 90}"#,
    )
    .await;
    so_is(&h, ("HomeAssistant", "front_door"), "door", json!(false)).await;
    // Neither payload: no update. The availability after it goes through the same
    // queue: once it is in, the state would have been too.
    d.publish("zigbee2mqtt/front_door", r#"{"contact": "jammed"}"#)
        .await;
    d.publish("zigbee2mqtt/bridge/state", r#"{"state": "online"}"#)
        .await;
    so_is(&h, ("HomeAssistant", "front_door"), "Online", json!(true)).await;
    let door = h
        .sim
        .handle()
        .state_object("HomeAssistant", "front_door", "door");
    assert_eq!(door.map(|so| so.value), Some(json!(false)));
}

/// Home Assistant's MQTT lock: its state is one of the `state_*` payloads, shown as
/// `locked`/`unlocked`/…, anything else leaves it; `lock.lock` publishes `payload_lock`
/// and `lock.unlock` `payload_unlock` on the command topic.
#[tokio::test]
async fn a_lock_reads_and_commands_as_home_assistant_does() {
    let h = with_preset("homeassistant").await;
    let d = h.device("entrance").await;
    d.subscribe("lock/front/set").await;
    d.publish_retained(
        "homeassistant/lock/entrance/front/config",
        r#"{"name": "Front", "state_topic": "lock/front/state", "command_topic": "lock/front/set",
            "availability_topic": "lock/front/availability", "unique_id": "lock01", "device": {"identifiers": ["lock01"], "name": "Entrance"}}"#,
    )
    .await;
    let desc = descriptor(&h, "HomeAssistant/Entrance", |_| true).await;
    let keys = callback_keys(&desc);
    assert_eq!(keys, ["LockFront", "UnlockFront"]);
    for (payload, state) in [
        ("LOCKED", "locked"),
        ("UNLOCKED", "unlocked"),
        ("JAMMED", "jammed"),
    ] {
        d.publish("lock/front/state", payload).await;
        so_is(&h, ("HomeAssistant", "Entrance"), "Front", json!(state)).await;
    }
    // Neither payload: no update. The availability after it goes through the same
    // queue: once it is in, the state would have been too.
    d.publish("lock/front/state", "FOO").await;
    d.publish("lock/front/availability", "online").await;
    so_is(&h, ("HomeAssistant", "Entrance"), "Online", json!(true)).await;
    let state = h
        .sim
        .handle()
        .state_object("HomeAssistant", "Entrance", "Front");
    assert_eq!(state.map(|so| so.value), Some(json!("jammed")));

    polled(&h, "HomeAssistant/Entrance").await;
    call(&h, "HomeAssistant/Entrance", "LockFront", Value::Null, None);
    assert_eq!(d.expect("lock/front/set", |_| true).await.payload, "LOCK");
    call(
        &h,
        "HomeAssistant/Entrance",
        "UnlockFront",
        Value::Null,
        None,
    );
    assert_eq!(d.expect("lock/front/set", |_| true).await.payload, "UNLOCK");
}

/// Home Assistant's MQTT cover: state payloads as its states, the position scaled from
/// `position_closed`..`position_open` to percent, `open_cover`/`close_cover`/`stop_cover`
/// publishing `payload_open`/`payload_close`/`payload_stop`, `set_cover_position`
/// scaling the percentage back to the device's range on `set_position_topic`.
#[tokio::test]
async fn a_cover_reads_and_commands_as_home_assistant_does() {
    let h = with_preset("homeassistant").await;
    let d = h.device("window").await;
    d.subscribe("cover/blind/#").await;
    d.publish_retained(
        "homeassistant/cover/blind/config",
        r#"{"name": "Blind", "state_topic": "cover/blind/state", "command_topic": "cover/blind/set",
            "position_topic": "cover/blind/position", "set_position_topic": "cover/blind/position/set",
            "position_open": 255, "position_closed": 0, "payload_stop": null,
            "unique_id": "cov01", "device": {"identifiers": ["cov01"], "name": "Window"}}"#,
    )
    .await;
    let desc = descriptor(&h, "HomeAssistant/Window", |_| true).await;
    let keys = callback_keys(&desc);
    assert_eq!(
        keys,
        ["OpenBlind", "CloseBlind", "SetPositionBlind"],
        "payload_stop: null disables stop"
    );
    d.publish("cover/blind/state", "opening").await;
    so_is(&h, ("HomeAssistant", "Window"), "Blind", json!("opening")).await;
    d.publish("cover/blind/position", "51").await;
    so_is(&h, ("HomeAssistant", "Window"), "Blind.position", json!(20)).await;

    polled(&h, "HomeAssistant/Window").await;
    call(&h, "HomeAssistant/Window", "CloseBlind", Value::Null, None);
    assert_eq!(d.expect("cover/blind/set", |_| true).await.payload, "CLOSE");
    call(
        &h,
        "HomeAssistant/Window",
        "SetPositionBlind",
        json!(40),
        None,
    );
    assert_eq!(
        d.expect("cover/blind/position/set", |_| true).await.payload,
        "102"
    );
}

/// `availability_mode: all` (Zigbee2MQTT 2.x announces the bridge's state and the
/// device's availability): online only while each topic last said online, whatever
/// order the reports come in.
#[tokio::test]
async fn availability_mode_all_needs_every_topic_online() {
    let h = with_preset("homeassistant").await;
    let d = h.device("th").await;
    let config = json!({"name": "Battery", "state_topic": "zigbee2mqtt/th", "unit_of_measurement": "%",
        "value_template": "{{ value_json.battery }}", "availability_mode": "all",
        "availability": [
            {"topic": "zigbee2mqtt/bridge/state", "value_template": "{{ value_json.state }}"},
            {"topic": "zigbee2mqtt/th/availability", "value_template": "{{ value_json.state }}"}],
        "device": {"identifiers": ["zigbee2mqtt_0xb"], "name": "th"}});
    d.publish_retained(
        "homeassistant/sensor/0xb/battery/config",
        config.to_string(),
    )
    .await;
    descriptor(&h, "HomeAssistant/th", |_| true).await;
    let th = ("HomeAssistant", "th");
    d.publish("zigbee2mqtt/bridge/state", r#"{"state":"online"}"#)
        .await;
    d.publish("zigbee2mqtt/th/availability", r#"{"state":"online"}"#)
        .await;
    so_is(&h, th, "Online", json!(true)).await;
    d.publish("zigbee2mqtt/bridge/state", r#"{"state":"offline"}"#)
        .await;
    so_is(&h, th, "Online", json!(false)).await;
    // The device online again while the bridge is not: still offline (with `latest`
    // it would be online). The state after it goes through the same queue.
    d.publish("zigbee2mqtt/th/availability", r#"{"state":"online"}"#)
        .await;
    d.publish("zigbee2mqtt/th", r#"{"battery":80}"#).await;
    so_is(&h, th, "Battery", json!(80.0)).await;
    let online = h.sim.handle().state_object("HomeAssistant", "th", "Online");
    assert_eq!(online.map(|so| so.value), Some(json!(false)));
    d.publish("zigbee2mqtt/bridge/state", r#"{"state":"online"}"#)
        .await;
    so_is(&h, th, "Online", json!(true)).await;
}

/// Home Assistant's MQTT climate as Zigbee2MQTT announces a radiator valve: every
/// attribute on the device's one state topic, the HVAC mode as the state;
/// `climate.set_temperature` publishes the float (`21.0`), `set_hvac_mode` the mode.
#[tokio::test]
async fn a_climate_reads_and_commands_as_home_assistant_does() {
    let h = with_preset("homeassistant").await;
    let d = h.device("radiator").await;
    d.subscribe("zigbee2mqtt/radiator/set/#").await;
    let config = json!({"name": null, "modes": ["off", "auto", "heat"],
        "mode_state_topic": "zigbee2mqtt/radiator", "mode_state_template": "{{ value_json.system_mode }}",
        "mode_command_topic": "zigbee2mqtt/radiator/set/system_mode",
        "current_temperature_topic": "zigbee2mqtt/radiator",
        "current_temperature_template": "{{ value_json.local_temperature }}",
        "temperature_state_topic": "zigbee2mqtt/radiator",
        "temperature_state_template": "{{ value_json.current_heating_setpoint }}",
        "temperature_command_topic": "zigbee2mqtt/radiator/set/current_heating_setpoint",
        "unique_id": "0x9_climate", "device": {"identifiers": ["zigbee2mqtt_0x9"], "name": "radiator"}});
    d.publish_retained(
        "homeassistant/climate/0x9/climate/config",
        config.to_string(),
    )
    .await;
    let desc = descriptor(&h, "HomeAssistant/radiator", |_| true).await;
    assert_eq!(
        callback_keys(&desc),
        ["SetTemperatureClimate", "SetModeClimate"]
    );
    d.publish(
        "zigbee2mqtt/radiator",
        r#"{"local_temperature":19.5,"current_heating_setpoint":21,"system_mode":"heat"}"#,
    )
    .await;
    let radiator = ("HomeAssistant", "radiator");
    so_is(&h, radiator, "climate", json!("heat")).await;
    so_is(&h, radiator, "climate.current_temperature", json!(19.5)).await;
    so_is(&h, radiator, "climate.temperature", json!(21.0)).await;

    polled(&h, "HomeAssistant/radiator").await;
    call(
        &h,
        "HomeAssistant/radiator",
        "SetTemperatureClimate",
        json!(22),
        None,
    );
    let set = d
        .expect("zigbee2mqtt/radiator/set/current_heating_setpoint", |_| {
            true
        })
        .await;
    assert_eq!(set.payload, "22.0");
    call(
        &h,
        "HomeAssistant/radiator",
        "SetModeClimate",
        json!("off"),
        None,
    );
    let set = d
        .expect("zigbee2mqtt/radiator/set/system_mode", |_| true)
        .await;
    assert_eq!(set.payload, "off");
}

/// Devices learned are bounded (`constellation.max_learned_devices`): one more is
/// refused on the adapter's `error` topic and counted; the others go on working.
#[tokio::test]
async fn learned_devices_beyond_the_bound_are_refused_and_counted() {
    let h = Harness::embedded(World::open("demo"), |c| {
        c.preset = vec![Preset {
            kind: "homeassistant".into(),
            ..Preset::default()
        }];
        c.constellation.max_learned_devices = 2;
    })
    .await;
    let http = h.adapter.as_ref().unwrap().http.unwrap();
    let d = h.device("many").await;
    d.subscribe("constellation/_adapter/error").await;
    for i in 0..3 {
        d.publish(
            &format!("homeassistant/sensor/room{i}/temperature/config"),
            json!({"name": "Temperature", "state_topic": format!("room{i}/temp"),
                   "unique_id": format!("t{i}"),
                   "device": {"identifiers": [format!("room{i}")], "name": format!("Room{i}")}})
            .to_string(),
        )
        .await;
    }
    let e = d
        .expect("constellation/_adapter/error", |p| {
            p.contains("max_learned_devices")
        })
        .await;
    assert!(e.payload.contains("not learned"), "{}", e.payload);
    let text = metrics_text(http).await;
    assert!(
        text.contains("constellation_mqtt_refused_total{reason=\"too_many_devices\"} 1"),
        "{text}"
    );
    d.publish("room1/temp", "21.5").await;
    wait_for("a learned device still maps", T, || async {
        h.sim
            .handle()
            .state_object("HomeAssistant", "Room1", "Temperature")
            .map(drop)
    })
    .await;
}
