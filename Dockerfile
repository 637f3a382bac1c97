# Courseshop's container images: ONE Dockerfile for both binaries, the SERVICE build argument picks which.
#
#   docker build -t courseshop .                                                  # the shop (the default)
#   docker build --build-arg SERVICE=enrollment-worker -t courseshop-worker .     # the enrollment worker
#
# azure.yaml passes SERVICE as a buildArg; docker-compose.yml builds both. SERVICE picks the entrypoint, the
# port and the health check; both images hold both binaries at /usr/local/bin/ (templates, CSS, JS and
# migrations are compiled into them), because some azd versions drop buildArgs in a remote (ACR) build: the
# worker's image then still holds enrollment-worker, which its Container App names as its command. Nothing
# else of the repository is in the image: no sources, no .env, no secrets. Settings come from the environment at run time
# (README: Configuration).
#
# Written for BuildKit (Docker 23+, docker compose, azd) and for the classic builder alike (no RUN --mount,
# no COPY --chmod, no heredocs), since a remote builder may still be the classic one.

# courseshop | enrollment-worker
ARG SERVICE=courseshop
# the repository's URL for the org.opencontainers.image.source label (CI or azd can pass it)
ARG SOURCE_URL=""

# ---------------------------------------------------------------------------------------------------------
# Toolchain: Rust 1.95 (edition 2024) on Debian 12 bookworm, the same Debian as the runtime image below, so
# the binary links against the glibc it will run with. cargo-chef caches the dependency build in a layer of
# its own that changes only when Cargo.toml/Cargo.lock do.
FROM rust:1.95.0-slim-bookworm AS chef
RUN cargo install --locked cargo-chef --version 0.1.78
WORKDIR /src

# The recipe: the workspace's manifests and lockfile (shop, app, worker and testkit, which is dev-only but a
# workspace member the workspace needs to resolve) and .cargo/config.toml. The same for both services.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG SERVICE
# The committed query metadata in .sqlx/ stands in for a database (also set in .cargo/config.toml).
ENV SQLX_OFFLINE=true
RUN case "$SERVICE" in \
      courseshop|enrollment-worker) ;; \
      *) echo "SERVICE must be courseshop or enrollment-worker, not '$SERVICE'" >&2; exit 1 ;; \
    esac
COPY --from=planner /src/recipe.json recipe.json
# Both binaries' dependencies, with the features their build unifies, so the build below reuses every one
# of them. rustls uses ring and aws-lc-rs (the Azure SDK's HTTP client); both build with the C compiler the
# image has (no OpenSSL, CMake or Go needed).
RUN cargo chef cook --release --locked --bin courseshop --bin enrollment-worker --recipe-path recipe.json
COPY Cargo.toml Cargo.lock ./
COPY .cargo/ .cargo/
COPY .sqlx/ .sqlx/
COPY migrations/ migrations/
COPY templates/ templates/
COPY static/ static/
COPY shop/ shop/
COPY app/ app/
COPY worker/ worker/
COPY testkit/ testkit/
RUN cargo build --release --locked --bin courseshop --bin enrollment-worker \
 && mkdir -p /out \
 && cp target/release/courseshop target/release/enrollment-worker /out/

# ---------------------------------------------------------------------------------------------------------
# Runtime: distroless cc (Debian 12): glibc, libgcc, CA certificates and tzdata, no shell and no package
# manager, so nothing in the image but the binary can run. Its "nonroot" user is 65532:65532, named here by
# number so that platforms can check it is not root without reading /etc/passwd. The binaries use rustls
# (no OpenSSL); the system CA certificates are there for the Azure SDK's platform verifier.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG SOURCE_URL
LABEL org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.vendor="Courseshop"
ENV HOST=0.0.0.0 \
    LOG_FORMAT=json
WORKDIR /
USER 65532:65532

# The shop. `serve --migrate` (migrate, then serve) and `migrate`, `seed` are the same entrypoint with
# other arguments. /out/ holds both binaries (see the top of this file).
FROM runtime AS courseshop
LABEL org.opencontainers.image.title="courseshop" \
      org.opencontainers.image.description="Courseshop: the online course shop (actix-web), serving on PORT"
COPY --from=builder /out/ /usr/local/bin/
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/courseshop", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/courseshop"]
CMD ["serve"]

# The enrollment worker: consumes OrderPlaced from RabbitMQ; /healthz, /readyz and /metrics on WORKER_PORT.
FROM runtime AS enrollment-worker
LABEL org.opencontainers.image.title="enrollment-worker" \
      org.opencontainers.image.description="Courseshop's enrollment worker: OrderPlaced from RabbitMQ to enrollments; probes on WORKER_PORT"
COPY --from=builder /out/ /usr/local/bin/
ENV WORKER_PORT=8090
EXPOSE 8090
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/enrollment-worker", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/enrollment-worker"]
CMD ["run"]

# The image: the stage SERVICE names. (":-courseshop" repeats the default above; it also keeps checkov's
# CKV_DOCKER_7 from taking this stage reference for an untagged image. An empty SERVICE fails in the
# builder stage's check.)
FROM ${SERVICE:-courseshop}
USER 65532:65532
