# syntax=docker/dockerfile:1
# mcp-autoscaler container image.
#   docker build -t mcp-autoscaler:0.1.0 .
#   docker run --rm -p 9090:9090 -p 8080:8080 --read-only mcp-autoscaler:0.1.0
# The runtime image holds the binary only (glibc from distroless/cc), runs
# as the numeric non-root user 65532 and writes nothing to its filesystem,
# so it runs with a read-only root filesystem. scripts/check-deploy.sh lints
# this file and assembles the runtime stage's image config offline.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# Only what the build reads (see .dockerignore): manifests, build script,
# proto, sources; benches and examples because Cargo.toml declares them.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY src ./src
COPY benches ./benches
COPY examples ./examples
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin mcp-autoscaler \
 && install -D -m 0755 target/release/mcp-autoscaler /out/mcp-autoscaler

# Same Debian release as the builder, so the glibc the binary links is there.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/mcp-autoscaler /usr/local/bin/mcp-autoscaler
USER 65532:65532
# 9090: gRPC (KEDA external scaler). 8080: HTTP (/healthz, /readyz, /metrics, /v1/...).
EXPOSE 9090 8080
# The entrypoint is the binary and the default command `serve`, so
# Kubernetes `args: ["serve", "--config", ...]` (deploy/, the Helm chart)
# and `docker run IMAGE check-config FILE` both work.
ENTRYPOINT ["/usr/local/bin/mcp-autoscaler"]
CMD ["serve"]
