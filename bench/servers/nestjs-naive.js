/**
 * What a developer writes by hand with NestJS alone: an `@Sse()` route returning the
 * user's rxjs Subject, one Subject per user, events sent as `MessageEvent` objects.
 * Plain JavaScript: the decorators are applied as the TypeScript compiler would.
 */
import 'reflect-metadata';
import { Controller, Inject, Injectable, Module, Req, Sse } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { finalize, Subject } from 'rxjs';
import { requestUser, serve } from './harness.js';

class UserEvents {
  subjects = new Map();

  streamFor(userId) {
    let subject = this.subjects.get(userId);
    if (subject === undefined) this.subjects.set(userId, (subject = new Subject()));
    return subject.asObservable().pipe(
      finalize(() => {
        if (!subject.observed) this.subjects.delete(userId);
      }),
    );
  }

  send(userId, data) {
    this.subjects.get(userId)?.next({ data });
  }

  broadcast(data) {
    for (const subject of this.subjects.values()) subject.next({ data });
  }
}
Injectable()(UserEvents);

class EventsController {
  constructor(events) {
    this.events = events;
  }

  stream(request) {
    return this.events.streamFor(requestUser(request));
  }
}
Inject(UserEvents)(EventsController, undefined, 0);
Req()(EventsController.prototype, 'stream', 0);
Reflect.decorate(
  [Sse('sse')],
  EventsController.prototype,
  'stream',
  Object.getOwnPropertyDescriptor(EventsController.prototype, 'stream'),
);
Controller()(EventsController);

class AppModule {}
Module({ controllers: [EventsController], providers: [UserEvents] })(AppModule);

await serve('nestjs-naive', async () => {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const events = app.get(UserEvents);
  return {
    port: app.getHttpServer().address().port,
    broadcast: (data) => events.broadcast(data),
    unicast: (userId, data) => events.send(userId, data),
    connections: () => events.subjects.size,
    close: () => app.close(),
  };
});
