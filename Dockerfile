# One image for the broker (`flo server`) and the operator (`flo operator`).
# Multi-stage: TypeScript is compiled in the build stage; the runtime stage has only
# production dependencies and dist/, runs as an unprivileged user and needs no writable
# root filesystem (brokers write to their volume at /var/lib/flo).
# The code targets Node 20+; the image uses the current LTS.
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied; level ships prebuilt binaries.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN printf '#!/bin/sh\nexec node /app/dist/cli/main.js "$@"\n' > /usr/local/bin/flo \
 && chmod 0755 /usr/local/bin/flo \
 && groupadd --gid 10001 flo \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/flo --no-create-home --shell /usr/sbin/nologin flo \
 && mkdir -p /var/lib/flo \
 && chown 10001:10001 /var/lib/flo
USER 10001:10001
# 3000: broker HTTP/WebSocket API, probes and metrics; 8080: operator metrics and probes.
EXPOSE 3000 8080
VOLUME ["/var/lib/flo"]
ENTRYPOINT ["flo"]
CMD ["server", "--host", "0.0.0.0", "--data-dir", "/var/lib/flo"]
