//! Home Assistant semantics, table-driven: each row is a discovery config as a real
//! device announces it (Zigbee2MQTT 1.x/2.x, Tasmota, ESPHome), payloads of the shapes
//! it publishes, and the value Home Assistant shows for each — the rule of Home
//! Assistant's MQTT integration documentation it follows is cited
//! (<https://www.home-assistant.io/integrations/><component>.mqtt/). The preset must
//! push exactly that, or nothing where Home Assistant leaves the state as it was; and
//! each callback must publish what the matching Home Assistant service publishes.
//!
//! The rows run the preset's real discovery, mapping and command code in-process; the
//! end-to-end path (broker, adapter, simulator) is covered in `tests/discovery.rs`.

use constellation_mqtt::constellation::model::{
    ReceivedMessage, ReceivedScope, ScopeType, Sender, SenderType,
};
use constellation_mqtt::discovery::Discovery;
use constellation_mqtt::mapping::DiscoverySource;
use constellation_mqtt::native::{AvailabilityMode, Intent, PackageId};
use serde_json::{json, Value};

/// The preset with the entities announced (each `(config topic, config)`).
fn announced(entities: &[(&str, Value)]) -> Discovery {
    let mut d = Discovery::new(&[DiscoverySource::HomeAssistant {
        prefix: "homeassistant".into(),
        sentinel: "HA".into(),
    }]);
    for (topic, config) in entities {
        let learned = d
            .learn(topic, config.to_string().as_bytes())
            .expect("a discovery topic");
        assert!(learned.errors.is_empty(), "{topic}: {:?}", learned.errors);
    }
    d
}

/// What the learned devices make of `payload` on `topic`.
fn intents(d: &Discovery, topic: &str, payload: &str) -> Vec<Intent> {
    d.handlers(topic)
        .iter()
        .flat_map(|h| h.map(topic, payload.as_bytes()))
        .map(|r| r.expect("no mapping error").1)
        .collect()
}

/// The StateObjects pushed for `payload` on `topic`, by name.
fn pushes(d: &Discovery, topic: &str, payload: &str) -> Vec<(String, Value)> {
    intents(d, topic, payload)
        .into_iter()
        .filter_map(|i| match i {
            Intent::PushStateObject(so) => Some((so.name, so.value)),
            _ => None,
        })
        .collect()
}

/// The publish callback `key` of package `HA/<package>` makes for `data`.
fn publish(
    d: &Discovery,
    package: &str,
    key: &str,
    data: Value,
) -> Result<Vec<(String, String)>, String> {
    let package = PackageId::new("HA", package);
    let commands = d
        .commands_taking(&package, key)
        .ok_or_else(|| format!("no callback {key}"))?;
    let message = ReceivedMessage {
        key: key.into(),
        data,
        scope: ReceivedScope {
            kind: ScopeType::Package,
            args: vec![],
            saga_id: None,
        },
        sender: Sender {
            kind: SenderType::ConsumerHttp,
            friendly_name: "Test/x".into(),
            connection_id: None,
        },
        extra: Default::default(),
    };
    let invocation = commands.invoke(&package, &message).expect("taken")?;
    Ok(invocation
        .publishes
        .into_iter()
        .map(|(topic, payload)| (topic, String::from_utf8(payload).expect("UTF-8")))
        .collect())
}

/// One row of state semantics.
struct StateRow {
    /// The Home Assistant documentation rule the row follows.
    rule: &'static str,
    config_topic: &'static str,
    config: Value,
    /// Each publish, and what must be pushed (empty: no update).
    publishes: Vec<Publish>,
}

/// A publish (topic, payload) and the StateObjects it must push.
type Publish = (&'static str, &'static str, Vec<(&'static str, Value)>);

fn state_rows() -> Vec<StateRow> {
    vec![
        StateRow {
            rule: "binary_sensor: the rendered value_template is compared, as text, with \
                   payload_on/payload_off; a JSON false there is Python's False (Z2M 1.x/2.x contact)",
            config_topic: "homeassistant/binary_sensor/0x1/contact/config",
            config: json!({"name": "Door", "state_topic": "zigbee2mqtt/door",
                "value_template": "{{ value_json.contact }}", "payload_on": false, "payload_off": true,
                "device_class": "door", "unique_id": "0x1_contact", "device": {"identifiers": ["zigbee2mqtt_0x1"], "name": "door"}}),
            publishes: vec![
                ("zigbee2mqtt/door", r#"{"contact":false,"battery":90}"#, vec![("Door", json!(true))]),
                ("zigbee2mqtt/door", r#"{"contact":true}"#, vec![("Door", json!(false))]),
                // Neither payload: Home Assistant logs it and keeps the state.
                ("zigbee2mqtt/door", r#"{"contact":"unknown"}"#, vec![]),
                // The key missing: the template renders nothing usable, no update.
                ("zigbee2mqtt/door", r#"{"battery":89}"#, vec![]),
            ],
        },
        StateRow {
            rule: "binary_sensor: default payload_on ON / payload_off OFF, compared case-sensitively (ESPHome)",
            config_topic: "homeassistant/binary_sensor/esp1/motion/config",
            config: json!({"name": "Motion", "state_topic": "esp1/binary_sensor/motion/state",
                "unique_id": "esp1motion", "device": {"identifiers": ["esp1"], "name": "esp1"}}),
            publishes: vec![
                ("esp1/binary_sensor/motion/state", "ON", vec![("Motion", json!(true))]),
                ("esp1/binary_sensor/motion/state", "OFF", vec![("Motion", json!(false))]),
                ("esp1/binary_sensor/motion/state", "on", vec![]),
            ],
        },
        StateRow {
            rule: "switch: state_on/state_off default to payload_on/payload_off; a RESULT without \
                   the template's key is no update (Tasmota)",
            config_topic: "homeassistant/switch/plug1/relay/config",
            config: json!({"name": "Relay", "stat_t": "stat/plug1/RESULT", "val_tpl": "{{ value_json.POWER }}",
                "cmd_t": "cmnd/plug1/POWER", "pl_on": "ON", "pl_off": "OFF", "uniq_id": "plug1_relay",
                "dev": {"ids": ["plug1"], "name": "plug1"}}),
            publishes: vec![
                ("stat/plug1/RESULT", r#"{"POWER":"ON"}"#, vec![("Relay", json!(true))]),
                ("stat/plug1/RESULT", r#"{"Dimmer":40}"#, vec![]),
            ],
        },
        StateRow {
            rule: "sensor: with a unit_of_measurement or state_class the state must be numeric; \
                   anything else is rejected (Z2M 2.x temperature)",
            config_topic: "homeassistant/sensor/0x2/temperature/config",
            config: json!({"name": null, "state_topic": "zigbee2mqtt/climate", "device_class": "temperature",
                "state_class": "measurement", "unit_of_measurement": "°C",
                "value_template": "{{ value_json.temperature }}", "unique_id": "0x2_temperature",
                "device": {"identifiers": ["zigbee2mqtt_0x2"], "name": "climate"}}),
            publishes: vec![
                ("zigbee2mqtt/climate", r#"{"temperature":21.5,"humidity":40}"#, vec![("temperature", json!(21.5))]),
                ("zigbee2mqtt/climate", r#"{"temperature":"unknown"}"#, vec![]),
                ("zigbee2mqtt/climate", r#"{"temperature":""}"#, vec![]),
                ("zigbee2mqtt/climate", r#"{"humidity":41}"#, vec![]),
            ],
        },
        StateRow {
            rule: "templating: Python methods and float() with a default (value.split(',')[1] | float(0))",
            config_topic: "homeassistant/sensor/meter/power/config",
            config: json!({"name": "Power", "state_topic": "meter/raw", "unit_of_measurement": "W",
                "value_template": "{{ value.split(',')[1] | float(0) }}", "unique_id": "meter_power"}),
            publishes: vec![
                ("meter/raw", "230.1,1250.5,0.98", vec![("Power", json!(1250.5))]),
                ("meter/raw", "230.1,n/a", vec![("Power", json!(0.0))]),
            ],
        },
        StateRow {
            rule: "sensor device_class timestamp: an ISO 8601 datetime with its time zone, shown in \
                   UTC; without a time zone it is rejected",
            config_topic: "homeassistant/sensor/0x3/last_seen/config",
            config: json!({"name": "Last seen", "state_topic": "zigbee2mqtt/plug", "device_class": "timestamp",
                "value_template": "{{ value_json.last_seen }}", "unique_id": "0x3_last_seen",
                "device": {"identifiers": ["zigbee2mqtt_0x3"], "name": "plug"}}),
            publishes: vec![
                ("zigbee2mqtt/plug", r#"{"last_seen":"2024-03-01T10:00:00+01:00"}"#,
                    vec![("Last seen", json!("2024-03-01T09:00:00+00:00"))]),
                ("zigbee2mqtt/plug", r#"{"last_seen":"2024-03-01T10:00:00"}"#, vec![]),
                ("zigbee2mqtt/plug", r#"{"last_seen":"yesterday"}"#, vec![]),
            ],
        },
        StateRow {
            rule: "sensor device_class enum: the state must be one of options",
            config_topic: "homeassistant/sensor/0x4/action/config",
            config: json!({"name": "Action", "state_topic": "zigbee2mqtt/button", "device_class": "enum",
                "options": ["single", "double", "hold"], "value_template": "{{ value_json.action }}",
                "unique_id": "0x4_action", "device": {"identifiers": ["zigbee2mqtt_0x4"], "name": "button"}}),
            publishes: vec![
                ("zigbee2mqtt/button", r#"{"action":"double"}"#, vec![("Action", json!("double"))]),
                ("zigbee2mqtt/button", r#"{"action":"triple"}"#, vec![]),
                ("zigbee2mqtt/button", r#"{"action":""}"#, vec![]),
            ],
        },
        StateRow {
            rule: "sensor without unit: the rendered text as it is",
            config_topic: "homeassistant/sensor/esp1/version/config",
            config: json!({"name": "Version", "state_topic": "esp1/sensor/version/state", "unique_id": "esp1version"}),
            publishes: vec![("esp1/sensor/version/state", "2024.2.1", vec![("Version", json!("2024.2.1"))])],
        },
        StateRow {
            rule: "number: a number within min..max (default 1..100); others rejected (Z2M calibration)",
            config_topic: "homeassistant/number/0x5/calibration/config",
            config: json!({"name": "Calibration", "state_topic": "zigbee2mqtt/trv", "min": -5, "max": 5,
                "command_topic": "zigbee2mqtt/trv/set/local_temperature_calibration",
                "value_template": "{{ value_json.local_temperature_calibration }}", "unique_id": "0x5_cal",
                "device": {"identifiers": ["zigbee2mqtt_0x5"], "name": "trv"}}),
            publishes: vec![
                ("zigbee2mqtt/trv", r#"{"local_temperature_calibration":-1.5}"#, vec![("Calibration", json!(-1.5))]),
                ("zigbee2mqtt/trv", r#"{"local_temperature_calibration":9}"#, vec![]),
                ("zigbee2mqtt/trv", r#"{"local_temperature_calibration":"x"}"#, vec![]),
            ],
        },
        StateRow {
            rule: "select: the state must be one of options",
            config_topic: "homeassistant/select/0x6/power_on/config",
            config: json!({"name": "Power on behavior", "state_topic": "zigbee2mqtt/bulb6",
                "value_template": "{{ value_json.power_on_behavior }}", "options": ["off", "on", "toggle", "previous"],
                "command_topic": "zigbee2mqtt/bulb6/set/power_on_behavior", "unique_id": "0x6_pob",
                "device": {"identifiers": ["zigbee2mqtt_0x6"], "name": "bulb6"}}),
            publishes: vec![
                ("zigbee2mqtt/bulb6", r#"{"power_on_behavior":"previous"}"#, vec![("Power on behavior", json!("previous"))]),
                ("zigbee2mqtt/bulb6", r#"{"power_on_behavior":"blink"}"#, vec![]),
            ],
        },
        StateRow {
            rule: "text: the rendered text",
            config_topic: "homeassistant/text/esp1/label/config",
            config: json!({"name": "Label", "state_topic": "esp1/text/label/state",
                "command_topic": "esp1/text/label/command", "unique_id": "esp1label"}),
            publishes: vec![("esp1/text/label/state", "Kitchen", vec![("Label", json!("Kitchen"))])],
        },
        StateRow {
            rule: "lock: state_locked/state_unlocked… payloads give locked/unlocked…; others ignored (Z2M)",
            config_topic: "homeassistant/lock/0x7/lock/config",
            config: json!({"name": null, "state_topic": "zigbee2mqtt/front", "value_template": "{{ value_json.state }}",
                "state_locked": "LOCK", "state_unlocked": "UNLOCK", "command_topic": "zigbee2mqtt/front/set",
                "payload_lock": "LOCK", "payload_unlock": "UNLOCK", "unique_id": "0x7_lock",
                "device": {"identifiers": ["zigbee2mqtt_0x7"], "name": "front"}}),
            publishes: vec![
                ("zigbee2mqtt/front", r#"{"state":"LOCK"}"#, vec![("lock", json!("locked"))]),
                ("zigbee2mqtt/front", r#"{"state":"UNLOCK"}"#, vec![("lock", json!("unlocked"))]),
                ("zigbee2mqtt/front", r#"{"state":"LOCKED"}"#, vec![]),
            ],
        },
        StateRow {
            rule: "cover: state_open/closed/opening/closing/stopped, position from position_topic scaled \
                   from position_closed..position_open to 0..100 (Tasmota shutter)",
            config_topic: "homeassistant/cover/shutter1/cover/config",
            config: json!({"name": "Shutter", "state_topic": "stat/shutter1/STATE", "value_template": "{{ value_json.Direction }}",
                "state_opening": "1", "state_closing": "-1", "state_stopped": "0",
                "position_topic": "stat/shutter1/SHUTTER", "position_template": "{{ value_json.Shutter1.Position }}",
                "position_open": 100, "position_closed": 0, "command_topic": "cmnd/shutter1/Backlog",
                "set_position_topic": "cmnd/shutter1/ShutterPosition1", "unique_id": "shutter1"}),
            publishes: vec![
                ("stat/shutter1/STATE", r#"{"Direction":1}"#, vec![("Shutter", json!("opening"))]),
                ("stat/shutter1/STATE", r#"{"Direction":7}"#, vec![]),
                ("stat/shutter1/SHUTTER", r#"{"Shutter1":{"Position":35,"Direction":0}}"#, vec![("Shutter.position", json!(35))]),
            ],
        },
        StateRow {
            rule: "light, JSON schema: state ON/OFF is the light's state; brightness (0..255 from \
                   brightness_scale), color_temp, color_mode and color are attributes (Z2M bulb)",
            config_topic: "homeassistant/light/0x8/light/config",
            config: json!({"name": null, "schema": "json", "state_topic": "zigbee2mqtt/bulb", "command_topic": "zigbee2mqtt/bulb/set",
                "brightness": true, "brightness_scale": 254, "supported_color_modes": ["color_temp", "xy"],
                "unique_id": "0x8_light", "device": {"identifiers": ["zigbee2mqtt_0x8"], "name": "bulb"}}),
            publishes: vec![(
                "zigbee2mqtt/bulb",
                r#"{"state":"ON","brightness":254,"color_temp":370,"color_mode":"color_temp","linkquality":80}"#,
                vec![
                    ("light", json!(true)),
                    ("light.brightness", json!(255)),
                    ("light.color_mode", json!("color_temp")),
                    ("light.color_temp", json!(370)),
                ],
            ),
            ("zigbee2mqtt/bulb", r#"{"state":"OFF"}"#, vec![("light", json!(false))])],
        },
        StateRow {
            rule: "light, default schema: state_value_template; brightness_state_topic scaled from \
                   brightness_scale to 0..255, a zero brightness ignored; with a brightness state \
                   topic, rgb_state_topic r,g,b as it is (Tasmota)",
            config_topic: "homeassistant/light/dimmer1/light/config",
            config: json!({"name": "Dimmer", "stat_t": "stat/dimmer1/RESULT", "stat_val_tpl": "{{ value_json.POWER }}",
                "cmd_t": "cmnd/dimmer1/POWER", "bri_stat_t": "stat/dimmer1/RESULT", "bri_val_tpl": "{{ value_json.Dimmer }}",
                "bri_cmd_t": "cmnd/dimmer1/Dimmer", "bri_scl": 100, "rgb_stat_t": "stat/dimmer1/COLOR",
                "rgb_cmd_t": "cmnd/dimmer1/Color2", "uniq_id": "dimmer1"}),
            publishes: vec![
                ("stat/dimmer1/RESULT", r#"{"POWER":"ON","Dimmer":50}"#,
                    vec![("Dimmer", json!(true)), ("Dimmer.brightness", json!(128))]),
                ("stat/dimmer1/RESULT", r#"{"Dimmer":0}"#, vec![]),
                ("stat/dimmer1/COLOR", "255,128,0", vec![("Dimmer.rgb", json!([255, 128, 0]))]),
            ],
        },
        StateRow {
            rule: "fan: percentage from percentage_state_topic in speed_range_min..max \
                   (ranged_value_to_percentage), outside 0..100 rejected; preset_mode one of \
                   preset_modes; oscillation payloads (Tasmota iFan)",
            config_topic: "homeassistant/fan/ifan/fan/config",
            config: json!({"name": "Fan", "state_topic": "stat/ifan/POWER", "command_topic": "cmnd/ifan/POWER",
                "percentage_state_topic": "stat/ifan/SPEED", "percentage_command_topic": "cmnd/ifan/FanSpeed",
                "speed_range_min": 1, "speed_range_max": 3, "preset_modes": ["auto", "sleep"],
                "preset_mode_state_topic": "stat/ifan/PRESET", "preset_mode_command_topic": "cmnd/ifan/Preset",
                "oscillation_state_topic": "stat/ifan/OSC", "oscillation_command_topic": "cmnd/ifan/Osc",
                "unique_id": "ifan"}),
            publishes: vec![
                ("stat/ifan/POWER", "ON", vec![("Fan", json!(true))]),
                ("stat/ifan/SPEED", "2", vec![("Fan.percentage", json!(66))]),
                ("stat/ifan/SPEED", "3", vec![("Fan.percentage", json!(100))]),
                ("stat/ifan/SPEED", "5", vec![]),
                ("stat/ifan/PRESET", "sleep", vec![("Fan.preset_mode", json!("sleep"))]),
                ("stat/ifan/PRESET", "turbo", vec![]),
                ("stat/ifan/OSC", "oscillate_on", vec![("Fan.oscillation", json!(true))]),
            ],
        },
        StateRow {
            rule: "climate: one state topic for all attributes; the hvac mode (one of modes) is the \
                   state; current_temperature and temperature numeric; action one of HVACAction (Z2M 1.x TRV)",
            config_topic: "homeassistant/climate/0x9/climate/config",
            config: json!({"name": null, "modes": ["off", "auto", "heat"],
                "mode_state_topic": "zigbee2mqtt/radiator", "mode_state_template": "{{ value_json.system_mode }}",
                "mode_command_topic": "zigbee2mqtt/radiator/set/system_mode",
                "current_temperature_topic": "zigbee2mqtt/radiator", "current_temperature_template": "{{ value_json.local_temperature }}",
                "temperature_state_topic": "zigbee2mqtt/radiator", "temperature_state_template": "{{ value_json.current_heating_setpoint }}",
                "temperature_command_topic": "zigbee2mqtt/radiator/set/current_heating_setpoint",
                "action_topic": "zigbee2mqtt/radiator",
                "action_template": "{% set values = {None:None,'idle':'idle','heat':'heating','cool':'cooling','fan_only':'fan'} %}{{ values[value_json.running_state] }}",
                "min_temp": "5", "max_temp": "30", "unique_id": "0x9_climate",
                "device": {"identifiers": ["zigbee2mqtt_0x9"], "name": "radiator"}}),
            publishes: vec![
                ("zigbee2mqtt/radiator",
                    r#"{"local_temperature":19.5,"current_heating_setpoint":21,"system_mode":"heat","running_state":"heat"}"#,
                    vec![
                        ("climate.current_temperature", json!(19.5)),
                        ("climate.temperature", json!(21.0)),
                        ("climate", json!("heat")),
                        ("climate.action", json!("heating")),
                    ]),
                ("zigbee2mqtt/radiator", r#"{"local_temperature":20,"system_mode":"turbo","running_state":"idle"}"#,
                    vec![("climate.current_temperature", json!(20.0)), ("climate.action", json!("idle"))]),
            ],
        },
        StateRow {
            rule: "device_tracker: payload_home is home, payload_not_home not_home, any other \
                   payload a location name",
            config_topic: "homeassistant/device_tracker/phone/tracker/config",
            config: json!({"name": "Phone", "state_topic": "owntracks/phone/state", "unique_id": "phone"}),
            publishes: vec![
                ("owntracks/phone/state", "home", vec![("Phone", json!("home"))]),
                ("owntracks/phone/state", "not_home", vec![("Phone", json!("not_home"))]),
                ("owntracks/phone/state", "Work", vec![("Phone", json!("Work"))]),
                ("owntracks/phone/state", "", vec![]),
            ],
        },
        StateRow {
            rule: "event: the rendered JSON object's event_type must be one of event_types (Z2M 2.x action)",
            config_topic: "homeassistant/event/0xa/action/config",
            config: json!({"name": "Button", "state_topic": "zigbee2mqtt/remote", "event_types": ["single", "double"],
                "value_template": "{{ {'event_type': value_json.action} | to_json }}", "unique_id": "0xa_event",
                "device": {"identifiers": ["zigbee2mqtt_0xa"], "name": "remote"}}),
            publishes: vec![
                ("zigbee2mqtt/remote", r#"{"action":"double"}"#, vec![("Button", json!({"event_type": "double"}))]),
                ("zigbee2mqtt/remote", r#"{"action":"hold"}"#, vec![]),
            ],
        },
    ]
}

#[test]
fn each_entity_reads_as_home_assistant_shows_it() {
    for row in state_rows().into_iter().chain(edge_rows()) {
        let d = announced(&[(row.config_topic, row.config.clone())]);
        for (topic, payload, expected) in &row.publishes {
            let mut got = pushes(&d, topic, payload);
            let mut want: Vec<(String, Value)> = expected
                .iter()
                .map(|(n, v)| ((*n).into(), v.clone()))
                .collect();
            got.sort_by(|a, b| a.0.cmp(&b.0));
            want.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(got, want, "{}\n  {topic} {payload}", row.rule);
        }
    }
}

/// One row of command semantics: the callback, its data, and what Home Assistant's
/// service publishes.
struct CommandRow {
    rule: &'static str,
    config: Value,
    /// (callback, data, topic, payload).
    calls: Vec<(&'static str, Value, &'static str, &'static str)>,
}

fn command_rows() -> Vec<CommandRow> {
    let dev = json!({"identifiers": ["dev"], "name": "dev"});
    let with = |mut config: Value| {
        config["device"] = dev.clone();
        config
    };
    vec![
        CommandRow {
            rule: "switch.turn_on/turn_off publish payload_on/payload_off, through command_template \
                   with value = that payload",
            config: with(json!({"component": "switch", "name": "Relay", "command_topic": "r/set",
                "payload_on": "1", "payload_off": "0"})),
            calls: vec![("SetRelay", json!(true), "r/set", "1"), ("SetRelay", json!(false), "r/set", "0")],
        },
        CommandRow {
            rule: "switch command_template renders with value = payload_on/payload_off",
            config: with(json!({"component": "switch", "name": "Plug", "command_topic": "p/set",
                "command_template": "{\"state\": \"{{ value | lower }}\"}"})),
            calls: vec![("SetPlug", json!(true), "p/set", r#"{"state": "on"}"#)],
        },
        CommandRow {
            rule: "lock.lock/unlock/open publish payload_lock/payload_unlock/payload_open \
                   (open only when configured), through command_template",
            config: with(json!({"component": "lock", "name": "Door", "command_topic": "l/set",
                "payload_open": "OPEN", "command_template": "{\"state\": \"{{ value }}\"}"})),
            calls: vec![
                ("LockDoor", json!(null), "l/set", r#"{"state": "LOCK"}"#),
                ("UnlockDoor", json!(null), "l/set", r#"{"state": "UNLOCK"}"#),
                ("OpenDoor", json!(null), "l/set", r#"{"state": "OPEN"}"#),
            ],
        },
        CommandRow {
            rule: "cover.open/close/stop publish payload_open/close/stop; set_cover_position scales \
                   0..100 to position_closed..position_open, through set_position_template with position",
            config: with(json!({"component": "cover", "name": "Blind", "command_topic": "c/set",
                "set_position_topic": "c/pos", "position_open": 255, "position_closed": 0,
                "set_position_template": "{\"pos\": {{ position }}}"})),
            calls: vec![
                ("OpenBlind", json!(null), "c/set", "OPEN"),
                ("CloseBlind", json!(null), "c/set", "CLOSE"),
                ("StopBlind", json!(null), "c/set", "STOP"),
                ("SetPositionBlind", json!(40), "c/pos", r#"{"pos": 102}"#),
            ],
        },
        CommandRow {
            rule: "light (JSON schema) turn_on publishes {\"state\": \"ON\"} with its options, \
                   brightness scaled to brightness_scale; turn_off {\"state\": \"OFF\"}",
            config: with(json!({"component": "light", "name": "Bulb", "schema": "json",
                "command_topic": "b/set", "brightness_scale": 100})),
            calls: vec![
                ("TurnOnBulb", json!({"brightness": 255, "transition": 2}), "b/set",
                    r#"{"state": "ON", "brightness": 100, "transition": 2}"#),
                ("TurnOffBulb", json!(null), "b/set", r#"{"state": "OFF"}"#),
            ],
        },
        CommandRow {
            rule: "light (default schema) Set publishes payload_on/payload_off on command_topic \
                   (light.turn_on's other options: light_turn_on_publishes_what_home_assistant_does)",
            config: with(json!({"component": "light", "name": "Lamp", "command_topic": "d/set",
                "brightness_command_topic": "d/bri", "brightness_scale": 100, "rgb_command_topic": "d/rgb"})),
            calls: vec![("SetLamp", json!(true), "d/set", "ON"), ("SetLamp", json!(false), "d/set", "OFF")],
        },
        CommandRow {
            rule: "climate.set_temperature publishes the float (Python writes 21.0) through \
                   temperature_command_template; set_hvac_mode the mode; turn_on payload_on on power_command_topic",
            config: with(json!({"component": "climate", "name": "Heater",
                "temperature_command_topic": "h/temp", "mode_command_topic": "h/mode",
                "mode_command_template": "{\"mode\": \"{{ value }}\"}", "power_command_topic": "h/power",
                "preset_modes": ["eco"], "preset_mode_command_topic": "h/preset"})),
            calls: vec![
                ("SetTemperatureHeater", json!(21), "h/temp", "21.0"),
                ("SetTemperatureHeater", json!(20.5), "h/temp", "20.5"),
                ("SetModeHeater", json!("heat"), "h/mode", r#"{"mode": "heat"}"#),
                ("SetPresetModeHeater", json!("eco"), "h/preset", "eco"),
                ("TurnOnHeater", json!(null), "h/power", "ON"),
                ("TurnOffHeater", json!(null), "h/power", "OFF"),
            ],
        },
        CommandRow {
            rule: "fan.set_percentage publishes ceil(percentage_to_ranged_value(speed_range, \
                   percentage)); oscillate payload_oscillation_on/off; set_preset_mode the mode",
            config: with(json!({"component": "fan", "name": "Fan", "command_topic": "f/set",
                "percentage_command_topic": "f/speed", "speed_range_min": 1, "speed_range_max": 3,
                "oscillation_command_topic": "f/osc", "preset_modes": ["auto"], "preset_mode_command_topic": "f/preset"})),
            calls: vec![
                ("SetFan", json!(true), "f/set", "ON"),
                ("SetPercentageFan", json!(50), "f/speed", "2"),
                ("SetPercentageFan", json!(100), "f/speed", "3"),
                ("OscillateFan", json!(true), "f/osc", "oscillate_on"),
                ("SetPresetModeFan", json!("auto"), "f/preset", "auto"),
            ],
        },
        CommandRow {
            rule: "number.set_value publishes an integer when the value is one, else the float, \
                   through command_template",
            config: with(json!({"component": "number", "name": "Level", "command_topic": "n/set",
                "command_template": "{\"level\": {{ value }}}"})),
            calls: vec![
                ("SetLevel", json!(21.0), "n/set", r#"{"level": 21}"#),
                ("SetLevel", json!(21.5), "n/set", r#"{"level": 21.5}"#),
            ],
        },
        CommandRow {
            rule: "select.select_option and text.set_value publish the option / text",
            config: with(json!({"component": "select", "name": "Mode", "command_topic": "s/set",
                "options": ["a", "b"]})),
            calls: vec![("SetMode", json!("b"), "s/set", "b")],
        },
        CommandRow {
            rule: "text.set_value publishes the text through command_template",
            config: with(json!({"component": "text", "name": "Label", "command_topic": "t/set"})),
            calls: vec![("SetLabel", json!("Salon"), "t/set", "Salon")],
        },
        CommandRow {
            rule: "button.press publishes payload_press (default PRESS)",
            config: with(json!({"component": "button", "name": "Restart", "command_topic": "x/restart",
                "payload_press": "restart"})),
            calls: vec![("PressRestart", json!(null), "x/restart", "restart")],
        },
    ]
}

#[test]
fn each_callback_publishes_what_the_home_assistant_service_does() {
    for (i, row) in command_rows().into_iter().enumerate() {
        let mut config = row.config;
        let component = config["component"]
            .as_str()
            .expect("a component")
            .to_owned();
        config
            .as_object_mut()
            .expect("an object")
            .remove("component");
        let topic = format!("homeassistant/{component}/e{i}/config");
        let d = announced(&[(topic.as_str(), config)]);
        for (key, data, want_topic, want_payload) in &row.calls {
            let got = publish(&d, "dev", key, data.clone());
            assert_eq!(
                got,
                Ok(vec![((*want_topic).into(), (*want_payload).into())]),
                "{}\n  {key}({data})",
                row.rule
            );
        }
    }
}

/// A lock without `payload_open` has no `Open` service; a cover's payload set to null
/// drops its service, as Home Assistant's does.
#[test]
fn services_a_config_does_not_give_are_not_callbacks() {
    let dev = json!({"identifiers": ["dev"], "name": "dev"});
    let d = announced(&[
        (
            "homeassistant/lock/l/config",
            json!({"name": "Door", "command_topic": "l/set", "device": dev}),
        ),
        (
            "homeassistant/cover/c/config",
            json!({"name": "Blind", "command_topic": "c/set", "payload_stop": null, "device": dev}),
        ),
    ]);
    assert!(publish(&d, "dev", "OpenDoor", json!(null)).is_err());
    assert!(publish(&d, "dev", "StopBlind", json!(null)).is_err());
    assert!(publish(&d, "dev", "CloseBlind", json!(null)).is_ok());
}

/// `availability_mode: all` (Zigbee2MQTT 2.x: the bridge and the device): each topic's
/// report is combined by the package worker; `latest` (the default) is the last report.
#[test]
fn availability_reports_carry_their_mode() {
    let d = announced(&[(
        "homeassistant/sensor/0xb/battery/config",
        json!({"name": "Battery", "state_topic": "zigbee2mqtt/th", "unit_of_measurement": "%",
            "value_template": "{{ value_json.battery }}", "availability_mode": "all",
            "availability": [
                {"topic": "zigbee2mqtt/bridge/state", "value_template": "{{ value_json.state }}"},
                {"topic": "zigbee2mqtt/th/availability", "value_template": "{{ value_json.state }}"}],
            "device": {"identifiers": ["zigbee2mqtt_0xb"], "name": "th"}}),
    )]);
    let mode = AvailabilityMode::All(vec![
        "zigbee2mqtt/bridge/state".into(),
        "zigbee2mqtt/th/availability".into(),
    ]);
    assert_eq!(
        intents(&d, "zigbee2mqtt/th/availability", r#"{"state":"offline"}"#),
        [Intent::Availability {
            topic: "zigbee2mqtt/th/availability".into(),
            online: false,
            mode: mode.clone(),
        }]
    );
    let reports = std::collections::HashMap::from([
        ("zigbee2mqtt/bridge/state".to_string(), true),
        ("zigbee2mqtt/th/availability".to_string(), false),
    ]);
    assert!(!mode.combine(&reports));
    let any = AvailabilityMode::Any(vec!["zigbee2mqtt/bridge/state".into()]);
    assert!(any.combine(&reports));

    let latest = announced(&[(
        "homeassistant/sensor/0xc/battery/config",
        json!({"name": "Battery", "state_topic": "zigbee2mqtt/th2", "availability_topic": "zigbee2mqtt/th2/availability",
            "device": {"identifiers": ["zigbee2mqtt_0xc"], "name": "th2"}}),
    )]);
    assert_eq!(
        intents(&latest, "zigbee2mqtt/th2/availability", "online"),
        [Intent::Status(true)]
    );
}

/// `expire_after` is the StateObject's lifetime (Home Assistant marks it unavailable
/// after that many seconds without a message; Constellation expires it).
#[test]
fn expire_after_is_the_lifetime() {
    let d = announced(&[(
        "homeassistant/sensor/esp2/rssi/config",
        json!({"name": "RSSI", "state_topic": "esp2/sensor/rssi/state", "unit_of_measurement": "dBm",
            "expire_after": 300, "unique_id": "esp2rssi"}),
    )]);
    let lifetimes: Vec<Option<i64>> = intents(&d, "esp2/sensor/rssi/state", "-67")
        .into_iter()
        .filter_map(|i| match i {
            Intent::PushStateObject(so) => Some(so.lifetime),
            _ => None,
        })
        .collect();
    assert_eq!(lifetimes, [Some(300)]);
}

/// Device triggers (Zigbee2MQTT announces one per button action) and tag scanners hold
/// no state: learned as nothing, and not an error.
#[test]
fn device_triggers_are_not_stateobjects() {
    let d = announced(&[(
        "homeassistant/device_automation/0xd/action_single/config",
        json!({"automation_type": "trigger", "type": "action", "subtype": "single", "payload": "single",
            "topic": "zigbee2mqtt/remote/action", "device": {"identifiers": ["zigbee2mqtt_0xd"], "name": "remote"}}),
    )]);
    assert!(d.handlers("zigbee2mqtt/remote/action").is_empty());
}

/// The descriptor lists an entity's values when they are all it can take (a select's
/// options, a climate's modes), not when any text may come (a device tracker's places).
#[test]
fn enumerations_in_the_descriptor() {
    let dev = json!({"identifiers": ["dev"], "name": "dev"});
    let d = announced(&[
        (
            "homeassistant/select/s/config",
            json!({"name": "Mode", "state_topic": "s", "options": ["a", "b"], "device": dev}),
        ),
        (
            "homeassistant/device_tracker/t/config",
            json!({"name": "Phone", "state_topic": "t", "device": dev}),
        ),
        (
            "homeassistant/climate/c/config",
            json!({"name": "Heater", "mode_state_topic": "c", "modes": ["off", "heat"], "device": dev}),
        ),
    ]);
    let types = d.types(&PackageId::new("HA", "dev"));
    let values = |name: &str| {
        types
            .iter()
            .find(|t| t.name == name)
            .map(|t| (t.type_name.clone(), t.enum_values.clone()))
    };
    assert_eq!(
        values("Mode"),
        Some(("System.String".into(), vec!["a".into(), "b".into()]))
    );
    assert_eq!(values("Phone"), Some(("System.String".into(), vec![])));
    assert_eq!(
        values("Heater"),
        Some(("System.String".into(), vec!["off".into(), "heat".into()]))
    );
}

/// Home Assistant at its edges (the `None` resets, clamping, scaling, precision, the
/// lights' colour rules), each row citing the rule of Home Assistant 2025.12's MQTT
/// platform it follows (`homeassistant/components/mqtt/<component>.py`).
fn edge_rows() -> Vec<StateRow> {
    let dev = |id: &str| json!({"identifiers": [id], "name": id});
    vec![
        StateRow {
            rule: "sensor._update_state: a rendered `None` (a JSON null through Z2M's template) \
                   makes the sensor unknown, numeric or not; a missing key renders nothing: no update",
            config_topic: "homeassistant/sensor/0x10/battery/config",
            config: json!({"name": "Battery", "state_topic": "zigbee2mqtt/th10", "device_class": "battery",
                "state_class": "measurement", "unit_of_measurement": "%",
                "value_template": "{{ value_json.battery }}", "device": dev("th10")}),
            publishes: vec![
                ("zigbee2mqtt/th10", r#"{"battery":87}"#, vec![("Battery", json!(87.0))]),
                ("zigbee2mqtt/th10", r#"{"battery":null}"#, vec![("Battery", json!(null))]),
                ("zigbee2mqtt/th10", r#"{"humidity":40}"#, vec![]),
            ],
        },
        StateRow {
            rule: "sensor._update_state: `None` resets an enum sensor before its options are checked",
            config_topic: "homeassistant/sensor/0x11/action/config",
            config: json!({"name": "Action", "state_topic": "zigbee2mqtt/sw11", "device_class": "enum",
                "options": ["single", "double"], "value_template": "{{ value_json.action }}", "device": dev("sw11")}),
            publishes: vec![
                ("zigbee2mqtt/sw11", r#"{"action":"single"}"#, vec![("Action", json!("single"))]),
                ("zigbee2mqtt/sw11", r#"{"action":null}"#, vec![("Action", json!(null))]),
            ],
        },
        StateRow {
            rule: "sensor._update_state: `None` resets a timestamp sensor; a plain sensor too",
            config_topic: "homeassistant/sensor/0x12/last_seen/config",
            config: json!({"name": "Last seen", "state_topic": "zigbee2mqtt/p12", "device_class": "timestamp",
                "value_template": "{{ value_json.last_seen }}", "device": dev("p12")}),
            publishes: vec![("zigbee2mqtt/p12", r#"{"last_seen":null}"#, vec![("Last seen", json!(null))])],
        },
        StateRow {
            rule: "select._message_received: `none` in any case resets (Z2M power_on_behavior null); \
                   another value must be one of options",
            config_topic: "homeassistant/select/0x13/pob/config",
            config: json!({"name": "Power on behavior", "state_topic": "zigbee2mqtt/b13",
                "value_template": "{{ value_json.power_on_behavior }}", "options": ["off", "on", "previous"],
                "command_topic": "zigbee2mqtt/b13/set/power_on_behavior", "device": dev("b13")}),
            publishes: vec![
                ("zigbee2mqtt/b13", r#"{"power_on_behavior":"on"}"#, vec![("Power on behavior", json!("on"))]),
                ("zigbee2mqtt/b13", r#"{"power_on_behavior":null}"#, vec![("Power on behavior", json!(null))]),
                ("zigbee2mqtt/b13", r#"{"power_on_behavior":"NONE"}"#, vec![("Power on behavior", json!(null))]),
            ],
        },
        StateRow {
            rule: "device_tracker._tracker_message_received: payload_reset (default None) makes the \
                   location unknown",
            config_topic: "homeassistant/device_tracker/ph14/tracker/config",
            config: json!({"name": "Phone", "state_topic": "ph14/state", "payload_reset": "gone",
                "device": dev("ph14")}),
            publishes: vec![
                ("ph14/state", "Work", vec![("Phone", json!("Work"))]),
                ("ph14/state", "gone", vec![("Phone", json!(null))]),
                ("ph14/state", "None", vec![("Phone", json!("None"))]),
            ],
        },
        StateRow {
            rule: "fan._percentage_received / _preset_mode_received: payload_reset_percentage and \
                   payload_reset_preset_mode (default None) clear them; fan._state_received: None resets; \
                   _direction_received: any direction",
            config_topic: "homeassistant/fan/f15/fan/config",
            config: json!({"name": "Fan", "state_topic": "f15/state", "command_topic": "f15/set",
                "percentage_state_topic": "f15/speed", "percentage_command_topic": "f15/speed/set",
                "preset_modes": ["auto"], "preset_mode_state_topic": "f15/preset",
                "preset_mode_command_topic": "f15/preset/set", "payload_reset_preset_mode": "clear",
                "direction_state_topic": "f15/dir", "device": dev("f15")}),
            publishes: vec![
                ("f15/speed", "None", vec![("Fan.percentage", json!(null))]),
                ("f15/speed", "42", vec![("Fan.percentage", json!(42))]),
                ("f15/preset", "clear", vec![("Fan.preset_mode", json!(null))]),
                ("f15/preset", "None", vec![]),
                ("f15/state", "None", vec![("Fan", json!(null))]),
                ("f15/dir", "left", vec![("Fan.direction", json!("left"))]),
            ],
        },
        StateRow {
            rule: "binary_sensor / switch / lock: `None` (lock: payload_reset) makes the state unknown",
            config_topic: "homeassistant/lock/l16/lock/config",
            config: json!({"name": "Lock", "state_topic": "l16/state", "command_topic": "l16/set", "device": dev("l16")}),
            publishes: vec![
                ("l16/state", "LOCKED", vec![("Lock", json!("locked"))]),
                ("l16/state", "None", vec![("Lock", json!(null))]),
            ],
        },
        StateRow {
            rule: "binary_sensor._state_message_received: `None` is unknown",
            config_topic: "homeassistant/binary_sensor/b17/contact/config",
            config: json!({"name": "Contact", "state_topic": "b17/state", "device": dev("b17")}),
            publishes: vec![("b17/state", "None", vec![("Contact", json!(null))])],
        },
        StateRow {
            rule: "number._message_received: payload_reset (default None) clears the value; others \
                   within min..max",
            config_topic: "homeassistant/number/n18/level/config",
            config: json!({"name": "Level", "state_topic": "n18/state", "command_topic": "n18/set",
                "min": 0, "max": 10, "device": dev("n18")}),
            publishes: vec![
                ("n18/state", "None", vec![("Level", json!(null))]),
                ("n18/state", "7", vec![("Level", json!(7.0))]),
            ],
        },
        StateRow {
            rule: "climate.handle_climate_attribute_received: `None` clears a temperature; \
                   display_temp shows temperatures at `precision` (default 0.1 in °C): 20.46 → 20.5; \
                   humidity as it is; _handle_action_received: None clears the action; \
                   _handle_mode_received: None clears the mode; a preset `None` is the preset `none`",
            config_topic: "homeassistant/climate/0x19/climate/config",
            config: json!({"name": null, "modes": ["off", "heat"], "preset_modes": ["eco"],
                "mode_state_topic": "zigbee2mqtt/trv19", "mode_state_template": "{{ value_json.system_mode }}",
                "current_temperature_topic": "zigbee2mqtt/trv19", "current_temperature_template": "{{ value_json.local_temperature }}",
                "current_humidity_topic": "zigbee2mqtt/trv19", "current_humidity_template": "{{ value_json.humidity }}",
                "preset_mode_state_topic": "zigbee2mqtt/trv19", "preset_mode_value_template": "{{ value_json.preset }}",
                "action_topic": "zigbee2mqtt/trv19",
                "action_template": "{% set values = {None:None,'idle':'idle','heat':'heating'} %}{{ values[value_json.running_state] }}",
                "device": dev("trv19")}),
            publishes: vec![
                ("zigbee2mqtt/trv19", r#"{"local_temperature":20.46,"humidity":45.55,"system_mode":"heat","running_state":"heat","preset":"eco"}"#,
                    vec![("climate.current_temperature", json!(20.5)), ("climate.current_humidity", json!(45.55)),
                         ("climate", json!("heat")), ("climate.action", json!("heating")), ("climate.preset_mode", json!("eco"))]),
                ("zigbee2mqtt/trv19", r#"{"local_temperature":null,"humidity":null,"system_mode":null,"running_state":null,"preset":null}"#,
                    vec![("climate.current_temperature", json!(null)), ("climate.current_humidity", json!(null)),
                         ("climate", json!(null)), ("climate.action", json!(null)), ("climate.preset_mode", json!("none"))]),
            ],
        },
        StateRow {
            rule: "climate precision 0.5 (PRECISION_HALVES): round(t * 2) / 2; precision 1: round(t)",
            config_topic: "homeassistant/climate/c20/climate/config",
            config: json!({"name": "Heater", "precision": 0.5, "temperature_state_topic": "c20/target",
                "current_temperature_topic": "c20/current", "device": dev("c20")}),
            publishes: vec![
                ("c20/target", "20.3", vec![("Heater.temperature", json!(20.5))]),
                ("c20/current", "20.74", vec![("Heater.current_temperature", json!(20.5))]),
                ("c20/current", "n/a", vec![]),
            ],
        },
        StateRow {
            rule: "climate in °F without precision: whole degrees (a Home Assistant with imperial units)",
            config_topic: "homeassistant/climate/c21/climate/config",
            config: json!({"name": "Heater", "temperature_unit": "F", "current_temperature_topic": "c21/current",
                "device": dev("c21")}),
            publishes: vec![("c21/current", "68.6", vec![("Heater.current_temperature", json!(69.0))])],
        },
        StateRow {
            rule: "cover._position_message_received: ranged_value_to_percentage (floor) over \
                   position_closed..position_open, clamped to 0..100 (105 → 100); a JSON object's \
                   `position`; cover._state_message_received: state_stopped is closed when the position \
                   is 0, else open; None is unknown",
            config_topic: "homeassistant/cover/s22/cover/config",
            config: json!({"name": "Shutter", "state_topic": "s22/state", "position_topic": "s22/pos",
                "command_topic": "s22/set", "device": dev("s22")}),
            publishes: vec![
                ("s22/pos", "105", vec![("Shutter.position", json!(100))]),
                ("s22/pos", "35.7", vec![("Shutter.position", json!(35))]),
                ("s22/pos", "-3", vec![("Shutter.position", json!(0))]),
                ("s22/pos", "n/a", vec![]),
                ("s22/state", "stopped", vec![("Shutter", json!("closed"))]),
                ("s22/pos", r#"{"position": 40}"#, vec![("Shutter.position", json!(40))]),
                ("s22/state", "stopped", vec![("Shutter", json!("open"))]),
                ("s22/state", "None", vec![("Shutter", json!(null))]),
                ("s22/state", "jammed", vec![]),
            ],
        },
        StateRow {
            rule: "cover: an inverted shutter (position_open 0, position_closed 100) at -10 is 100 % \
                   open after clamping",
            config_topic: "homeassistant/cover/s23/cover/config",
            config: json!({"name": "Shutter", "position_topic": "s23/pos", "position_open": 0,
                "position_closed": 100, "command_topic": "s23/set", "state_topic": "s23/state", "device": dev("s23")}),
            publishes: vec![
                ("s23/pos", "-10", vec![("Shutter.position", json!(100))]),
                ("s23/pos", "25", vec![("Shutter.position", json!(75))]),
            ],
        },
        StateRow {
            rule: "cover without a position topic: stopped after closing is closed, after opening open",
            config_topic: "homeassistant/cover/s24/cover/config",
            config: json!({"name": "Gate", "state_topic": "s24/state", "command_topic": "s24/set", "device": dev("s24")}),
            publishes: vec![
                ("s24/state", "stopped", vec![("Gate", json!("open"))]),
                ("s24/state", "closing", vec![("Gate", json!("closing"))]),
                ("s24/state", "stopped", vec![("Gate", json!("closed"))]),
                ("s24/state", "opening", vec![("Gate", json!("opening"))]),
                ("s24/state", "stopped", vec![("Gate", json!("open"))]),
            ],
        },
        StateRow {
            rule: "cover without a state topic: the position gives closed (0) or open",
            config_topic: "homeassistant/cover/s25/cover/config",
            config: json!({"name": "Blind", "position_topic": "s25/pos", "command_topic": "s25/set", "device": dev("s25")}),
            publishes: vec![
                ("s25/pos", "0", vec![("Blind.position", json!(0)), ("Blind", json!("closed"))]),
                ("s25/pos", "60", vec![("Blind.position", json!(60)), ("Blind", json!("open"))]),
            ],
        },
        StateRow {
            rule: "text (TextEntity.state): a value longer than max (255), shorter than min or not \
                   matching pattern is refused; `None` is text",
            config_topic: "homeassistant/text/t26/label/config",
            config: json!({"name": "Label", "state_topic": "t26/state", "command_topic": "t26/set",
                "min": 2, "max": 5, "pattern": "[A-Z]", "device": dev("t26")}),
            publishes: vec![
                ("t26/state", "Hall", vec![("Label", json!("Hall"))]),
                ("t26/state", "Kitchen", vec![]),
                ("t26/state", "H", vec![]),
                ("t26/state", "hall", vec![]),
                ("t26/state", "None", vec![("Label", json!("None"))]),
                ("t26/state", "True", vec![("Label", json!("True"))]),
            ],
        },
        StateRow {
            rule: "light schema_json._state_received: a null state is unknown; brightness 0 is ignored; \
                   colour values only with a supported color_mode in the state (Z2M bulb)",
            config_topic: "homeassistant/light/0x27/light/config",
            config: json!({"name": null, "schema": "json", "state_topic": "zigbee2mqtt/bulb27",
                "command_topic": "zigbee2mqtt/bulb27/set", "brightness": true, "brightness_scale": 254,
                "supported_color_modes": ["color_temp", "xy"], "device": dev("bulb27")}),
            publishes: vec![
                ("zigbee2mqtt/bulb27", r#"{"state":"ON","brightness":0,"color_temp":300}"#,
                    vec![("light", json!(true))]),
                ("zigbee2mqtt/bulb27", r#"{"state":null,"brightness":127,"color_mode":"xy","color":{"x":0.3,"y":0.3},"color_temp":300}"#,
                    vec![("light", json!(null)), ("light.brightness", json!(128)), ("light.color_mode", json!("xy")),
                         ("light.color", json!({"x": 0.3, "y": 0.3}))]),
                ("zigbee2mqtt/bulb27", r#"{"state":"ON","color_mode":"hs","color":{"h":1,"s":2}}"#,
                    vec![("light", json!(true))]),
            ],
        },
        StateRow {
            rule: "light schema_json: without supported_color_modes and with brightness, only brightness \
                   (supported mode `brightness`); no colour mode is supported",
            config_topic: "homeassistant/light/0x28/light/config",
            config: json!({"name": null, "schema": "json", "state_topic": "zigbee2mqtt/d28",
                "command_topic": "zigbee2mqtt/d28/set", "brightness": true, "device": dev("d28")}),
            publishes: vec![(
                "zigbee2mqtt/d28",
                r#"{"state":"ON","brightness":255,"color_mode":"color_temp","color_temp":300}"#,
                vec![("light", json!(true)), ("light.brightness", json!(255))],
            )],
        },
        StateRow {
            rule: "light schema_basic._rgbx_received: without a brightness state topic the brightness is \
                   the brightest channel and the colour is shown at full brightness (128,64,0 → \
                   255,128,0 at 128); all zero ignored; schema_basic drops value_template (val_tpl): \
                   the state is the payload through state_value_template",
            config_topic: "homeassistant/light/l29/light/config",
            config: json!({"name": "Strip", "stat_t": "l29/POWER", "val_tpl": "{{ value_json.POWER }}",
                "cmd_t": "l29/POWER/set", "rgb_stat_t": "l29/COLOR", "rgb_cmd_t": "l29/COLOR/set", "device": dev("l29")}),
            publishes: vec![
                ("l29/COLOR", "128,64,0", vec![("Strip.rgb", json!([255, 128, 0])), ("Strip.brightness", json!(128))]),
                ("l29/COLOR", "0,0,0", vec![]),
                ("l29/POWER", "ON", vec![("Strip", json!(true))]),
                ("l29/POWER", r#"{"POWER":"OFF"}"#, vec![]),
                ("l29/POWER", "None", vec![("Strip", json!(null))]),
            ],
        },
        StateRow {
            rule: "event (Z2M 2.x action events): a template with loop controls ({% continue %}, \
                   {% break %}), namespace, zip, regex_findall groups and dict.from_keys; the event_type \
                   must be one of event_types",
            config_topic: "homeassistant/event/0x30/action/config",
            config: json!({"name": "Action", "state_topic": "zigbee2mqtt/remote30",
                "event_types": ["press", "hold", "brightness_step", "toggle"],
                "value_template": EVENT_TEMPLATE, "device": dev("remote30")}),
            publishes: vec![
                ("zigbee2mqtt/remote30", r#"{"action":"2_press"}"#,
                    vec![("Action", json!({"button": "2", "event_type": "press"}))]),
                ("zigbee2mqtt/remote30", r#"{"action":"brightness_step_up"}"#,
                    vec![("Action", json!({"direction": "up", "event_type": "brightness_step"}))]),
                ("zigbee2mqtt/remote30", r#"{"action":"toggle"}"#, vec![("Action", json!({"event_type": "toggle"}))]),
                ("zigbee2mqtt/remote30", r#"{"action":"shake"}"#, vec![]),
            ],
        },
    ]
}

/// An event template in the shape of Zigbee2MQTT 2.x's `action` event (its own
/// patterns): the first pattern that matches names the parts of the action.
const EVENT_TEMPLATE: &str = r#"{% set patterns = [
{"pattern": '^(?P<button>[0-9]+)_(?P<action>press|hold)$', "groups": ["button", "action"]},
{"pattern": '^(?P<action>brightness_step)_(?P<direction>up|down)$', "groups": ["action", "direction"]},
{"pattern": '^(?P<action>[a-z]+)_(?P<rest>.*)$', "groups": ["action", "rest"]}
] %}
{% set action_value = value_json.action|default('') %}
{% set ns = namespace(r=[('action', action_value)]) %}
{% for p in patterns %}
  {% set m = action_value|regex_findall(p.pattern) %}
  {% if m[0] is undefined %}{% continue %}{% endif %}
  {% for key, value in zip(p.groups, m[0]) %}
    {% set ns.r = ns.r|rejectattr(0, 'eq', key)|list + [(key, value)] %}
  {% endfor %}
  {% break %}
{% endfor %}
{% set ns.r = ns.r + [('event_type', ns.r|selectattr(0, 'eq', 'action')|map(attribute=1)|first)] %}
{{ dict.from_keys(ns.r|rejectattr(0, 'eq', 'action')|reject('eq', ('event_type', ''))) | to_json }}"#;

/// One light: the state it reports first, then each call and every publish it makes.
struct LightRow {
    rule: &'static str,
    config: Value,
    /// (topic, payload) reported before the calls.
    reports: Vec<(&'static str, &'static str)>,
    calls: Vec<LightCall>,
}

/// A callback, its data, and each (topic, payload) it publishes.
type LightCall = (&'static str, Value, Vec<(&'static str, &'static str)>);

/// `light.turn_on` of a default-schema light (`schema_basic.async_turn_on`): each
/// publish in Home Assistant's order. `SetBrightness<Name>` and `SetRgb<Name>` are
/// `light.turn_on` with that one option, `TurnOn<Name>` with any.
#[test]
fn light_turn_on_publishes_what_home_assistant_does() {
    let rows = vec![
        LightRow {
            rule: "brightness on brightness_command_topic scaled to brightness_scale, never 0; the \
                   colour unscaled when there is a brightness command topic; payload_on last \
                   (on_command_type last, the default)",
            config: json!({"name": "Lamp", "command_topic": "d/set", "brightness_command_topic": "d/bri",
                "brightness_scale": 100, "rgb_command_topic": "d/rgb"}),
            reports: vec![],
            calls: vec![
                ("SetBrightnessLamp", json!(128), vec![("d/bri", "50"), ("d/set", "ON")]),
                ("SetBrightnessLamp", json!(1), vec![("d/bri", "1"), ("d/set", "ON")]),
                ("SetRgbLamp", json!([255, 0, 10]), vec![("d/rgb", "255,0,10"), ("d/set", "ON")]),
                ("TurnOnLamp", json!({"brightness": 255, "rgb_color": [10, 20, 30]}),
                    vec![("d/rgb", "10,20,30"), ("d/bri", "100"), ("d/set", "ON")]),
                ("TurnOnLamp", json!({}), vec![("d/set", "ON")]),
                ("TurnOffLamp", json!(null), vec![("d/set", "OFF")]),
            ],
        },
        LightRow {
            rule: "without a brightness command topic the colour is scaled by the brightness asked \
                   for, else the current one (int(channel * brightness / 255)); a brightness alone \
                   scales the current colour; payload_on first (on_command_type first)",
            config: json!({"name": "Strip", "command_topic": "s/set", "on_command_type": "first",
                "rgb_state_topic": "s/COLOR", "rgb_command_topic": "s/COLOR/set",
                "rgb_command_template": "{\"r\": {{ red }}, \"g\": {{ green }}, \"b\": {{ blue }}}"}),
            reports: vec![("s/COLOR", "128,64,0")],
            calls: vec![
                ("SetRgbStrip", json!([255, 255, 255]),
                    vec![("s/set", "ON"), ("s/COLOR/set", r#"{"r": 128, "g": 128, "b": 128}"#)]),
                ("SetBrightnessStrip", json!(64),
                    vec![("s/set", "ON"), ("s/COLOR/set", r#"{"r": 64, "g": 32, "b": 0}"#)]),
                ("TurnOnStrip", json!({"rgb_color": [100, 100, 100], "brightness": 255}),
                    vec![("s/set", "ON"), ("s/COLOR/set", r#"{"r": 100, "g": 100, "b": 100}"#)]),
            ],
        },
        LightRow {
            rule: "on_command_type brightness: no payload_on, the brightness always (the current \
                   one, else 255)",
            config: json!({"name": "Dim", "command_topic": "m/set", "on_command_type": "brightness",
                "brightness_command_topic": "m/bri", "brightness_state_topic": "m/bri/state"}),
            reports: vec![],
            calls: vec![("TurnOnDim", json!({}), vec![("m/bri", "255")])],
        },
        LightRow {
            rule: "on_command_type brightness after a brightness report: that brightness",
            config: json!({"name": "Dim", "command_topic": "m/set", "on_command_type": "brightness",
                "brightness_command_topic": "m/bri", "brightness_state_topic": "m/bri/state"}),
            reports: vec![("m/bri/state", "77")],
            calls: vec![
                ("TurnOnDim", json!({}), vec![("m/bri", "77")]),
                ("SetDim", json!(false), vec![("m/set", "OFF")]),
            ],
        },
        LightRow {
            rule: "color_temp_kelvin sent in mireds (floor(1000000 / kelvin)) unless color_temp_kelvin \
                   is set; an effect only when it is in effect_list",
            config: json!({"name": "Bulb", "command_topic": "c/set", "color_temp_command_topic": "c/ct",
                "effect_command_topic": "c/fx", "effect_list": ["rainbow"]}),
            reports: vec![],
            calls: vec![
                ("TurnOnBulb", json!({"color_temp_kelvin": 2700, "effect": "rainbow"}),
                    vec![("c/ct", "370"), ("c/fx", "rainbow"), ("c/set", "ON")]),
                ("TurnOnBulb", json!({"effect": "strobe"}), vec![("c/set", "ON")]),
            ],
        },
        LightRow {
            rule: "color_temp_kelvin: true sends kelvins",
            config: json!({"name": "Bulb", "command_topic": "k/set", "color_temp_command_topic": "k/ct",
                "color_temp_kelvin": true}),
            reports: vec![],
            calls: vec![("TurnOnBulb", json!({"color_temp_kelvin": 2700}), vec![("k/ct", "2700"), ("k/set", "ON")])],
        },
    ];
    for (i, row) in rows.into_iter().enumerate() {
        let mut config = row.config;
        config["device"] = json!({"identifiers": ["dev"], "name": "dev"});
        let topic = format!("homeassistant/light/l{i}/config");
        let d = announced(&[(topic.as_str(), config)]);
        for (topic, payload) in &row.reports {
            assert!(
                !pushes(&d, topic, payload).is_empty(),
                "{}: {topic} {payload}",
                row.rule
            );
        }
        for (key, data, want) in &row.calls {
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(t, p)| ((*t).to_owned(), (*p).to_owned()))
                .collect();
            assert_eq!(
                publish(&d, "dev", key, data.clone()),
                Ok(want),
                "{}\n  {key}({data})",
                row.rule
            );
        }
    }
}
