# Dockerfile — a quorumdns node image (Debian 12).
#
# The build stage builds the tree as a developer machine does, with
# tools/setup.sh, but installs only the build packages (--image: compiler,
# CMake, the -dev libraries, no recommends; not the test tools, clang or
# cmocka), then builds build/ with CMake.  The runtime stage gets the
# binaries and only the Debian packages of the shared libraries they link
# (found with ldd + dpkg by tools/docker/runtime-packages.sh), plus curl for
# the health check.  The node runs as the user quorumdns; the entrypoint
# (tools/docker/entrypoint.sh) configures it from QDNS_* variables, see there
# and docker-compose.yml.  Without a Docker daemon, tools/compose.sh builds
# and runs it with podman (the base image made locally with debootstrap).
#
#   docker build -t quorumdns .
#   docker run -e QDNS_NODE_ID=1 -e QDNS_BOOTSTRAP=... -e QDNS_ADMIN_TOKEN=... quorumdns

# ---------------------------------------------------------------- build
FROM debian:bookworm-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# The packages first, in their own layer: a source change does not redo them.
COPY tools/setup.sh tools/setup.sh
RUN tools/setup.sh --no-build --image
COPY . .
RUN tools/setup.sh --no-packages \
 && mkdir -p /out/bin \
 && cp build/node/quorumdns /out/bin/ \
 && find build -type f -name quorumctl -perm -u+x -exec cp {} /out/bin/ \; \
 && tools/docker/runtime-packages.sh /out/bin/* >/out/runtime-packages \
 && /out/bin/quorumdns --version \
 && echo "runtime packages:" $(cat /out/runtime-packages)

# -------------------------------------------------------------- runtime
FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update -qq \
 && xargs -a /tmp/runtime-packages apt-get install -y -qq --no-install-recommends \
        ca-certificates curl iso-codes \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --user-group --home-dir /var/lib/quorumdns --no-create-home \
        --shell /usr/sbin/nologin quorumdns \
 && mkdir -p /var/lib/quorumdns /run/quorumdns \
 && chown quorumdns:quorumdns /var/lib/quorumdns /run/quorumdns
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /src/tools/docker/entrypoint.sh /usr/local/bin/quorumdns-entrypoint
COPY --from=build /src/tools/docker/healthcheck.sh /usr/local/bin/quorumdns-healthcheck
COPY --from=build /src/tools/docker/pki.sh /usr/local/bin/quorumdns-pki
RUN chmod 755 /usr/local/bin/quorumdns-entrypoint /usr/local/bin/quorumdns-healthcheck /usr/local/bin/quorumdns-pki \
 && quorumdns --version

# Raft state and snapshots.
VOLUME /var/lib/quorumdns
# DNS, the HTTP API, raft.
EXPOSE 53/udp 53/tcp 8080/tcp 7000/tcp
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
        CMD ["quorumdns-healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["quorumdns-entrypoint"]
CMD []
