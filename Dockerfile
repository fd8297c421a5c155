# Imprint's container image: a static binary on Debian slim, run as an
# unprivileged user. PostgreSQL is not in the image; docker-compose.yml runs
# one beside it (or point IMPRINT_DATABASE_URL at yours).
#
#   docker build -t imprint --build-arg VERSION=$(git describe --tags --always) .

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, in their own layer, so that a source change does not
# download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -tags nobadger,nobbolt,nomysql -trimpath \
        -ldflags "-s -w -X main.version=${VERSION}" -o /out/imprint ./cmd/imprint

FROM debian:bookworm-slim
# ca-certificates for TLS to the database; curl for the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 imprint \
    && useradd --system --uid 10001 --gid imprint --home-dir /var/lib/imprint --shell /usr/sbin/nologin imprint \
    && install -d -o imprint -g imprint -m 0700 /var/lib/imprint
COPY --from=build /out/imprint /imprint
USER imprint
# The data directory holds the CA keys (encrypted with the CA passphrase) and
# the first admin token, which goes to that file only, not to the logs. A new
# named volume takes its owner from the image.
VOLUME /var/lib/imprint
ENV IMPRINT_DATA_DIR=/var/lib/imprint IMPRINT_LISTEN=0.0.0.0:8080 \
    IMPRINT_ADMIN_TOKEN_FILE=/var/lib/imprint/admin-token
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["/imprint"]
CMD ["serve"]
