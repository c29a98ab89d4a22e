import type { Session } from 'fastify';

const date = { type: ['string', 'null'], maxLength: 64 } as const;

/** Exactly what POST /login stores (the plugin's cookie, then routes/auth.ts's fields): nothing else can be seeded. */
export const seedSessionSchema = {
  type: 'object',
  required: ['cookie', 'user', 'loginAt', 'createdBy', 'cart'],
  additionalProperties: false,
  properties: {
    cookie: {
      type: 'object',
      additionalProperties: false,
      properties: {
        expires: date,
        originalExpires: date,
        originalMaxAge: { type: ['number', 'null'] },
        // Ajv's strict mode takes a union of more than "T or null" only spelled as anyOf.
        sameSite: { anyOf: [{ type: 'string', maxLength: 16 }, { type: 'boolean' }, { type: 'null' }] },
        secure: { anyOf: [{ type: 'string', maxLength: 16 }, { type: 'boolean' }, { type: 'null' }] },
        path: { type: 'string' },
        httpOnly: { type: 'boolean' },
        domain: { type: ['string', 'null'] },
        partitioned: { type: 'boolean' },
      },
    },
    user: {
      type: 'object',
      required: ['username', 'displayName'],
      additionalProperties: false,
      properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, displayName: { type: 'string', maxLength: 128 } },
    },
    loginAt: { type: 'integer', minimum: 0 },
    refreshedAt: { type: 'integer', minimum: 0 },
    createdBy: { type: 'string', maxLength: 128 },
    cart: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 64 } },
  },
} as const;

/**
 * A seeded session as the store will keep it, or why it cannot be seeded. A loginAt in the
 * future would make the session immune to the absolute timeout, so it is refused; an expiry
 * further away than the idle timeout would keep it longer than any login could, so it is cut
 * back to the idle timeout.
 */
export function seededSession(session: Session, ttlSeconds: number, now = Date.now()): Session | string {
  if ((session.loginAt ?? 0) > now) return 'session.loginAt is in the future: a seeded login must already have happened';
  if ((session.refreshedAt ?? 0) > now) return 'session.refreshedAt is in the future';
  const latest = now + ttlSeconds * 1000;
  const cookie = { ...(session.cookie as unknown as Record<string, unknown>) };
  for (const field of ['expires', 'originalExpires']) {
    const value = cookie[field];
    if (typeof value !== 'string') continue;
    const at = new Date(value).getTime();
    if (!Number.isFinite(at)) return `session.cookie.${field} is not a date`;
    if (at > latest) cookie[field] = new Date(latest).toISOString();
  }
  return { ...session, cookie } as unknown as Session;
}
