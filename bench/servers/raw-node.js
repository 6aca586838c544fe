/**
 * The floor: a plain `node:http` server, what the fastest hand-written per-user SSE
 * endpoint looks like. Each message is serialised once and written to every response.
 */
import { createServer } from 'node:http';
import { requestUser, serve } from './harness.js';

const HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

await serve('raw-node', async () => {
  /** userId -> that user's open responses */
  const users = new Map();
  let lastId = 0;

  const server = createServer((request, response) => {
    const userId = requestUser(request);
    if (request.url !== '/sse' || userId === undefined) {
      response.writeHead(userId === undefined ? 401 : 404).end();
      return;
    }
    let responses = users.get(userId);
    if (responses === undefined) users.set(userId, (responses = []));
    responses.push(response);
    request.socket.setNoDelay(true);
    request.socket.setTimeout(0);
    response.writeHead(200, HEADERS);
    response.write(`id: ${lastId}\nretry: 60000\ndata: \n\n`);
    response.once('close', () => {
      const open = users.get(userId);
      if (open === undefined) return;
      open.splice(open.indexOf(response), 1);
      if (open.length === 0) users.delete(userId);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  const frame = (data) => Buffer.from(`id: ${++lastId}\ndata: ${JSON.stringify(data)}\n\n`);
  return {
    port: server.address().port,
    broadcast(data) {
      const bytes = frame(data);
      for (const responses of users.values()) {
        for (const response of responses) response.write(bytes);
      }
    },
    unicast(userId, data) {
      const responses = users.get(userId);
      if (responses === undefined) return;
      const bytes = frame(data);
      for (const response of responses) response.write(bytes);
    },
    connections() {
      let n = 0;
      for (const responses of users.values()) n += responses.length;
      return n;
    },
    close: () => new Promise((resolve) => server.close(resolve).closeAllConnections()),
  };
});
