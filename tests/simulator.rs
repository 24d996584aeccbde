//! The simulator's semantics, over real HTTP: scope routing, groups, SO filters,
//! lifetimes, long polls, limits, expiry, the GET forms, errors and the inspection API.

mod common;

use common::*;
use constellation_mqtt::constellation::model::{ScopeType, SenderType, SoFilter, StateObjectPush};
use constellation_mqtt::constellation::{Client, ClientOptions, Error, Identity};
use constellation_mqtt::sim::{Faults, Simulator, SubKind, World};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Queued messages per subscription owner.
fn queued(sim: &Simulator) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in sim.handle().subscriptions() {
        if s.kind == SubKind::Messages {
            *out.entry(s.owner).or_default() += s.queued;
        }
    }
    out
}

#[tokio::test]
async fn each_scope_reaches_exactly_its_subscribers() {
    let sim = start(world()).await;
    let c = client(&sim);
    let everyone = [
        salon_temp(),
        salon_light(),
        garage_temp(),
        garage_door(),
        consumer("A"),
        consumer("B"),
    ];
    for id in &everyone {
        c.subscribe_to_message(id, None).await.unwrap();
    }
    // Salon/Light also joins the group Sensors; Salon/Temperature and
    // Garage/Temperature are in it by declaration.
    let light_sub = sim
        .handle()
        .subscriptions()
        .into_iter()
        .find(|s| s.owner == "Salon/Light")
        .unwrap()
        .id;
    c.subscribe_to_message_group(&salon_light(), "Sensors", Some(&light_sub))
        .await
        .unwrap();

    let sender = garage_door();
    let cases: &[(ScopeType, &[&str], &[&str])] = &[
        (
            ScopeType::Package,
            &["Temperature"],
            &["Garage/Temperature", "Salon/Temperature"],
        ),
        (
            ScopeType::Package,
            &["Salon/Temperature"],
            &["Salon/Temperature"],
        ),
        (ScopeType::Package, &["Consumer/A"], &["Consumer/A"]),
        (
            ScopeType::Package,
            &["Light", "Garage/Door"],
            &["Garage/Door", "Salon/Light"],
        ),
        (
            ScopeType::Sentinel,
            &["Garage"],
            &["Garage/Door", "Garage/Temperature"],
        ),
        (
            ScopeType::Group,
            &["Sensors"],
            &["Garage/Temperature", "Salon/Light", "Salon/Temperature"],
        ),
        (ScopeType::Group, &["Nobody"], &[]),
        (
            ScopeType::All,
            &[],
            &[
                "Consumer/A",
                "Consumer/B",
                "Garage/Door",
                "Garage/Temperature",
                "Salon/Light",
                "Salon/Temperature",
            ],
        ),
        (
            ScopeType::Other,
            &[],
            &[
                "Consumer/A",
                "Consumer/B",
                "Garage/Temperature",
                "Salon/Light",
                "Salon/Temperature",
            ],
        ),
    ];
    for (kind, args, expected) in cases {
        let before = queued(&sim);
        c.send_message(&sender, &message(*kind, args, "Ping"))
            .await
            .unwrap();
        let after = queued(&sim);
        let reached: Vec<_> = after
            .iter()
            .filter(|(owner, n)| before.get(*owner) != Some(n))
            .map(|(owner, n)| {
                assert_eq!(*n, before[owner] + 1, "{kind} {args:?}: exactly once");
                owner.as_str()
            })
            .collect();
        assert_eq!(reached, *expected, "{kind} {args:?}");
    }

    // What was counted is what a poll delivers, in order.
    let sub = sim
        .handle()
        .subscriptions()
        .into_iter()
        .find(|s| s.owner == "Salon/Temperature")
        .unwrap()
        .id;
    let msgs = c.get_messages(&salon_temp(), &sub, 0).await.unwrap();
    let kinds: Vec<_> = msgs.iter().map(|m| m.scope.kind).collect();
    assert_eq!(
        kinds,
        [
            ScopeType::Package,
            ScopeType::Package,
            ScopeType::Group,
            ScopeType::All,
            ScopeType::Other
        ]
    );
    assert!(msgs.iter().all(|m| m.sender.friendly_name == "Garage/Door"
        && m.sender.kind == SenderType::ConstellationHttp));
}

#[tokio::test]
async fn others_is_accepted_for_other() {
    let sim = start(world()).await;
    let body = json!({"Scope": {"Type": "Others", "Args": []}, "Key": "K"});
    let c = client(&sim);
    c.subscribe_to_message(&salon_temp(), None).await.unwrap();
    let resp = http()
        .post(format!("{}rest/constellation/SendMessage", sim.url()))
        .query(&[
            ("SentinelName", "Consumer"),
            ("PackageName", "A"),
            ("AccessKey", CONSUMER_KEY),
        ])
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(queued(&sim)["Salon/Temperature"], 1);
}

#[tokio::test]
async fn so_filters_match_exact_values_and_wildcards() {
    let sim = start(world()).await;
    let c = client(&sim);
    c.push_state_object(&salon_temp(), &push("Temperature", json!(21.5)))
        .await
        .unwrap();
    c.push_state_object(&salon_temp(), &push("/intelcpu/load/0", json!(12)))
        .await
        .unwrap();
    c.push_state_object(&garage_temp(), &push("Temperature", json!(9)))
        .await
        .unwrap();
    c.push_state_object(&garage_door(), &push("Open", json!(false)))
        .await
        .unwrap();
    let ids = |filter: SoFilter| {
        let c = c.clone();
        async move {
            let mut ids: Vec<_> = c
                .request_state_objects(&salon_light(), &filter)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.unique_id)
                .collect();
            ids.sort();
            ids
        }
    };
    let f = SoFilter::default;
    assert_eq!(ids(f()).await.len(), 4);
    assert_eq!(
        ids(SoFilter {
            name: "Temperature".into(),
            ..f()
        })
        .await,
        [
            "Garage/Temperature/Temperature",
            "Salon/Temperature/Temperature"
        ]
    );
    assert_eq!(
        ids(SoFilter {
            sentinel: "Garage".into(),
            ..f()
        })
        .await,
        ["Garage/Door/Open", "Garage/Temperature/Temperature"]
    );
    assert_eq!(
        ids(SoFilter {
            sentinel: "Salon".into(),
            package: "Temperature".into(),
            type_name: "System.Int32".into(),
            ..f()
        })
        .await,
        ["Salon/Temperature//intelcpu/load/0"]
    );
    assert_eq!(
        ids(SoFilter {
            type_name: "System.Boolean".into(),
            ..f()
        })
        .await,
        ["Garage/Door/Open"]
    );
    assert!(
        ids(SoFilter {
            package: "Temp*".into(),
            ..f()
        })
        .await
        .is_empty(),
        "* is whole-field only"
    );
}

#[tokio::test]
async fn a_state_object_expires_after_its_lifetime_and_subscribers_are_told() {
    let sim = start(world()).await;
    let c = client(&sim);
    let (watcher, sub) = watch_every_state_object(&c).await;
    c.push_state_object(
        &salon_temp(),
        &StateObjectPush {
            lifetime: Some(1),
            ..push("T", json!(20))
        },
    )
    .await
    .unwrap();
    let first = c.get_state_objects(&watcher, &sub, 0).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(!first[0].is_expired);
    let expired = within("expiry notice", async {
        loop {
            let sos = c.get_state_objects(&watcher, &sub, 0).await.unwrap();
            if let Some(so) = sos.into_iter().next() {
                return so;
            }
        }
    })
    .await;
    assert!(expired.is_expired);
    assert_eq!(expired.value, json!(20));
    let now = sim
        .handle()
        .state_object("Salon", "Temperature", "T")
        .unwrap();
    assert!(now.is_expired, "still listed, marked expired");
}

#[tokio::test]
async fn a_long_poll_answers_empty_at_its_timeout() {
    let sim = start(world()).await;
    let c = client(&sim); // 1 s polls
    let sub = c.subscribe_to_message(&salon_temp(), None).await.unwrap();
    let started = std::time::Instant::now();
    assert!(c
        .get_messages(&salon_temp(), &sub, 0)
        .await
        .unwrap()
        .is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900), "it waited");
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_message_arrives() {
    let sim = start(world()).await;
    let slow = Client::new(ClientOptions {
        long_poll_timeout: Duration::from_secs(120),
        ..ClientOptions::new(sim.url())
    })
    .unwrap();
    let me = salon_temp();
    let sub = slow.subscribe_to_message(&me, None).await.unwrap();
    let poll = tokio::spawn({
        let (slow, me, sub) = (slow.clone(), me.clone(), sub.clone());
        async move { slow.get_messages(&me, &sub, 0).await }
    });
    wait_for(
        "the poll to be waiting",
        Duration::from_secs(10),
        || async {
            sim.handle()
                .subscriptions()
                .iter()
                .any(|s| s.id == sub && s.polling == 1)
                .then_some(())
        },
    )
    .await;
    slow.send_message(
        &consumer("A"),
        &message(ScopeType::Package, &["Temperature"], "Wake"),
    )
    .await
    .unwrap();
    // Far below the poll's 120 s: only an early answer gets here.
    let msgs = within("the early answer", poll).await.unwrap().unwrap();
    assert_eq!(msgs[0].key, "Wake");
}

#[tokio::test]
async fn limit_bounds_each_fetch_and_keeps_order() {
    let sim = start(world()).await;
    let c = client(&sim);
    let me = salon_temp();
    let sub = c.subscribe_to_message(&me, None).await.unwrap();
    for i in 0..5 {
        c.send_message(
            &consumer("A"),
            &message(ScopeType::Package, &["Temperature"], &format!("K{i}")),
        )
        .await
        .unwrap();
    }
    let mut keys = Vec::new();
    for expected in [2, 2, 1] {
        let batch = c.get_messages(&me, &sub, 2).await.unwrap();
        assert_eq!(batch.len(), expected);
        keys.extend(batch.into_iter().map(|m| m.key));
    }
    assert_eq!(keys, ["K0", "K1", "K2", "K3", "K4"]);
}

#[tokio::test]
async fn get_state_objects_conflates_to_the_latest_value() {
    let sim = start(world()).await;
    let c = client(&sim);
    let (watcher, sub) = watch_every_state_object(&c).await;
    for v in 1..=3 {
        c.push_state_object(&salon_temp(), &push("T", json!(v)))
            .await
            .unwrap();
    }
    c.push_state_object(&salon_temp(), &push("U", json!("x")))
        .await
        .unwrap();
    c.push_state_object(&salon_temp(), &push("T", json!(4)))
        .await
        .unwrap();
    let sos = c.get_state_objects(&watcher, &sub, 0).await.unwrap();
    let got: Vec<_> = sos
        .iter()
        .map(|s| (s.name.as_str(), s.value.clone()))
        .collect();
    assert_eq!(got, [("T", json!(4)), ("U", json!("x"))]);
}

#[tokio::test]
async fn an_unpolled_subscription_expires_and_a_polled_one_does_not() {
    let world = world().with_subscription_expiry(Duration::from_millis(100));
    let sim = start(world).await;
    let c = client(&sim); // 1 s polls, ten times the expiry
    let me = salon_temp();
    let polled = c.subscribe_to_message(&me, None).await.unwrap();
    let idle = c.subscribe_to_message(&me, None).await.unwrap();
    let poll = tokio::spawn({
        let (c, me, polled) = (c.clone(), me.clone(), polled.clone());
        async move { c.get_messages(&me, &polled, 0).await }
    });
    wait_for(
        "the idle subscription to expire",
        Duration::from_secs(10),
        || async { (!sim.handle().subscriptions().iter().any(|s| s.id == idle)).then_some(()) },
    )
    .await;
    let err = c.get_messages(&me, &idle, 0).await.unwrap_err();
    assert!(matches!(err, Error::SubscriptionLost { .. }), "{err:?}");
    assert!(within("the poll", poll).await.unwrap().unwrap().is_empty());
}

#[tokio::test]
async fn a_full_queue_drops_its_oldest_messages_and_counts_them() {
    let world = World {
        max_queued_messages: 3,
        ..world()
    };
    let sim = start(world).await;
    let c = client(&sim);
    let me = salon_temp();
    let sub = c.subscribe_to_message(&me, None).await.unwrap();
    for i in 0..5 {
        c.send_message(
            &consumer("A"),
            &message(ScopeType::All, &[], &format!("K{i}")),
        )
        .await
        .unwrap();
    }
    let info = sim
        .handle()
        .subscriptions()
        .into_iter()
        .find(|s| s.id == sub)
        .unwrap();
    assert_eq!((info.queued, info.dropped), (3, 2));
    let keys: Vec<_> = c
        .get_messages(&me, &sub, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(keys, ["K2", "K3", "K4"]);
}

/// A raw GET with the credential in the query string, as curl users do.
async fn raw_get(
    sim: &Simulator,
    action: &str,
    id: &Identity,
    query: &[(&str, &str)],
) -> (u16, Value) {
    let resp = http()
        .get(format!("{}rest/constellation/{action}", sim.url()))
        .query(&[
            ("SentinelName", id.sentinel.as_str()),
            ("PackageName", id.package.as_str()),
            ("AccessKey", id.access_key.as_str()),
        ])
        .query(query)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_get_forms_take_json_or_bare_text() {
    let sim = start(world()).await;
    let me = salon_temp();
    for (value, expected, type_name) in [
        ("21", json!(21), "System.Int32"),
        ("21.0", json!(21.0), "System.Double"),
        ("true", json!(true), "System.Boolean"),
        ("\"quoted\"", json!("quoted"), "System.String"),
        ("bare text", json!("bare text"), "System.String"),
    ] {
        let (status, _) = raw_get(
            &sim,
            "pushstateobject",
            &me,
            &[("name", "V"), ("value", value)],
        )
        .await;
        assert_eq!(status, 204, "action names are case-insensitive");
        let so = sim
            .handle()
            .state_object("Salon", "Temperature", "V")
            .unwrap();
        assert_eq!(
            (so.value, so.type_name.as_deref()),
            (expected, Some(type_name)),
            "{value}"
        );
    }
    let (status, _) = raw_get(
        &sim,
        "PushStateObject",
        &me,
        &[
            ("name", "Typed"),
            ("value", "5"),
            ("type", "System.Int64"),
            ("lifetime", "30"),
        ],
    )
    .await;
    assert_eq!(status, 204);
    let so = sim
        .handle()
        .state_object("Salon", "Temperature", "Typed")
        .unwrap();
    assert_eq!(
        (so.type_name.as_deref(), so.lifetime),
        (Some("System.Int64"), 30)
    );

    let (_, sub) = raw_get(&sim, "SubscribeToMessage", &me, &[]).await;
    let (status, _) = raw_get(
        &sim,
        "SendMessage",
        &consumer("A"),
        &[
            ("scope", "Package"),
            ("args", "Light,Temperature"),
            ("key", "Set"),
            ("data", "[1, \"two\"]"),
            ("sagaId", "s-9"),
        ],
    )
    .await;
    assert_eq!(status, 204);
    let (status, msgs) = raw_get(
        &sim,
        "GetMessages",
        &me,
        &[
            ("subscriptionId", sub.as_str().unwrap()),
            ("timeout", "1000"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(msgs[0]["Data"], json!([1, "two"]));
    assert_eq!(
        msgs[0]["Scope"],
        json!({"Scope": 2, "Args": ["Light", "Temperature"], "SagaId": "s-9"})
    );
    assert_eq!(msgs[0]["Sender"]["FriendlyName"], json!("Consumer/A"));
}

#[tokio::test]
async fn malformed_requests_get_400_with_a_message() {
    let sim = start(world()).await;
    let me = salon_temp();
    for (action, query) in [
        ("PushStateObject", vec![("value", "1")]),
        ("PushStateObject", vec![("name", "x")]),
        (
            "PushStateObject",
            vec![("name", "x"), ("value", "1"), ("lifetime", "soon")],
        ),
        ("WriteLog", vec![]),
        ("WriteLog", vec![("message", "m"), ("level", "Loud")]),
        ("SendMessage", vec![("scope", "Planet"), ("key", "K")]),
        ("SendMessage", vec![("scope", "All")]),
        ("SendMessage", vec![("scope", "Group"), ("key", "K")]),
        ("SubscribeToMessageGroup", vec![]),
        ("GetMessages", vec![]),
        (
            "GetMessages",
            vec![("subscriptionId", "x"), ("timeout", "long")],
        ),
        (
            "GetStateObjects",
            vec![("subscriptionId", "x"), ("limit", "-1")],
        ),
    ] {
        let (status, body) = raw_get(&sim, action, &me, &query).await;
        assert_eq!(status, 400, "{action} {query:?}: {body}");
        assert!(
            body["Message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let http = http();
    let url = |a: &str| format!("{}rest/constellation/{a}", sim.url());
    for action in ["PushStateObject", "SendMessage", "DeclarePackageDescriptor"] {
        let resp = http
            .post(url(action))
            .header("SentinelName", "Salon")
            .header("PackageName", "Temperature")
            .header("AccessKey", SALON_KEY)
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{action}");
    }
    let (status, _) = raw_get(&sim, "Teleport", &me, &[]).await;
    assert_eq!(status, 404);
    // The credential is checked first.
    let (status, _) = raw_get(
        &sim,
        "WriteLog",
        &Identity::new("Salon", "Temperature", "bad"),
        &[],
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_open_world_accepts_any_package_with_its_key() {
    let sim = start(World::open("demo")).await;
    let c = client(&sim);
    let anyone = Identity::new("AnySentinel", "AnyPackage", "demo");
    c.check_access(&anyone).await.unwrap();
    c.push_state_object(&anyone, &push("X", json!(1)))
        .await
        .unwrap();
    c.check_access(&Identity::consumer("Me", "demo"))
        .await
        .unwrap();
    let err = c
        .check_access(&Identity::new("AnySentinel", "AnyPackage", "nope"))
        .await
        .unwrap_err();
    assert!(err.is_auth());
}

#[tokio::test]
async fn stopping_closes_connections_and_restarting_keeps_the_state() {
    let mut sim = start(world()).await;
    let c = client(&sim);
    c.push_state_object(&salon_temp(), &push("T", json!(1)))
        .await
        .unwrap();
    let sub = c.subscribe_to_message(&salon_temp(), None).await.unwrap();
    sim.stop().await;
    assert!(c
        .check_access(&salon_temp())
        .await
        .unwrap_err()
        .is_transient());
    sim.restart().await.unwrap();
    let sos = c
        .request_state_objects(&salon_temp(), &SoFilter::default())
        .await
        .unwrap();
    assert_eq!(sos.len(), 1);
    assert_eq!(
        c.subscribe_to_message(&salon_temp(), Some(&sub))
            .await
            .unwrap(),
        sub
    );
}

#[tokio::test]
async fn the_inspection_api_over_http() {
    let sim = start(world()).await;
    let c = client(&sim);
    let http = http();
    let at = |p: &str| format!("{}sim/{p}", sim.url());
    let sub = c.subscribe_to_message(&salon_temp(), None).await.unwrap();

    // Act as a real package publishing a StateObject.
    let resp = http
        .post(at("stateobjects"))
        .json(&json!({"From": "HWMonitor/CPU", "Name": "/intelcpu/load/0", "Value": 12.5, "Type": "System.Double"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let sos = get_json(&http, at("stateobjects?package=CPU")).await;
    assert_eq!(sos[0]["UniqueId"], json!("HWMonitor/CPU//intelcpu/load/0"));

    // Act as a hub consumer sending a saga; the package answers to its connection id.
    let resp: Value = http
        .post(at("send"))
        .json(&json!({"From": "Consumer/Console", "SenderType": 0,
                      "Scope": {"Type": "Package", "Args": ["Salon/Temperature"], "SagaId": "s1"},
                      "Key": "Ping", "Data": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp, json!({"Delivered": 1}));
    let msgs = c.get_messages(&salon_temp(), &sub, 0).await.unwrap();
    let mut answer = message(
        ScopeType::Package,
        &[msgs[0].sender.reply_address()],
        "__Response",
    );
    answer.scope.saga_id = Some("s1".into());
    answer.data = json!("pong");
    c.send_message(&salon_temp(), &answer).await.unwrap();
    let inbox = get_json(&http, at("inbox/Consumer/Console?timeout=5000")).await;
    assert_eq!(inbox[0]["Data"], json!("pong"));
    assert_eq!(inbox[0]["Scope"]["SagaId"], json!("s1"));

    // Settings, logs, descriptors, stats, faults, expiry.
    let resp = http
        .put(at("settings/Salon/Temperature"))
        .json(&json!({"Interval": 99}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        c.get_settings(&salon_temp()).await.unwrap()["Interval"],
        json!(99)
    );
    c.write_log(&salon_temp(), Default::default(), "hello")
        .await
        .unwrap();
    let logs = get_json(&http, at("logs?sentinel=Salon&package=Temperature")).await;
    assert_eq!(logs[0]["Message"], json!("hello"));
    assert_eq!(logs[0]["Level"], json!("Info"));
    let stats = get_json(&http, at("stats")).await;
    assert_eq!(stats["by_action"]["WriteLog"]["204"], json!(1));
    let resp = http
        .put(at("faults"))
        .json(&json!({"status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(c
        .check_access(&salon_temp())
        .await
        .unwrap_err()
        .is_transient());
    sim.handle().set_faults(Faults::default());
    let resp = http
        .delete(at(&format!("subscriptions/{sub}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(matches!(
        c.get_messages(&salon_temp(), &sub, 0).await.unwrap_err(),
        Error::SubscriptionLost { .. }
    ));
    let subs = get_json(&http, at("subscriptions")).await;
    assert!(subs
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["Id"] != json!(sub)));
}

#[tokio::test]
async fn the_example_world_file_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sim.toml");
    let world = World::load(&path).unwrap();
    let sim = start(world).await;
    let c = client(&sim);
    let id = Identity::new("CapteurSalon", "Temperature", "salon-key");
    c.check_access(&id).await.unwrap();
    assert_eq!(c.get_settings(&id).await.unwrap()["Interval"], json!(10));
}

#[tokio::test]
async fn a_bad_world_file_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, "[[sentinels]]\nname = \"S\"\ncolour = \"red\"\n").unwrap();
    let err = World::load(&path).unwrap_err();
    assert!(err.contains("colour") && err.contains("sim.toml"), "{err}");
}

/// `Salon/Light` subscribed to every StateObject: (watcher, subscription id).
async fn watch_every_state_object(c: &Client) -> (Identity, String) {
    let watcher = salon_light();
    let sub = c
        .subscribe_to_state_objects(&watcher, None, &SoFilter::default())
        .await
        .unwrap();
    (watcher, sub)
}

/// GETs `url` and reads its JSON body.
async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// A raw Management API request: (status, JSON body or null).
async fn management(
    sim: &Simulator,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http()
        .request(method, format!("{}rest/management/{path}", sim.url()))
        .header("SentinelName", "Management")
        .header("PackageName", "tester")
        .header("AccessKey", key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The Management API edits the configuration file; a package added through it is
/// accepted only after `configuration/reload`, and refused again once removed and
/// reloaded, as on a real server.
#[tokio::test]
async fn the_management_api_provisions_packages_after_a_reload() {
    use reqwest::Method;
    let sim = start(World::default().with_management_key("Admin", "admin-key")).await;
    let c = client(&sim);
    let lamp = Identity::new("Zigbee", "lamp", "lamp-key");
    // The management credential is required.
    assert_eq!(
        management(&sim, Method::GET, "CheckAccess", "nope", None)
            .await
            .0,
        401
    );
    assert_eq!(
        management(&sim, Method::GET, "CheckAccess", "admin-key", None)
            .await
            .0,
        200
    );
    let version = management(&sim, Method::GET, "server/version", "admin-key", None).await;
    assert!(version.1["Version"].is_string());
    // A credential, a virtual sentinel, a package instance with settings and groups.
    let ok = |r: (u16, Value)| assert!((200..300).contains(&r.0), "{r:?}");
    ok(management(
        &sim,
        Method::POST,
        "credentials",
        "admin-key",
        Some(json!({"Name": "Devices", "AccessKey": "lamp-key"})),
    )
    .await);
    ok(management(
        &sim,
        Method::POST,
        "sentinels",
        "admin-key",
        Some(json!({"Name": "Zigbee", "Credential": "Devices"})),
    )
    .await);
    ok(management(
        &sim,
        Method::POST,
        "sentinels/Zigbee/packages",
        "admin-key",
        Some(json!({"Name": "lamp", "Enable": true})),
    )
    .await);
    ok(management(
        &sim,
        Method::POST,
        "sentinels/Zigbee/packages/lamp/settings",
        "admin-key",
        Some(json!({"Interval": "10"})),
    )
    .await);
    ok(management(
        &sim,
        Method::POST,
        "sentinels/Zigbee/packages/lamp/groups",
        "admin-key",
        Some(json!(["Lights"])),
    )
    .await);
    // Not before the reload.
    assert!(matches!(
        c.check_access(&lamp).await,
        Err(Error::Auth {
            status: Some(401),
            ..
        })
    ));
    ok(management(
        &sim,
        Method::GET,
        "configuration/reload?deployConfiguration=true",
        "admin-key",
        None,
    )
    .await);
    c.check_access(&lamp).await.unwrap();
    assert_eq!(
        c.get_settings(&lamp).await.unwrap()["Interval"],
        json!("10")
    );
    // Listings, keys only on request.
    let (_, creds) = management(&sim, Method::GET, "credentials", "admin-key", None).await;
    assert!(creds
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.get("AccessKey").is_none()));
    let (_, creds) = management(
        &sim,
        Method::GET,
        "credentials?includeAccessKeys=true",
        "admin-key",
        None,
    )
    .await;
    assert!(creds
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["AccessKey"] == "lamp-key"));
    let (_, packages) = management(
        &sim,
        Method::GET,
        "sentinels/Zigbee/packages",
        "admin-key",
        None,
    )
    .await;
    assert_eq!(packages[0]["Name"], "lamp");
    let (_, groups) = management(
        &sim,
        Method::GET,
        "sentinels/Zigbee/packages/lamp/groups",
        "admin-key",
        None,
    )
    .await;
    assert_eq!(groups, json!(["Lights"]));
    // Bad input: a body that does not parse, a name the configuration cannot hold, an
    // unknown sentinel, an unknown action.
    let (status, body) = management(
        &sim,
        Method::POST,
        "sentinels",
        "admin-key",
        Some(json!([1])),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let bad = management(
        &sim,
        Method::POST,
        "sentinels/Zigbee/packages",
        "admin-key",
        Some(json!({"Name": "a/b"})),
    )
    .await;
    assert_eq!(bad.0, 400);
    assert!(bad.1["Message"].as_str().unwrap().contains("not valid"));
    assert_eq!(
        management(
            &sim,
            Method::GET,
            "sentinels/Nope/packages",
            "admin-key",
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        management(&sim, Method::GET, "nothing", "admin-key", None)
            .await
            .0,
        404
    );
    // Removed, then reloaded: refused again.
    ok(management(
        &sim,
        Method::DELETE,
        "sentinels/Zigbee/packages/lamp",
        "admin-key",
        None,
    )
    .await);
    c.check_access(&lamp).await.unwrap();
    ok(management(&sim, Method::GET, "configuration/reload", "admin-key", None).await);
    assert!(matches!(
        c.check_access(&lamp).await,
        Err(Error::Auth {
            status: Some(401),
            ..
        })
    ));
    // The inspection API shows both configurations.
    let view = get_json(&http(), format!("{}sim/configuration", sim.url())).await;
    assert_eq!(view["Reloads"], 2);
    assert_eq!(view["File"]["sentinels"][0]["name"], "Zigbee");
}
