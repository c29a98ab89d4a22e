/** Typed errors, mapped to HTTP status in one place (services/app.ts, the error handler). */

/** Start-up configuration is wrong; the message says which variable to change. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The session store could not answer (Redis down, paused or too slow).
 * It must surface as 503, never as "no session": the session plugin would then
 * treat the user as anonymous and the user would be logged out for good.
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  readonly statusCode = 503;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
