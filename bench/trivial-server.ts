/**
 * A node:http server that answers every request with a constant JSON body of the size of a
 * one-symbol prediction (`npm run bench:api -- --trivial` loads it instead of the API): whatever
 * rate the bench cannot reach against it is the load generator's limit on this machine, not the API's.
 * Listens on API_ADDRESS (host:port); SIGTERM closes it.
 */
import http from 'node:http';

const BODY = JSON.stringify({
  predictions: [{ symbol: 'BNCH000', model: 'bench-api-000000', version: 1, variant: 'champion', probability: 0.5123456789012345, class: 1, asOf: '2024-06-28', featureSetVersion: 'fs-bench-000000000000' }],
  errors: [],
});
const HEADERS = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(BODY) };

const address = process.env.API_ADDRESS ?? '127.0.0.1:8080';
const i = address.lastIndexOf(':');
const server = http.createServer((_request, response) => {
  response.writeHead(200, HEADERS);
  response.end(BODY);
});
server.listen(Number(address.slice(i + 1)), address.slice(0, i));
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
