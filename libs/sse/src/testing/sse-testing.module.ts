import { Module, type DynamicModule } from '@nestjs/common';
import { SseModule } from '../sse.module.js';
import { RecordingSseBroker } from './recording-sse.broker.js';
import { SseRecorder } from './sse-recorder.js';

/**
 * Options of `SseTestingModule.forRoot`: those of `SseModule.forRoot`, but the broker, which
 * is the recording one.
 */
export type SseTestingModuleOptions = Omit<
  NonNullable<Parameters<typeof SseModule.forRoot>[0]>,
  'broker'
>;

/**
 * `SseModule` for an application's own unit tests: a real `SseService` over an in-memory
 * broker that records every event sent, and the `SseRecorder` to read them. Both are global,
 * as `SseModule.forRoot({ isGlobal: true })` would make the service. No route is registered
 * unless `path` is given, since a unit test has no server.
 *
 * @example
 * ```ts
 * const moduleRef = await Test.createTestingModule({
 *   imports: [SseTestingModule.forRoot()],
 *   providers: [OrdersService],
 * }).compile();
 * await moduleRef.init(); // starts the broker
 * const recorder = moduleRef.get(SseRecorder);
 * ```
 */
@Module({})
export class SseTestingModule {
  /** The module, with `SseModule` options other than `broker` (every one optional). */
  static forRoot(options: SseTestingModuleOptions = {}): DynamicModule {
    const recorder = new SseRecorder();
    return {
      module: SseTestingModule,
      global: true,
      imports: [
        SseModule.forRoot({
          path: null,
          isGlobal: true,
          ...options,
          broker: new RecordingSseBroker(recorder),
        }),
      ],
      providers: [{ provide: SseRecorder, useValue: recorder }],
      exports: [SseModule, SseRecorder],
    };
  }
}
