import { Body, Controller, HttpCode, Inject, Post, UseFilters, UseGuards } from '@nestjs/common';
import { SseService, type SseSendOptions } from 'nestjs-sse-hub';
import { AuthGuard } from '../auth/auth.guard.js';
import { SseErrorFilter } from '../sse-error.filter.js';
import { parseBroadcastBody, parseSendBody, type BroadcastBody } from './message-body.js';

/** Answer of `POST /messages` and `POST /messages/broadcast`. */
export interface SendAnswer {
  /** The event's id, as clients see it. */
  id: string;
  /** Connections it reached; `0`: nobody online (it is still kept for replay). */
  delivered: number;
}

function sendOptions({ id, event }: BroadcastBody): SseSendOptions {
  return { id, event };
}

/** Sends events through `SseService`, on behalf of a signed-in user. */
@Controller('messages')
@UseGuards(AuthGuard)
@UseFilters(SseErrorFilter)
export class MessagesController {
  constructor(@Inject(SseService) private readonly sse: SseService) {}

  /** `POST /messages {"to","data","event"?,"id"?}`: to every tab of one user. */
  @Post()
  @HttpCode(200)
  async send(@Body() body: unknown): Promise<SendAnswer> {
    const message = parseSendBody(body);
    const { id, delivered } = await this.sse.send(message.to, message.data, sendOptions(message));
    return { id, delivered };
  }

  /** `POST /messages/broadcast {"data","event"?,"id"?}`: to every connected user. */
  @Post('broadcast')
  @HttpCode(200)
  async broadcast(@Body() body: unknown): Promise<SendAnswer> {
    const message = parseBroadcastBody(body);
    const { id, delivered } = await this.sse.broadcast(message.data, sendOptions(message));
    return { id, delivered };
  }
}
