import type { IncomingHttpHeaders } from 'node:http';

/** Settings of the demo's sign-in. */
export interface AuthOptions {
  /** Key of the HMAC-SHA256 signatures. */
  readonly secret: Buffer;
  /** How long a token and its cookie are valid, in seconds. */
  readonly tokenTtlSeconds: number;
}

/** The signed-in user, as the guard puts it on the request. */
export interface DemoUser {
  readonly id: string;
}

/** What the demo reads of a request: Express's and Fastify's requests both fit. */
export interface DemoRequest {
  readonly headers: IncomingHttpHeaders;
  user?: DemoUser;
}

/** What the demo writes to a response besides its body: Express's and Fastify's fit. */
export interface DemoResponse {
  header(name: string, value: string): unknown;
}
