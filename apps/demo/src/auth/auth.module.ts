import { Module, type DynamicModule } from '@nestjs/common';
import { AUTH_OPTIONS } from './auth.constants.js';
import { AuthController } from './auth.controller.js';
import { AuthGuard } from './auth.guard.js';
import type { AuthOptions } from './auth.interfaces.js';
import { AuthService } from './auth.service.js';

/** The demo's sign-in: `POST /auth/login`, `AuthService` and `AuthGuard`. */
@Module({})
export class AuthModule {
  /** The module with its signing key and token lifetime. */
  static register(options: AuthOptions): DynamicModule {
    return {
      module: AuthModule,
      controllers: [AuthController],
      providers: [{ provide: AUTH_OPTIONS, useValue: options }, AuthService, AuthGuard],
      exports: [AuthService, AuthGuard],
    };
  }
}
