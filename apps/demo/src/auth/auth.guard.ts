import {
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { DemoRequest } from './auth.interfaces.js';
import { AuthService } from './auth.service.js';

/** Lets signed-in users through (401 otherwise) and puts the user on `request.user`. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(@Inject(AuthService) private readonly auth: AuthService) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<DemoRequest>();
    const id = this.auth.userOf(request);
    if (id === undefined) {
      throw new UnauthorizedException('Sign in first: POST /auth/login {"userId":"alice"}.');
    }
    request.user = { id };
    return true;
  }
}
