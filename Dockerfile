# syntax=docker/dockerfile:1

# ---- web client (web/ with the TypeScript SDK it bundles) ----
FROM node:20-bookworm-slim AS web
WORKDIR /app
COPY clients/typescript ./clients/typescript
COPY web ./web
RUN cd web \
 && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error \
 && npx --no-install tsc -p tsconfig.json \
 && node build.mjs --check

# ---- build ----
FROM rust:1-bookworm AS builder
WORKDIR /app

# Build the dependencies alone first, so they stay cached until Cargo.toml/Cargo.lock change.
# The workspace also holds the load generator (bench/): its manifest must be there,
# but only the server is built.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml ./bench/
RUN mkdir -p src bench/src \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > bench/src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked -p confab \
 && rm -rf src

# Now the real sources (openapi/openapi.json is generated output, not a build input),
# and the web client's bundle, which the binary embeds (src/web.rs).
COPY build.rs ./
COPY src ./src
COPY --from=web /app/web/dist ./web/dist
# COPY keeps the context's mtimes, which can be older than the dummy build: force a rebuild.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked -p confab

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
