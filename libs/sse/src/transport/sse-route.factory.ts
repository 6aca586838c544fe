import {
  Controller,
  Get,
  Inject,
  Req,
  Res,
  ServiceUnavailableException,
  Sse,
  type MessageEvent,
  type Type,
} from '@nestjs/common';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Observable } from 'rxjs';
import { SseHub } from '../hub/sse-hub.js';
import type { SseRequestLike } from '../interfaces/sse-module-options.interface.js';
import { SSE_RESOLVED_OPTIONS } from '../sse.internal-constants.js';
import type { SseResolvedOptions } from '../sse.options.js';
import { openDirectStream } from './direct-sse.transport.js';
import { openObservableStream } from './observable-sse.transport.js';
import { resolveRequestUser } from './sse-user.resolver.js';

/** Express's request, or Fastify's with the Node request as `raw`. */
type PlatformRequest = SseRequestLike & { raw?: IncomingMessage };

/** Express's response, or Fastify's reply with the Node response as `raw`. */
type PlatformResponse = {
  raw?: ServerResponse;
  hijack?: () => void;
  getHeaders?: () => OutgoingHttpHeaders;
};

function nodeRequest(request: PlatformRequest): IncomingMessage {
  return request.raw ?? (request as unknown as IncomingMessage);
}

function lastEventIdOf(request: PlatformRequest): string | undefined {
  const value = request.headers['last-event-id'];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Takes the Node response out of the framework's hands. Fastify is told that the reply is
 * written by hand (`hijack`), keeping the headers already set on the reply.
 */
function nodeResponse(response: PlatformResponse): ServerResponse {
  if (typeof response.hijack === 'function' && response.raw !== undefined) {
    const headers = response.getHeaders?.() ?? {};
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) response.raw.setHeader(name, value);
    }
    response.hijack();
    return response.raw;
  }
  return response as unknown as ServerResponse;
}

/** What Express leaves on a request and its response for the rest of its routing. */
const ROUTING_FIELDS = ['next', '_parsedUrl', '_parsedOriginalUrl', 'query', 'params', 'body'];

/**
 * Lets go of the framework's routing state once the stream owns the response: nothing
 * routes this request any more, and an open stream would otherwise keep it (Express's
 * `req.next` holds its whole routing closure) for as long as it lasts. Fields are set to
 * `undefined` rather than deleted, which keeps the objects' shapes.
 */
function releaseRoutingState(request: object, response: object): void {
  for (const field of ROUTING_FIELDS) release(request, field);
  release(response, 'locals');
}

/** Clears an object's own data property, if it has one that can be written. */
function release(target: object, field: string): void {
  if (Object.getOwnPropertyDescriptor(target, field)?.writable === true) {
    (target as Record<string, unknown>)[field] = undefined;
  }
}

/**
 * The ready route at `path`: a controller made for the module's options, with the
 * transport they name. Both answer 401 without a user and 503 while shutting down.
 */
export function createSseController(path: string, transport: 'direct' | 'observable'): Type {
  if (transport === 'observable') {
    @Controller()
    class SseObservableController {
      constructor(
        @Inject(SseHub) private readonly hub: SseHub,
        @Inject(SSE_RESOLVED_OPTIONS) private readonly options: SseResolvedOptions,
      ) {
        // The options may come from an async factory: the route's queue bound is set here,
        // once they are known and before NestJS reads it to register the route.
        const prototype = SseObservableController.prototype;
        const descriptor = Object.getOwnPropertyDescriptor(prototype, 'stream')!;
        Sse(path, { maxPendingDataLength: options.maxPendingBytes })(
          prototype,
          'stream',
          descriptor,
        );
      }

      @Sse(path)
      async stream(
        @Req() request: PlatformRequest,
        @Res({ passthrough: true }) response: PlatformResponse,
      ): Promise<Observable<MessageEvent>> {
        if (this.hub.isClosing) throw new ServiceUnavailableException('Shutting down.');
        const userId = await resolveRequestUser(this.options, request);
        const socket = nodeRequest(request).socket;
        // NestJS drops a client whose queue passes maxPendingDataLength by destroying its
        // response; a backed-up socket at that moment tells it from a client that left.
        return openObservableStream(
          this.hub,
          userId,
          lastEventIdOf(request),
          () => socket.writableLength > 0,
          response.raw ?? (response as unknown as ServerResponse),
        );
      }
    }
    return SseObservableController;
  }

  @Controller()
  class SseDirectController {
    constructor(
      @Inject(SseHub) private readonly hub: SseHub,
      @Inject(SSE_RESOLVED_OPTIONS) private readonly options: SseResolvedOptions,
    ) {}

    @Get(path)
    async stream(
      @Req() request: PlatformRequest,
      @Res() response: PlatformResponse,
    ): Promise<void> {
      if (this.hub.isClosing) throw new ServiceUnavailableException('Shutting down.');
      const userId = await resolveRequestUser(this.options, request);
      const opened = openDirectStream(
        this.hub,
        this.options.maxPendingBytes,
        userId,
        lastEventIdOf(request),
        nodeRequest(request),
        nodeResponse(response),
      );
      if (opened !== undefined) releaseRoutingState(request, response);
    }
  }
  return SseDirectController;
}
