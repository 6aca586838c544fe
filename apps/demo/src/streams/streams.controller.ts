import { Controller, Delete, Get, Inject, UseFilters, UseGuards } from '@nestjs/common';
import { SseService } from 'nestjs-sse-hub';
import { AuthGuard } from '../auth/auth.guard.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { SseErrorFilter } from '../sse-error.filter.js';

/**
 * Manages streams beside the library's ready route, `GET /sse`, which the `SseModule`
 * registers itself.
 */
@Controller('sse')
@UseGuards(AuthGuard)
@UseFilters(SseErrorFilter)
export class StreamsController {
  constructor(@Inject(SseService) private readonly sse: SseService) {}

  /**
   * `DELETE /sse`: ends every stream of the caller, on every instance, with `sse:close`,
   * so that their pages stop reconnecting.
   */
  @Delete()
  async disconnect(@CurrentUser() userId: string): Promise<{ disconnected: boolean }> {
    return { disconnected: await this.sse.disconnect(userId) };
  }

  /** `GET /sse/online`: users with an open stream, on every instance, sorted. */
  @Get('online')
  async online(): Promise<{ users: string[] }> {
    const users = await this.sse.onlineUsers();
    return { users: users.sort() };
  }
}
