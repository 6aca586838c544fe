import {
  Body,
  Controller,
  ForbiddenException,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { SseService } from 'nestjs-sse-hub';
import { AuthGuard } from '../auth/auth.guard.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { parseBroadcastBody } from '../messages/message-body.js';
import type { SendAnswer } from '../messages/messages.controller.js';
import { SseErrorFilter } from '../sse-error.filter.js';
import { isPublicTopic } from './topic-access.js';

/**
 * Topics (SPEC §7) on behalf of the signed-in user: joining and leaving, who is in one,
 * and posting to one. A bad topic name is the library's `SseInvalidTopicError`, which the
 * `SseErrorFilter` answers with 400; so is a join past `maxTopicsPerUser`.
 */
@Controller('topics')
@UseGuards(AuthGuard)
@UseFilters(SseErrorFilter)
export class TopicsController {
  constructor(@Inject(SseService) private readonly sse: SseService) {}

  /** `GET /topics`: the caller's memberships, sorted. */
  @Get()
  async topics(@CurrentUser() userId: string): Promise<{ topics: string[] }> {
    return { topics: await this.sse.topicsOf(userId) };
  }

  /**
   * `POST /topics/:topic/join`: every stream of the caller, on every instance, gets the
   * topic's events from now on, without reconnecting.
   */
  @Post(':topic/join')
  @HttpCode(200)
  async join(
    @CurrentUser() userId: string,
    @Param('topic') topic: string,
  ): Promise<{ joined: true }> {
    await this.sse.join(userId, topic);
    return { joined: true };
  }

  /** `POST /topics/:topic/leave`: `left` says whether the caller was a member. */
  @Post(':topic/leave')
  @HttpCode(200)
  async leave(
    @CurrentUser() userId: string,
    @Param('topic') topic: string,
  ): Promise<{ left: boolean }> {
    return { left: await this.sse.leave(userId, topic) };
  }

  /** `GET /topics/:topic/members`: its members, online or not, sorted. */
  @Get(':topic/members')
  async members(@Param('topic') topic: string): Promise<{ users: string[] }> {
    return { users: await this.sse.members(topic) };
  }

  /**
   * `POST /topics/:topic/messages {"data","event"?,"id"?}`: to every stream in the topic,
   * members' and subscribers'. Only members post, except to `public:` topics.
   */
  @Post(':topic/messages')
  @HttpCode(200)
  async publish(
    @CurrentUser() userId: string,
    @Param('topic') topic: string,
    @Body() body: unknown,
  ): Promise<SendAnswer> {
    const message = parseBroadcastBody(body);
    if (!isPublicTopic(topic) && !(await this.sse.topicsOf(userId)).includes(topic)) {
      // Not one of the caller's topics: a bad name is still a 400 (the library checks it
      // here), not a 403. Only refusals pay for this call.
      await this.sse.members(topic);
      throw new ForbiddenException(
        `Only members post to ${topic}: POST /topics/${encodeURIComponent(topic)}/join ` +
          'first, or post to a topic whose name starts with public:.',
      );
    }
    const { id, delivered } = await this.sse.publish(topic, message.data, {
      id: message.id,
      event: message.event,
    });
    return { id, delivered };
  }
}
