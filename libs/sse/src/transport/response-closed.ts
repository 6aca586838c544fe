import type { ServerResponse } from 'node:http';

/** Resolves once a response is over: finished and handed back, or its socket gone. */
export function responseClosed(response: ServerResponse): Promise<void> {
  if (response.closed || response.destroyed) return Promise.resolve();
  return new Promise((resolve) => response.once('close', () => resolve()));
}
