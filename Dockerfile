# meetingbot container image: a static Go binary on distroless, run as non-root.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse --short=12 HEAD) -t meetingbot .
#
# Secrets are NOT baked into the image; pass them at run time:
#   SLACK_APP_TOKEN        xapp-… app-level token with connections:write
#   SLACK_BOT_TOKEN        xoxb-… bot token
#   MEETINGBOT_SECRET_KEY  32 random bytes, base64 (openssl rand -base64 32);
#                          keep it: without it the stored credentials are lost
# Optional: MEETING_API_URL, MEETINGBOT_ADMINS, MEETINGBOT_COMMAND, LOG_LEVEL, …
# (see the README). For example, with those in a file meetingbot.env, check the
# settings, then run it:
#
#   docker run --rm --env-file meetingbot.env -v meetingbot-data:/data meetingbot doctor
#   docker run -d --name meetingbot --restart unless-stopped --stop-timeout 20 \
#     --env-file meetingbot.env -v meetingbot-data:/data -p 127.0.0.1:8080:8080 meetingbot
#
# --stop-timeout 20: a shutdown takes at most 16 s (docs/DEPLOYMENT.md#shutdown).
#
# The SQLite database lives in the /data volume (MEETINGBOT_DB=/data/meetingbot.db).
# Port 8080 serves only /healthz, /readyz and /metrics; Slack needs no inbound
# port (Socket Mode dials out). There is no HEALTHCHECK because the distroless
# image has no shell or curl to run one: point the orchestrator's liveness probe
# at /healthz and its readiness probe at /readyz on :8080.

FROM golang:1.26-bookworm AS build
WORKDIR /src

# The data directory, owned by distroless's nonroot user (65532), so the
# volume created from it is writable by the bot (copied into the final stage).
RUN mkdir -p /data && chown 65532:65532 /data

# Dependencies first, so this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
ARG VERSION=dev
# .git is not in the build context, so the revision comes in as an argument.
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
        -o /out/meetingbot ./cmd/meetingbot \
 && /out/meetingbot version

# static-debian12 has CA certificates (TLS to Slack and the meeting API),
# tzdata and /etc/passwd with nonroot, and nothing else: no shell, no libc.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="meetingbot" \
      org.opencontainers.image.description="Slack bot that locks and unlocks Huawei Cloud Meetings" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=build /out/meetingbot /meetingbot
COPY --from=build --chown=65532:65532 /data /data

ENV MEETINGBOT_DB=/data/meetingbot.db \
    MEETINGBOT_HTTP_ADDR=:8080 \
    LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/meetingbot"]
CMD ["run"]
