import {
  Catch,
  HttpStatus,
  Inject,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  SseInvalidDataError,
  SseInvalidEventIdError,
  SseInvalidEventNameError,
  SseInvalidTopicError,
  SseInvalidUserIdError,
  SseMessageTooLargeError,
  SseTooManyTopicsError,
  type SseError,
} from 'nestjs-sse-hub';

/**
 * Turns the library's refusals into HTTP answers, on Express and on Fastify alike: data
 * over `maxMessageBytes` is a 413, a bad id, event name, user id, topic name or data, and a join past `maxTopicsPerUser`,
 * a 400. The library
 * knows nothing of HTTP; this is the application's edge. Other errors stay 500s.
 */
@Catch(
  SseMessageTooLargeError,
  SseInvalidDataError,
  SseInvalidEventIdError,
  SseInvalidEventNameError,
  SseInvalidTopicError,
  SseInvalidUserIdError,
  SseTooManyTopicsError,
)
export class SseErrorFilter implements ExceptionFilter<SseError> {
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  catch(error: SseError, host: ArgumentsHost): void {
    const tooLarge = error instanceof SseMessageTooLargeError;
    const statusCode = tooLarge ? HttpStatus.PAYLOAD_TOO_LARGE : HttpStatus.BAD_REQUEST;
    const body = {
      statusCode,
      message: error.message,
      error: tooLarge ? 'Payload Too Large' : 'Bad Request',
    };
    this.adapterHost.httpAdapter.reply(host.switchToHttp().getResponse(), body, statusCode);
  }
}
