# syntax=docker/dockerfile:1
#
# OptiBid Identity: one static binary (templates, static files and
# migrations are embedded) on an empty base image with CA certificates,
# running as a numeric non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t optibid-idp .
#   docker run --rm -p 8080:8080 -v $PWD/config.yaml:/etc/optibid/config.yaml:ro optibid-idp
#
# The root file system can be mounted read-only: the process writes
# nothing but its logs (JSON on stderr). /tmp exists for a volume.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
# No separate `go mod download`: go.mod also lists the test-only modules
# (the chart test's Helm SDK); the build fetches what the binary needs.
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
# timetzdata: the empty base has no zoneinfo.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -tags timetzdata -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/optibid-idp ./cmd/optibid-idp
# The final image's few files: CA certificates for upstream identity
# providers, mail and SMS APIs; a passwd entry for the non-root user; an
# empty, sticky /tmp; the config directory.
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/etc/optibid /rootfs/tmp \
 && chmod 1777 /rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'nonroot:x:65532:' > /rootfs/etc/group

FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="optibid-idp" \
      org.opencontainers.image.description="OptiBid Identity, an OpenID Connect identity provider" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /rootfs/ /
COPY --from=build /out/optibid-idp /optibid-idp
USER 65532:65532
# 8080: the public listener (http.addr); 9090: metrics (http.metrics_addr).
EXPOSE 8080 9090
ENTRYPOINT ["/optibid-idp"]
CMD ["serve", "--config", "/etc/optibid/config.yaml"]
