# The gateway image: the production build (tsconfig.build.json) on production dependencies
# only. The local stack (src/stack), the SMTP catcher and the GraphQL IDE (GraphiQL, React)
# are development parts: neither their code nor their packages are in the image.

# Build: every dependency (TypeScript is one), then compile. Node 24 comes from the `node`
# dev dependency here and from the base image at run time.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json mikro-orm.config.ts ./
COPY src ./src
RUN npm run build

# Run: production dependencies installed afresh (postinstall patches graphql-shield; the
# patches of development packages are skipped), the compiled code, a user without rights.
FROM node:24.21.0-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 4000
# Alive and serving HTTP (migrations and realm provisioning happen before the gateway
# listens, hence the start period). Load balancers should ask /readyz, which also
# answers 503 while PostgreSQL cannot be reached and from SIGTERM on (docs/operations.md).
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 4000}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/main.js"]
