import type { FastifyReply } from 'fastify';
import type { AppConfig } from '../config.js';
import type { SealedSession } from './card.js';
import type { RevocationList } from './revocation.js';

/**
 * "Log out everywhere" with sealed cards. Without a revocation list it cannot be done, and the
 * answer says so (501) instead of clearing this browser's card and pretending: the server never
 * recorded the other cards, so it cannot refuse them. With the list, the user's generation goes up
 * and every card sealed before is refused; how many there were, nobody knows: they were never listed.
 */
export async function sealedLogoutEverywhere(session: SealedSession, revocation: RevocationList, config: AppConfig, reply: FastifyReply) {
  const id = config.instanceId;
  const { username } = session.user!;
  if (revocation.kind === 'none') {
    return reply.code(501).send({
      error: 'not_possible_stateless',
      message:
        'stateless mode keeps no record of the cards it sealed, so it cannot end the others: each one stays valid until its own ' +
        `expiry (${config.sessionTtlSeconds}s idle, ${config.sessionAbsoluteSeconds}s after login). POST /logout clears this ` +
        "browser's copy only. A revocation list (REVOCATION=redis) makes this possible, with a shared store again",
      servedBy: id,
    });
  }
  await revocation.revokeUser(username);
  await session.destroy();
  reply.clearCookie(config.cookieName, { path: '/' });
  return {
    loggedOut: true,
    sessionsEnded: null,
    scope: 'everywhere',
    message: `every card of ${username} sealed before now is on the revocation list every instance checks: all of them are refused (how many there were is unknown: cards are never listed)`,
    servedBy: id,
  };
}
