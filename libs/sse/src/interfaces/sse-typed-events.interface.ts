import type { SseSendOptions } from './sse-service.interface.js';

/**
 * `SseService` without an event map: any data, any event name, `options` optional. An
 * event map is an object type of event names to the type of their data, such as
 * `{ shipped: { orderId: string } }`.
 */
export type SseAnyEvents = Record<string, unknown>;

/** `SseSendOptions` whose `event` names one event of the map. */
export interface SseTypedSendOptions<EventName extends string> extends SseSendOptions {
  /** The event's name: a key of the event map, which says what its data is. */
  event: EventName;
}

/**
 * The arguments after the recipients of `send`, `sendToUsers`, `broadcast` and `publish`:
 * `data` and `options`. Without an event map (a string index, as `SseAnyEvents`), they are
 * as ever (so they are for a map without names); with one, `options.event` is required and names an event of the map, and `data`
 * must be of that event's type.
 *
 * @example
 * ```ts
 * interface ShopEvents {
 *   shipped: { orderId: string };
 * }
 * // sse: SseService<ShopEvents>
 * await sse.send('alice', { orderId: '7' }, { event: 'shipped' }); // compiles
 * await sse.send('alice', { orderId: 7 }, { event: 'shipped' }); // does not
 * ```
 */
export type SseEventArgs<Events extends object> = string extends keyof Events
  ? [data: unknown, options?: SseSendOptions]
  : // No names at all: the service as `app.get(SseService)` infers it, untyped too.
    [keyof Events & string] extends [never]
    ? [data: unknown, options?: SseSendOptions]
    : {
        [EventName in keyof Events & string]: [
          data: Events[EventName],
          options: SseTypedSendOptions<EventName>,
        ];
      }[keyof Events & string];
