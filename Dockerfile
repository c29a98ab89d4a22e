# One image for the app instances and the balancer (docker-compose.yml picks the command).
# Build stage compiles TypeScript; the runtime stage has compiled JavaScript and production
# dependencies only, runs as the unprivileged "node" user, and holds no secret: every
# secret comes at run time, from the environment or from a file (NAME_FILE; docker-compose.yml
# generates them in its one-shot "secrets" service).
ARG NODE_VERSION=26

FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY services ./services
COPY proxy ./proxy
COPY scripts ./scripts
RUN npm run build

FROM node:${NODE_VERSION}-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root, run by "node": the process cannot rewrite its own code or dependencies.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/services ./dist/services
COPY --from=build /app/dist/proxy ./dist/proxy
# Where the balancer writes HAProxy's configuration (BALANCER=haproxy): a new named volume
# mounted here starts as this directory, owned by "node".
RUN mkdir -p /run/haproxy && chown node:node /run/haproxy && chmod 700 /run/haproxy
USER node
EXPOSE 3000 8080 8081
# An app instance; the balancer service runs: node dist/proxy/main.js
CMD ["node", "dist/services/main.js"]
