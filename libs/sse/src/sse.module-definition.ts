import {
  ConfigurableModuleBuilder,
  type CanActivate,
  type ConfigurableModuleAsyncOptions,
  type NestInterceptor,
  type Type,
} from '@nestjs/common';
import type { SseModuleOptions, SseTransport } from './interfaces/sse-module-options.interface.js';
import { SSE_ROUTE } from './sse.internal-constants.js';
import { resolveSseRoute } from './sse.options.js';
import { createSseController } from './transport/sse-route.factory.js';

/**
 * Settings of `forRoot` and `forRootAsync` that shape the module itself. Routes are
 * registered before an async factory runs, so these are given beside `useFactory`, never
 * from it.
 */
export interface SseModuleExtras {
  /** Registers the module globally, so that any module can inject `SseService`. */
  isGlobal?: boolean;
  /**
   * Path of the ready `GET` route the module registers; `null` registers none, for apps
   * that write their own `@Sse()` handler over `SseService.stream()`.
   * @default 'sse'
   */
  path?: string | null;
  /**
   * How the ready route writes events.
   * @default 'direct'
   */
  transport?: SseTransport;
  /**
   * Guards of the ready route, as `@UseGuards()` takes them: classes (made by NestJS, with
   * their dependencies from this module's context: give their modules in `imports` of
   * `forRootAsync`, or make them global) or instances. They run after global guards.
   * @default []
   */
  guards?: Array<Type<CanActivate> | CanActivate>;
  /**
   * Interceptors of the ready route, as `@UseInterceptors()` takes them. With the
   * `'observable'` transport they see the stream's events; with `'direct'` only the request.
   * @default []
   */
  interceptors?: Array<Type<NestInterceptor> | NestInterceptor>;
}

export const {
  ConfigurableModuleClass: SseConfigurableModule,
  MODULE_OPTIONS_TOKEN: SSE_MODULE_OPTIONS,
  OPTIONS_TYPE: SSE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: SSE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SseModuleOptions>({ moduleName: 'Sse' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createSseOptions')
  .setExtras<SseModuleExtras>(
    {
      isGlobal: false,
      path: undefined,
      transport: undefined,
      guards: undefined,
      interceptors: undefined,
    },
    (definition, extras) => {
      const route = resolveSseRoute(extras.path, extras.transport);
      const controllers =
        route.path === null
          ? []
          : [
              createSseController(route.path, route.transport, {
                guards: extras.guards,
                interceptors: extras.interceptors,
              }),
            ];
      return {
        ...definition,
        global: extras.isGlobal === true,
        controllers,
        providers: [...(definition.providers ?? []), { provide: SSE_ROUTE, useValue: route }],
      };
    },
  )
  .build();

/**
 * What `SseModule.forRootAsync()` takes: `useFactory` with `inject` and `imports`,
 * `useClass` or `useExisting` of an `SseOptionsFactory`, and the extras.
 */
export type SseModuleAsyncOptions = ConfigurableModuleAsyncOptions<
  SseModuleOptions,
  'createSseOptions'
> &
  Partial<SseModuleExtras>;
