import {
  Controller,
  Get,
  Inject,
  Req,
  Res,
  Sse,
  UseGuards,
  UseInterceptors,
  type CanActivate,
  type MessageEvent,
  type NestInterceptor,
  type Type,
} from '@nestjs/common';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { defer, of, type Observable } from 'rxjs';
import { SseHub } from '../hub/sse-hub.js';
import type { SseRequestLike } from '../interfaces/sse-module-options.interface.js';
import { SSE_RESOLVED_OPTIONS } from '../sse.internal-constants.js';
import type { SseResolvedOptions } from '../sse.options.js';
import { openDirectStream } from './direct-sse.transport.js';
import { boundPending } from './observable-pending.bound.js';
import { openObservableStream } from './observable-sse.transport.js';
import { answerClosing, closingMessage } from './sse-closing.answer.js';
import { resolveRequestTopics } from './sse-topics.request.js';
import { resolveRequestUser } from './sse-user.resolver.js';
import { isPromiseLike } from '../hub/sse-replayer.js';

/** Express's request, or Fastify's with the Node request as `raw`. */
type PlatformRequest = SseRequestLike & { raw?: IncomingMessage };

/** Express's response, or Fastify's reply with the Node response as `raw`. */
type PlatformResponse = {
  raw?: ServerResponse;
  hijack?: () => void;
  getHeaders?: () => OutgoingHttpHeaders;
};

/** What the ready route runs before its handler, as `@UseGuards()`/`@UseInterceptors()`. */
export interface SseRouteEnhancers {
  readonly guards?: ReadonlyArray<Type<CanActivate> | CanActivate>;
  readonly interceptors?: ReadonlyArray<Type<NestInterceptor> | NestInterceptor>;
}

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

/**
 * Express's own routing state, which nothing reads once its route has answered: `req.next`
 * holds the router's whole closure for as long as an open stream lasts (about 1.2 KB a
 * connection), and the parsed-URL caches are made again on demand. What an app reads
 * (`params`, `query`, `body`, `res.locals`) stays, for the interceptors and loggers that run
 * after the handler.
 */
const ROUTING_FIELDS = ['next', '_parsedUrl', '_parsedOriginalUrl'];

function releaseRoutingState(request: object): void {
  for (const field of ROUTING_FIELDS) {
    // `Reflect.set` leaves alone, without throwing, a field an app made read-only.
    if ((request as Record<string, unknown>)[field] !== undefined) {
      Reflect.set(request, field, undefined);
    }
  }
}

/** Applies the module's guards and interceptors to a route class, as the decorators do. */
function enhance(route: Type, enhancers: SseRouteEnhancers): Type {
  if (enhancers.guards !== undefined && enhancers.guards.length > 0) {
    UseGuards(...enhancers.guards)(route);
  }
  if (enhancers.interceptors !== undefined && enhancers.interceptors.length > 0) {
    UseInterceptors(...enhancers.interceptors)(route);
  }
  return route;
}

/**
 * The ready route at `path`: a controller made for the module's options, with the
 * transport they name. Both answer 401 without a user and, while the instance shuts down,
 * a stream that tells the client to retry (never a refusal: EventSource gives up on one).
 */
export function createSseController(
  path: string,
  transport: 'direct' | 'observable',
  enhancers: SseRouteEnhancers = {},
): Type {
  if (transport === 'observable') {
    @Controller()
    class SseObservableController {
      constructor(
        @Inject(SseHub) private readonly hub: SseHub,
        @Inject(SSE_RESOLVED_OPTIONS) private readonly options: SseResolvedOptions,
      ) {}

      @Sse(path)
      async stream(
        @Req() request: PlatformRequest,
        @Res({ passthrough: true }) response: PlatformResponse,
      ): Promise<Observable<MessageEvent>> {
        if (this.hub.isClosing) return of(closingMessage(this.hub.spreadRetry()));
        const userId = await resolveRequestUser(this.options, request);
        const node = nodeRequest(request);
        const topics = await resolveRequestTopics(this.options, request, node, userId);
        const socket = node.socket;
        const raw = response.raw ?? (response as unknown as ServerResponse);
        let slow = false;
        // NestJS drops a client whose queue passes its own bound by destroying the response;
        // a backed-up socket at that moment tells it from a client that left.
        const stream = openObservableStream(
          this.hub,
          userId,
          lastEventIdOf(request),
          () => slow || socket.writableLength > 0,
          raw,
          topics,
        );
        // Shutdown may begin while the user is resolved: the stream opens on subscription.
        return defer(() =>
          this.hub.isClosing ? of(closingMessage(this.hub.spreadRetry())) : stream,
        ).pipe(
          boundPending(socket, node.httpVersionMajor === 1, this.options.maxPendingBytes, () => {
            slow = true;
            raw.destroy();
          }),
        );
      }
    }
    return enhance(SseObservableController, enhancers);
  }

  @Controller()
  class SseDirectController {
    constructor(
      @Inject(SseHub) private readonly hub: SseHub,
      @Inject(SSE_RESOLVED_OPTIONS) private readonly options: SseResolvedOptions,
    ) {}

    @Get(path)
    stream(
      @Req() request: PlatformRequest,
      @Res() response: PlatformResponse,
    ): void | Promise<void> {
      if (this.hub.isClosing) {
        answerClosing(nodeRequest(request), nodeResponse(response), this.hub.spreadRetry());
        return;
      }
      // A `resolveUser` that answers at once, for a stream with no topics, opens the stream
      // in this same turn.
      const userId = resolveRequestUser(this.options, request);
      if (typeof userId === 'string') return this.subscribe(userId, request, response);
      return userId.then((resolved) => this.subscribe(resolved, request, response));
    }

    private subscribe(
      userId: string,
      request: PlatformRequest,
      response: PlatformResponse,
    ): void | Promise<void> {
      const topics = resolveRequestTopics(this.options, request, nodeRequest(request), userId);
      if (!isPromiseLike(topics)) return this.open(userId, topics, request, response);
      return topics.then((resolved) => this.open(userId, resolved, request, response));
    }

    private open(
      userId: string,
      topics: readonly string[],
      request: PlatformRequest,
      response: PlatformResponse,
    ): void {
      // Shutdown may have begun while the user was resolved.
      if (this.hub.isClosing) {
        answerClosing(nodeRequest(request), nodeResponse(response), this.hub.spreadRetry());
        return;
      }
      const opened = openDirectStream(
        this.hub,
        this.options.maxPendingBytes,
        userId,
        lastEventIdOf(request),
        nodeRequest(request),
        nodeResponse(response),
        topics,
      );
      if (opened !== undefined && request.raw === undefined) releaseRoutingState(request);
    }
  }
  return enhance(SseDirectController, enhancers);
}
