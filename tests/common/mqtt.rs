//! MQTT test fixtures: the adapter in process (embedded broker or a real Mosquitto),
//! device clients, ephemeral ports.

use super::{start, wait_for, within};
use constellation_mqtt::adapter::{Adapter, StartError};
use constellation_mqtt::config::{Config, MqttMode};
use constellation_mqtt::mqtt::embedded::BrokerError;
use constellation_mqtt::native::PackageId;
use constellation_mqtt::sim::{Simulator, World};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Polls `eventloop` until the broker answers the CONNECT: `true` for a CONNACK,
/// `false` when it refuses or closes (TLS handshake, login, limits).
pub async fn connack(eventloop: &mut rumqttc::EventLoop) -> bool {
    within("the broker's answer to CONNECT", async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await
}

/// A port free at the time of asking (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends the log lines of adapters started in this process to the test's captured
/// output, which a failing test prints (`RUST_LOG` filters; informational lines by
/// default, the embedded broker's warnings).
fn capture_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_test_writer()
        .try_init();
}

/// A broker configuration for the embedded broker on two free loopback ports.
pub fn broker_toml(v4: u16, v5: u16, max_payload: usize) -> String {
    format!(
        r#"id = 0
[router]
id = 0
max_connections = 1000
max_outgoing_packet_count = 200
max_segment_size = 4194304
max_segment_count = 4
[v4.1]
name = "v4-1"
listen = "127.0.0.1:{v4}"
next_connection_delay_ms = 0
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = {max_payload}
    max_inflight_count = 100
    dynamic_filters = true
[v5.1]
name = "v5-1"
listen = "127.0.0.1:{v5}"
next_connection_delay_ms = 0
    [v5.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = {max_payload}
    max_inflight_count = 100
    dynamic_filters = true
"#
    )
}

/// The simulator, the adapter, and where devices connect.
pub struct Harness {
    pub sim: Simulator,
    pub adapter: Option<Adapter>,
    pub shutdown: CancellationToken,
    /// MQTT 3.1.1 port for devices.
    pub port: u16,
    /// MQTT 5 port (the embedded broker's; Mosquitto's single port otherwise).
    pub v5_port: u16,
    pub mosquitto: Option<Mosquitto>,
    /// The username and password devices log in with.
    pub login: Option<(String, String)>,
    /// The adapter's configuration, to start it again.
    pub config: Config,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// The adapter with its embedded broker, on `world`, configured by `tweak`.
    pub async fn embedded(world: World, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::embedded_as(world, None, tweak).await
    }

    /// Like [`Harness::embedded`], devices logging in with `login`.
    pub async fn embedded_as(
        world: World,
        login: Option<(&str, &str)>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (v4, v5) = (free_port(), free_port());
        let broker = dir.path().join("rumqttd.toml");
        std::fs::write(&broker, broker_toml(v4, v5, 1 << 20)).unwrap();
        let sim = start(world).await;
        let mut config = base_config(&sim);
        config.mqtt.broker_config = Some(broker);
        tweak(&mut config);
        let login = login.map(|(u, p)| (u.to_owned(), p.to_owned()));
        Self::with(sim, config, v4, v5, None, login, dir).await
    }

    /// Like [`Harness::embedded`], the embedded broker configured as `run` has it (its
    /// compiled-in defaults) but on free ports.
    pub async fn embedded_shipped(world: World) -> Self {
        Self::embedded(world, |c| {
            let path = c.mqtt.broker_config.clone().expect("a broker file");
            let test = std::fs::read_to_string(&path).unwrap();
            let port = |name: &str| {
                let at = test.find(&format!("name = \"{name}\"")).unwrap();
                let listen = &test[at..][test[at..].find("127.0.0.1:").unwrap() + 10..];
                listen[..listen.find('"').unwrap()].to_owned()
            };
            let shipped = constellation_mqtt::mqtt::embedded::DEFAULT_CONFIG
                .replace("127.0.0.1:1883", &format!("127.0.0.1:{}", port("v4-1")))
                .replace("127.0.0.1:1884", &format!("127.0.0.1:{}", port("v5-1")));
            std::fs::write(&path, shipped).unwrap();
        })
        .await
    }

    /// The adapter against a real Mosquitto started for this test.
    pub async fn external(world: World, tweak: impl FnOnce(&mut Config)) -> Self {
        let mosquitto = Mosquitto::start(free_port()).await;
        Self::external_on(world, mosquitto, None, tweak).await
    }

    /// The adapter against `mosquitto`, devices logging in with `login`.
    pub async fn external_on(
        world: World,
        mosquitto: Mosquitto,
        login: Option<(&str, &str)>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sim = start(world).await;
        let mut config = base_config(&sim);
        config.mqtt.mode = MqttMode::External;
        config.mqtt.url = format!("mqtt://127.0.0.1:{}", mosquitto.port);
        tweak(&mut config);
        let port = mosquitto.port;
        let login = login.map(|(u, p)| (u.to_owned(), p.to_owned()));
        Self::with(sim, config, port, port, Some(mosquitto), login, dir).await
    }

    async fn with(
        sim: Simulator,
        config: Config,
        mut port: u16,
        mut v5_port: u16,
        mosquitto: Option<Mosquitto>,
        login: Option<(String, String)>,
        dir: tempfile::TempDir,
    ) -> Self {
        capture_logs();
        let shutdown = CancellationToken::new();
        // A port found free may be taken by someone's outgoing connection before the
        // broker binds it: then the embedded broker moves to other free ports.
        let mut attempts = 0;
        let adapter = loop {
            match Adapter::start(config.clone(), shutdown.clone()).await {
                Ok(adapter) => break adapter,
                Err(StartError::Broker(BrokerError::Listen { .. })) if attempts < 5 => {
                    attempts += 1;
                    let path = config.mqtt.broker_config.as_ref().expect("a broker file");
                    let (v4, v5) = (free_port(), free_port());
                    let text = std::fs::read_to_string(path)
                        .unwrap()
                        .replace(&format!("127.0.0.1:{port}\""), &format!("127.0.0.1:{v4}\""))
                        .replace(
                            &format!("127.0.0.1:{v5_port}\""),
                            &format!("127.0.0.1:{v5}\""),
                        );
                    std::fs::write(path, text).unwrap();
                    (port, v5_port) = (v4, v5);
                }
                Err(e) => panic!("adapter starts: {e}"),
            }
        };
        let h = Self {
            sim,
            adapter: Some(adapter),
            shutdown,
            port,
            v5_port,
            mosquitto,
            login,
            config,
            _dir: dir,
        };
        h.adapter_online().await;
        h
    }

    /// Waits until a device sees the adapter `online`: it publishes that right after
    /// subscribing, so its subscriptions are then in place.
    pub async fn adapter_online(&self) {
        let watcher = self.device("status-watcher").await;
        watcher.wait_adapter_online(&self.config.prefix).await;
    }

    /// Kills the external Mosquitto and starts a fresh one on the same port (no
    /// sessions, no retained messages); returns once the adapter is back online.
    pub async fn restart_mosquitto(&mut self) {
        let port = self.port;
        let mosquitto = self.mosquitto.as_mut().expect("an external broker");
        mosquitto.kill();
        *mosquitto = Mosquitto::start(port).await;
        self.adapter_online().await;
    }

    /// Shuts the adapter down and waits until it is gone.
    pub async fn stop_adapter(&mut self) {
        self.shutdown.cancel();
        if let Some(adapter) = self.adapter.take() {
            within("the adapter's shutdown", adapter.wait()).await;
        }
    }

    /// Starts the adapter again with the same configuration (a new process would).
    pub async fn start_adapter(&mut self) {
        self.shutdown = CancellationToken::new();
        let adapter = Adapter::start(self.config.clone(), self.shutdown.clone())
            .await
            .expect("adapter starts");
        self.adapter = Some(adapter);
    }

    /// Waits (15 s at most) until the simulator holds `sentinel/package/name`.
    pub async fn state_object_arrives(
        &self,
        sentinel: &str,
        package: &str,
        name: &str,
    ) -> constellation_mqtt::constellation::model::StateObject {
        let handle = self.sim.handle();
        wait_for(
            &format!("{sentinel}/{package}/{name} at the simulator"),
            Duration::from_secs(15),
            || async { handle.state_object(sentinel, package, name) },
        )
        .await
    }

    /// A connected MQTT 3.1.1 device.
    pub async fn device(&self, id: &str) -> Device {
        Device::connect_as(id, self.port, self.login.clone()).await
    }

    /// The state the adapter keeps for a package.
    pub fn package(
        &self,
        sentinel: &str,
        package: &str,
    ) -> Option<constellation_mqtt::package::PackageState> {
        self.adapter
            .as_ref()?
            .registry
            .package(&PackageId::new(sentinel, package))
    }
}

/// A configuration pointing at `sim`, default credential `demo`.
pub fn base_config(sim: &Simulator) -> Config {
    let mut config = Config::default();
    config.constellation.url = sim.url().to_string();
    config.constellation.access_key = Some("demo".into());
    config.mqtt.client_id = format!("adapter-{}", free_port());
    config.http.listen = "127.0.0.1:0".into();
    // Tests of the disk journal set it themselves, with a directory of their own.
    config.storage.durability = constellation_mqtt::config::Durability::Memory;
    config
}

/// A publish a device received.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
    pub qos: QoS,
}

/// A test device: an MQTT 3.1.1 client whose received publishes arrive on a channel.
pub struct Device {
    pub client: AsyncClient,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    subacks: tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>,
}

impl Device {
    /// Connects and waits for the CONNACK.
    pub async fn connect(id: &str, port: u16) -> Self {
        Self::connect_as(id, port, None).await
    }

    /// Connects with a username and password, and waits for the CONNACK.
    pub async fn connect_as(id: &str, port: u16, login: Option<(String, String)>) -> Self {
        let mut options = MqttOptions::new(format!("{id}-{}", free_port()), "127.0.0.1", port);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        options.set_max_packet_size(2 << 20, 2 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let (tx, rx) = mpsc::unbounded_channel();
        let (connected_tx, mut connected) = mpsc::channel(1);
        let (suback_tx, subacks) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = connected_tx.try_send(());
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = suback_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Received {
                            topic: String::from_utf8_lossy(p.topic.as_bytes()).into_owned(),
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            retain: p.retain,
                            qos: p.qos,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        within("device connection", connected.recv()).await;
        Self {
            client,
            rx: tokio::sync::Mutex::new(rx),
            subacks: tokio::sync::Mutex::new(subacks),
        }
    }

    /// Publishes at QoS 1, not retained.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .unwrap();
    }

    /// Publishes at QoS 1, retained (as devices publish state, availability and
    /// discovery configs).
    pub async fn publish_retained(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload.into())
            .await
            .unwrap();
    }

    /// Subscribes at QoS 1 and waits for the broker's SUBACK: publishes made after
    /// this returns reach the device.
    pub async fn subscribe(&self, filter: &str) {
        self.subscribe_qos(filter, QoS::AtLeastOnce).await;
    }

    /// Waits until the adapter under `prefix` says `online` (retained): it publishes
    /// that right after subscribing, so its subscriptions are then in place.
    pub async fn wait_adapter_online(&self, prefix: &str) {
        let topic = format!("{prefix}/_adapter/status");
        self.subscribe(&topic).await;
        self.expect(&topic, |p| p == "online").await;
    }

    /// Subscribes at `qos` and waits for the SUBACK.
    pub async fn subscribe_qos(&self, filter: &str, qos: QoS) {
        let mut acks = self.subacks.lock().await;
        self.client.subscribe(filter, qos).await.unwrap();
        within(&format!("the SUBACK of {filter}"), acks.recv()).await;
    }

    /// Waits for a publish on `topic` whose payload passes `check`; others are skipped.
    pub async fn expect(&self, topic: &str, check: impl Fn(&str) -> bool) -> Received {
        let mut rx = self.rx.lock().await;
        within(&format!("a publish on {topic}"), async {
            loop {
                let r = rx.recv().await.expect("device channel open");
                if r.topic == topic && check(&r.payload) {
                    return r;
                }
            }
        })
        .await
    }

    /// Everything received so far, without waiting.
    pub async fn drain(&self) -> Vec<Received> {
        let mut rx = self.rx.lock().await;
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// The next publish received, waiting for it (`None`: the connection is gone).
    pub async fn recv(&self) -> Option<Received> {
        self.rx.lock().await.recv().await
    }

    /// The publishes on `error` topics received so far, without waiting.
    pub async fn errors(&self) -> Vec<Received> {
        let mut all = self.drain().await;
        all.retain(|r| r.topic.ends_with("/error"));
        all
    }
}

/// A Mosquitto broker process on a port, killed on drop.
pub struct Mosquitto {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts Mosquitto on `port` (loopback, anonymous, no persistence; as root when run
    /// by root, so that it reads the test's temporary key files) and waits until
    /// it accepts connections. Mosquitto is required: `scripts/test.sh` installs it.
    pub async fn start(port: u16) -> Self {
        Self::start_with(port, "").await
    }

    /// Like [`Mosquitto::start`], with more configuration lines (more listeners…).
    pub async fn start_with(port: u16, extra: &str) -> Self {
        Self::start_conf(
            port,
            &format!("allow_anonymous true\nlistener {port} 127.0.0.1\n{extra}"),
        )
        .await
    }

    /// Mosquitto with the configuration `conf` (which names the listener on `port`),
    /// run as root, without persistence.
    pub async fn start_conf(port: u16, conf_text: &str) -> Self {
        Self::launch(port, &format!("persistence false\n{conf_text}")).await
    }

    /// Mosquitto on `port` (loopback, anonymous) with persistence in its temporary
    /// directory and no bound on the messages it queues for a client that is away: a
    /// broker as a user runs it for at-least-once delivery.
    pub async fn start_persistent(port: u16) -> Self {
        Self::launch(
            port,
            &format!(
                "allow_anonymous true\nlistener {port} 127.0.0.1\npersistence true\nmax_queued_messages 0\n"
            ),
        )
        .await
    }

    async fn launch(port: u16, conf_text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        let persistence = format!("persistence_location {}/\n", dir.path().display());
        std::fs::write(
            &conf,
            format!("user root\nmax_packet_size 2000000\n{persistence}{conf_text}"),
        )
        .unwrap();
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (run scripts/test.sh, which installs it)");
        wait_for("mosquitto to listen", Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(drop)
        })
        .await;
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// Sends the broker's process `signal` (`STOP` stalls it, `CONT` resumes it).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// Kills the broker (a crash: no clean disconnect for anyone).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Mosquitto's path: on PATH, or where Debian installs it.
pub fn mosquitto_binary() -> String {
    ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("mosquitto")
        .to_owned()
}
