# syntax=docker/dockerfile:1
#
# fluid-s3-fuse: the FUSE image of a Fluid ThinRuntimeProfile (docker/thinruntimeprofile.yaml).
# One process, no wrapper script: with no arguments the agent reads Fluid's
# /etc/fluid/config/config.json (else /etc/fluid/config.json), resolves the secret files,
# mounts at targetPath in the foreground and exits when Fluid's preStop runs `umount`.
#
#   docker build -t $IMG_REPO/fluid-s3-fuse:0.1.0 .
#
# Node.js: the image runs Node 22 LTS. CI tests on Node 20, which reached end of life in
# April 2026; the code runs on both (fuse-native's prebuild is N-API, loaded by any Node).
#
# linux/amd64 only: fuse-native 2.2.6 ships a prebuild for linux-x64 only, and the libfuse it
# would compile against on another arch (fuse-shared-library-linux) is x86-64 too. The
# --platform flag makes a build on an arm64 laptop still produce the image the nodes can run.
#
# Debian bookworm, pinned: trixie renamed libfuse2 to libfuse2t64, so a floating `node:22-slim`
# would break the apt line below. For production pin both FROMs by digest as well.
#
# Expected size: about 250 MB uncompressed, about 85 MB compressed (push/pull), for amd64:
#   node:22-bookworm-slim   ~220 MB  (~75 MB compressed; the published image, not measured here)
#   apt: fuse, libfuse2, tini ~1.2 MB installed (Installed-Size in bookworm's index; bash,
#        coreutils, grep, util-linux and mount are already in the base, listed so they stay)
#   node_modules (production) 30 MB  (`npm ci --omit=dev --ignore-scripts` of this lockfile:
#        53 packages, 4,597 files; 8.1 MB gzipped; @aws-sdk + @smithy are 22 MB of it)
#   dist/src                  0.3 MB
# docker/README.md says how the numbers were taken; `docker image ls` after a build is the truth.

# ---------------------------------------------------------------------------------------- build
FROM --platform=linux/amd64 node:22-bookworm-slim AS build
WORKDIR /src

# --ignore-scripts: the only install script in the lockfile is fuse-native's `node-gyp-build`,
# which loads the prebuild and, when that fails (no libfuse.so.2 in this stage), compiles it
# with python3/make/g++ that the slim image lacks. At run time node-gyp-build finds
# prebuilds/linux-x64/node.napi.node by itself; the last RUN of the runtime stage proves it loads.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# -------------------------------------------------------------------------------------- runtime
FROM --platform=linux/amd64 node:22-bookworm-slim

LABEL org.opencontainers.image.title="fluid-s3-fuse" \
      org.opencontainers.image.description="FUSE client for S3/MinIO buckets, the entrypoint of a Fluid ThinRuntime" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.fluid-s3-fuse.expected-size="~250MB uncompressed, ~85MB compressed (linux/amd64)"

# What the agent and Fluid run inside this container:
#   fuse       fusermount (the agent unmounts a stale or busy mount with `fusermount -u/-uz`)
#   libfuse2   libfuse.so.2, which fuse-native's prebuild links against
#   tini       PID 1: forwards SIGTERM to the agent's process group, reaps children
#   bash       Fluid's sidecar postStart mount check is a bash script
#   coreutils  df (Fluid's metadata sync: `df --block-size=1 | grep targetPath`), cat, sleep,
#              date, expr, ls, wc (the postStart check and metadata sync scripts)
#   grep       the same scripts
#   util-linux mountpoint, nsenter (Essential in Debian; kept explicit for a different base)
#   mount      umount: Fluid's default preStop is `umount targetPath`, and the agent's lazy
#              unmount fallback (`umount -l`); bookworm moved umount out of util-linux into mount
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      fuse libfuse2 tini bash coreutils grep util-linux mount \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /app
# package.json: `--version` reads it, and it marks /app as an ES module package.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist

# The image is unusable if the native addon does not load against this stage's libfuse2:
# fail the build, not the first mount. (Loading needs no /dev/fuse.)
RUN node /app/dist/src/cli.js --version

# Root and privileged by design: Fluid's FUSE DaemonSet and sidecar run this container as
# uid 0 with `privileged: true`, which /dev/fuse and mount propagation need.
#
# tini -g: SIGTERM from the kubelet goes to the whole process group; the agent unmounts
# (lazily if busy) and exits 0. No CMD: Fluid mode takes no arguments, and a profile's
# `fuse.args` (e.g. ["--log-level", "debug"]) are appended as the agent's own arguments.
# node's heap flags are those of src/cli.ts's first line (why: there).
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "node", "--initial-old-space-size=64", "--max-semi-space-size=8", "/app/dist/src/cli.js"]
