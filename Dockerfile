# syntax=docker/dockerfile:1

# ---- build ----
FROM rust:1-bookworm AS builder
WORKDIR /app

# Build the dependencies alone first, so they stay cached until Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# Now the real sources. (openapi/openapi.json is generated output, not a build input.)
COPY src ./src
# COPY keeps the context's mtimes, which can be older than the dummy build: force a rebuild.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked

# ---- runtime ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 confab \
 && useradd --system --uid 10001 --gid confab --no-create-home --shell /usr/sbin/nologin confab

COPY --from=builder /app/target/release/confab /usr/local/bin/confab

ENV CONFAB_BIND=0.0.0.0:8000 LOG_FORMAT=json
EXPOSE 8000
# No HEALTHCHECK: the image has no curl and the binary has no health subcommand.
USER confab
ENTRYPOINT ["/usr/local/bin/confab"]
