# constellation-mqtt in a container: a multi-stage build, then a small non-root runtime
# (distroless: glibc, CA certificates, no shell).
#
#   docker build -t constellation-mqtt .
#   docker run --rm -v ./topics.toml:/etc/constellation-mqtt/topics.toml:ro \
#       -v constellation-mqtt-data:/var/lib/constellation-mqtt constellation-mqtt
#
# packaging/compose/compose.yaml runs it with Mosquitto and the simulator. In the
# container, the embedded broker's compiled-in listeners are on the container's loopback:
# with the embedded broker, mount a broker file that listens on 0.0.0.0 with `auth`.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin constellation-mqtt \
    && mkdir -p /out/etc/constellation-mqtt /out/var/lib/constellation-mqtt \
    && cp target/release/constellation-mqtt /out/constellation-mqtt \
    && /out/constellation-mqtt init /out/etc/constellation-mqtt > /dev/null

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/constellation-mqtt /usr/bin/constellation-mqtt
COPY --from=build /out/etc/constellation-mqtt /etc/constellation-mqtt
COPY --from=build --chown=nonroot:nonroot /out/var/lib/constellation-mqtt /var/lib/constellation-mqtt
USER nonroot
# The journal in the data volume, whatever topics.toml says.
ENV CONSTELLATION_MQTT__STORAGE__DIR=/var/lib/constellation-mqtt
VOLUME ["/var/lib/constellation-mqtt"]
# MQTT (embedded broker: v3.1.1, v5), then /metrics, /healthz, /readyz, /status.
EXPOSE 1883 1884 8089
ENTRYPOINT ["/usr/bin/constellation-mqtt"]
CMD ["run", "--config", "/etc/constellation-mqtt/topics.toml"]
