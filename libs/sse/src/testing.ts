/**
 * The testing kit of `nestjs-sse-hub`: `SseTestingModule` gives an application's own unit
 * tests a real `SseService` over a broker that records what was sent, and `SseRecorder` to
 * assert on it, without a server. See docs/testing.md.
 *
 * @example
 * ```ts
 * import { Test } from '@nestjs/testing';
 * import { SseRecorder, SseTestingModule } from 'nestjs-sse-hub/testing';
 *
 * const moduleRef = await Test.createTestingModule({
 *   imports: [SseTestingModule.forRoot()],
 *   providers: [OrdersService],
 * }).compile();
 * await moduleRef.init();
 * await moduleRef.get(OrdersService).ship({ id: '7', userId: 'alice' });
 * expect(moduleRef.get(SseRecorder).sentTo('alice')).toHaveLength(1);
 * ```
 *
 * @packageDocumentation
 */
export { SseTestingModule } from './testing/sse-testing.module.js';
export type { SseTestingModuleOptions } from './testing/sse-testing.module.js';
export { SseRecorder } from './testing/sse-recorder.js';
export type { SseSentEvent } from './testing/sse-recorder.js';
