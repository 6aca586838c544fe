/**
 * The nearest peer on npm: better-sse, a session per connection and one channel for
 * everyone, as its documentation shows.
 */
import { createServer } from 'node:http';
import { createChannel, createSession } from 'better-sse';
import { requestUser, serve } from './harness.js';

await serve('better-sse', async () => {
  const everyone = createChannel();
  /** userId -> that user's sessions */
  const users = new Map();

  const server = createServer(async (request, response) => {
    const userId = requestUser(request);
    if (request.url !== '/sse' || userId === undefined) {
      response.writeHead(userId === undefined ? 401 : 404).end();
      return;
    }
    const session = await createSession(request, response);
    let sessions = users.get(userId);
    if (sessions === undefined) users.set(userId, (sessions = new Set()));
    sessions.add(session);
    everyone.register(session);
    session.once('disconnected', () => {
      sessions.delete(session);
      if (sessions.size === 0 && users.get(userId) === sessions) users.delete(userId);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    port: server.address().port,
    broadcast(data) {
      everyone.broadcast(data);
    },
    unicast(userId, data) {
      const sessions = users.get(userId);
      if (sessions === undefined) return;
      for (const session of sessions) session.push(data);
    },
    connections: () => everyone.sessionCount,
    close: () => new Promise((resolve) => server.close(resolve).closeAllConnections()),
  };
});
