/**
 * The health check of `nestjs-sse-hub` for `@nestjs/terminus` (an optional peer, loaded
 * only by this entry): `SseHealthIndicator`, up while the broker answers. See
 * docs/operations.md.
 *
 * @packageDocumentation
 */
export { SseHealthIndicator } from './health/sse-health.indicator.js';
export type { SseHealthDetails } from './health/sse-health.indicator.js';
