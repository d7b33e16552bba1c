FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm install --no-save tsx@4
COPY . .
ENV NODE_ENV=production
USER node
# The flags of src/node-flags.ts (a test keeps the two equal).
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "src/main.ts"]
