import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SseModuleOptions, SseTransport } from './interfaces/sse-module-options.interface.js';
import { SSE_ROUTE } from './sse.internal-constants.js';
import { resolveSseRoute } from './sse.options.js';
import { createSseController } from './transport/sse-route.factory.js';

/** Settings of `forRoot` and `forRootAsync` that shape the module itself. */
export interface SseModuleExtras {
  /** Registers the module globally, so that any module can inject `SseService`. */
  isGlobal?: boolean;
  /**
   * See `SseModuleOptions.path`. Routes are registered before an async factory runs, so
   * with `forRootAsync` it is given here, beside `useFactory`.
   */
  path?: string | null;
  /** See `SseModuleOptions.transport`; with `forRootAsync`, given here. */
  transport?: SseTransport;
}

export const {
  ConfigurableModuleClass: SseConfigurableModule,
  MODULE_OPTIONS_TOKEN: SSE_MODULE_OPTIONS,
  OPTIONS_TYPE: SSE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: SSE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SseModuleOptions>({ moduleName: 'Sse' })
  .setClassMethodName('forRoot')
  .setExtras<SseModuleExtras>(
    { isGlobal: false, path: undefined, transport: undefined },
    (definition, extras) => {
      const route = resolveSseRoute(extras.path, extras.transport);
      return {
        ...definition,
        global: extras.isGlobal === true,
        controllers: route.path === null ? [] : [createSseController(route.path, route.transport)],
        providers: [...(definition.providers ?? []), { provide: SSE_ROUTE, useValue: route }],
      };
    },
  )
  .build();
