import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { DemoRequest } from './auth.interfaces.js';

/** The signed-in user's id, on routes behind `AuthGuard`. */
export const CurrentUser = createParamDecorator((_: unknown, context: ExecutionContext) => {
  const user = context.switchToHttp().getRequest<DemoRequest>().user;
  if (user === undefined) throw new Error('CurrentUser is only available behind AuthGuard');
  return user.id;
});
