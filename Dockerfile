# One image for the worker, the prediction API and the stream consumer (compose picks the command);
# it also runs the CLI: docker compose run --rm worker node --import tsx client/cli.ts --help.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY lib lib
COPY api api
COPY platform platform
COPY activities activities
COPY workflows workflows
COPY workers workers
COPY client client
COPY scripts scripts
COPY models models
COPY tsconfig.json ./
USER node
# SIGTERM from `docker stop` reaches node directly and drains the workers within stop_grace_period.
CMD ["node", "--import", "tsx", "workers/main.ts"]
