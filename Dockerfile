# Sichat server image. Build: docker build -t sichat .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin sichat

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /data --uid 10001 sichat \
 && mkdir -p /data && chown sichat /data
COPY --from=build /src/target/release/sichat /usr/local/bin/sichat
USER sichat
ENV SICHAT_LISTEN=0.0.0.0:8080 \
    SICHAT_DATA_DIR=/data \
    SICHAT_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["sichat"]
CMD ["serve"]
