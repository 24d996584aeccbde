#!/usr/bin/env python3
"""The yardstick of `scripts/bench.sh compare`: the bridge a user would write in twenty
lines. paho-mqtt subscribes to `pybench/<package>/<name>` at QoS 1; each message is pushed
as StateObject <name> of package Python/<package> by one requests.Session, in
on_message (no journal, no retry).

    python3 scripts/bench/paho_bridge.py <mqtt port> <Constellation URL> <access key>
"""
import json
import sys

import paho.mqtt.client as mqtt
import requests

port, url, key = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
session = requests.Session()


def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe("pybench/#", qos=1)


def on_message(client, userdata, message):
    _, package, name = message.topic.split("/")
    session.post(
        f"{url}/rest/constellation/PushStateObject",
        params={"SentinelName": "Python", "PackageName": package, "AccessKey": key},
        json={"Name": name, "Value": json.loads(message.payload)},
    )


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-bridge")
client.on_connect = on_connect
client.on_message = on_message
client.connect("127.0.0.1", port)
client.loop_forever()
