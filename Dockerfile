# syntax=docker/dockerfile:1
# One image for every service; the container command picks the service:
#   node services/batcher-worker/dist/main.js     batcher worker (the default CMD)
#   node services/batcher-worker/dist/migrate.js  schema migration (idempotent)
#   node services/main-worker/dist/main.js        main worker
#   node services/health-monitor/dist/main.js     health monitor
#   node services/starter/dist/main.js            starter (--workflows N --shards S [--no-wait])
# The services share one lockfile, @batcher/service-kit, @batcher/demo and almost all their
# dependencies, so one image is one build, one scan and one tag to promote; per-service targets
# would differ by a few hundred kilobytes of dist/.
#
# Debian (glibc), not Alpine: the Temporal core bridge ships only *-linux-gnu binaries.

FROM node:24-bookworm-slim AS build
WORKDIR /app
# Manifests first: the dependency layer is reused until a package.json or the lockfile changes.
COPY package.json package-lock.json ./
COPY packages/service-kit/package.json packages/service-kit/
COPY packages/batcher/package.json packages/batcher/
COPY packages/requester/package.json packages/requester/
COPY packages/protocol/package.json packages/protocol/
COPY services/batcher-worker/package.json services/batcher-worker/
COPY services/main-worker/package.json services/main-worker/
COPY services/starter/package.json services/starter/
COPY services/health-monitor/package.json services/health-monitor/
COPY services/demo/package.json services/demo/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.base.json ./
COPY packages/ packages/
COPY services/ services/
# Compile, then prebundle each worker's workflow code (bundleWorkflowCode with the same
# OpenTelemetry plugins as the worker) so pods start without webpack. Plain `tsc -b` builds the
# services only (`npm run build` adds bench/, which the image does not carry).
RUN npx tsc -b \
 && node services/batcher-worker/dist/bundle.js \
 && node services/main-worker/dist/bundle.js

FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/service-kit/package.json packages/service-kit/
COPY packages/batcher/package.json packages/batcher/
COPY packages/requester/package.json packages/requester/
COPY packages/protocol/package.json packages/protocol/
COPY services/batcher-worker/package.json services/batcher-worker/
COPY services/main-worker/package.json services/main-worker/
COPY services/starter/package.json services/starter/
COPY services/health-monitor/package.json services/health-monitor/
COPY services/demo/package.json services/demo/
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM node:24-bookworm-slim AS runtime
# The newest CA bundle is the point of this package, so it is deliberately not version-pinned;
# the base image tag pins the rest.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Endpoints listen on every interface in a container (probes, Prometheus; the chart sets it too);
# outside one they default to 127.0.0.1.
ENV NODE_ENV=production LISTEN_HOST=0.0.0.0
WORKDIR /app
# Owned by root and not writable by the runtime user; only /tmp is written (an emptyDir in the chart).
COPY --from=prod-deps /app/ ./
COPY --from=build /app/packages/service-kit/dist/ packages/service-kit/dist/
COPY --from=build /app/packages/batcher/dist/ packages/batcher/dist/
COPY --from=build /app/packages/requester/dist/ packages/requester/dist/
COPY --from=build /app/packages/protocol/dist/ packages/protocol/dist/
COPY --from=build /app/services/batcher-worker/dist/ services/batcher-worker/dist/
COPY --from=build /app/services/main-worker/dist/ services/main-worker/dist/
COPY --from=build /app/services/starter/dist/ services/starter/dist/
COPY --from=build /app/services/health-monitor/dist/ services/health-monitor/dist/
COPY --from=build /app/services/demo/dist/ services/demo/dist/
# The base image's `node` user, numeric so Kubernetes can verify runAsNonRoot.
USER 1000:1000
# 8080 health monitor; 8081 worker /healthz and /readyz; 9464 worker /metrics.
EXPOSE 8080 8081 9464
# Exec form: node is PID 1 and receives SIGTERM itself, so workers drain (WORKER_SHUTDOWN_GRACE_MS).
CMD ["node", "services/batcher-worker/dist/main.js"]
