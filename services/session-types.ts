import type { PublicUser } from './accounts.js';

// What the logbook records for one wristband.
declare module 'fastify' {
  interface Session {
    user?: PublicUser;
    /** When the user logged in (ms since epoch): the absolute timeout counts from here. */
    loginAt?: number;
    /** The instance that wrote the session, to make the round robin visible. */
    createdBy?: string;
    /** With the race guard, the store fills it on load from the cart's own key (services/cart/). */
    cart?: string[];
    /** Last idle-timeout refresh (ms since epoch); writing it is what makes the store save the session. */
    refreshedAt?: number;
  }
}
