import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { PublicUser } from '../accounts.js';
import type { LoggedOutReason } from '../routes/require-login.js';
import type { RevocationList } from './revocation.js';

/**
 * What @fastify/secure-session hands us for one request: the card's fields, readable and writable.
 * (Its own type declarations are not imported: they claim `request.session`, which here belongs to
 * @fastify/session. The card lives on `request.card` instead.)
 */
export interface SecureSessionData {
  changed: boolean;
  deleted: boolean;
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(): void;
  touch(): void;
  regenerate(keep?: string[]): void;
}

/** Why a card does not log anyone in, in the words of the 401. */
export type CardRefusal = { reason: LoggedOutReason; message: string };

export interface CardRules {
  revocation: RevocationList;
  idleSeconds: number;
  absoluteSeconds: number;
}

/**
 * The sealed card seen through the session API the lesson's routes already use (user, loginAt,
 * cart, regenerate, destroy, touch), so login, profile, cart and logout run unchanged in
 * stateless mode. Every field lives in the cookie: there is no logbook to look it up in.
 */
export class SealedSession {
  /** A new card (login): its generation is read from the revocation list before it is sealed. */
  fresh = false;

  private constructor(
    private readonly request: FastifyRequest,
    private readonly card: SecureSessionData,
    private readonly rules: CardRules,
    /** Set when the cookie carried no usable card: why. */
    readonly refusal: CardRefusal | null,
  ) {}

  /**
   * Opens the card the request carries, or says why it cannot be used. `card` is what
   * secure-session decoded: empty when the cookie was missing, tampered with, truncated or sealed
   * with a key no longer configured (it cannot tell which, and neither can anyone without the key).
   */
  static async open(request: FastifyRequest, raw: string | undefined, card: SecureSessionData, empty: () => SecureSessionData, rules: CardRules): Promise<SealedSession> {
    const refuse = (refusal: CardRefusal) => new SealedSession(request, empty(), rules, refusal);
    if (!raw) return refuse({ reason: 'no_cookie', message: 'no session cookie: log in first (POST /login)' });
    const id = card.get('id');
    if (typeof id !== 'string') {
      if (raw.startsWith('s:')) {
        return refuse({
          reason: 'unknown_session',
          message: 'this cookie is a wristband from a mode with a logbook, not a sealed card: the logbook is gone in stateless mode; log in again',
        });
      }
      return refuse({
        reason: 'bad_signature',
        message:
          'the sealed session card cannot be opened: tampered with, truncated, or sealed with a key this lab no longer has (a retired key); log in again',
      });
    }
    const sealedAt = Number(card.get('__ts')) * 1000;
    if (!(Date.now() - sealedAt <= rules.idleSeconds * 1000)) {
      return refuse({ reason: 'expired', message: `this card was last used more than ${rules.idleSeconds}s ago (idle timeout): log in again` });
    }
    const user = card.get('user') as PublicUser | undefined;
    if (user) {
      const revoked = await rules.revocation.refuses(id, user.username, Number(card.get('generation') ?? 0));
      if (revoked) {
        return refuse({
          reason: 'revoked',
          message:
            revoked === 'logged_out'
              ? 'this card was logged out: it is on the revocation list every instance checks'
              : 'every card of this user sealed before their last "log out everywhere" is on the revocation list',
        });
      }
    }
    return new SealedSession(request, card, rules, null);
  }

  /** The underlying card, for sealing it into the cookie. */
  get sealed(): SecureSessionData {
    return this.card;
  }

  get id(): string | undefined {
    return this.card.get('id') as string | undefined;
  }

  get user(): PublicUser | undefined {
    return this.card.get('user') as PublicUser | undefined;
  }
  set user(value: PublicUser | undefined) {
    this.card.set('user', value);
  }

  get loginAt(): number | undefined {
    return this.card.get('loginAt') as number | undefined;
  }
  set loginAt(value: number | undefined) {
    this.card.set('loginAt', value);
  }

  get createdBy(): string | undefined {
    return this.card.get('createdBy') as string | undefined;
  }
  set createdBy(value: string | undefined) {
    this.card.set('createdBy', value);
  }

  get cart(): string[] | undefined {
    return this.card.get('cart') as string[] | undefined;
  }
  set cart(value: string[] | undefined) {
    this.card.set('cart', value);
  }

  get refreshedAt(): number | undefined {
    return this.card.get('refreshedAt') as number | undefined;
  }
  set refreshedAt(value: number | undefined) {
    this.card.set('refreshedAt', value);
  }

  /** A new card of a logged-in user, whose generation has not been read yet. */
  get needsGeneration(): boolean {
    return this.fresh && this.user !== undefined && this.card.get('generation') === undefined;
  }

  /** Reads the user's generation from the revocation list into a new card, before it is sealed. */
  async readGeneration(): Promise<void> {
    if (this.needsGeneration) this.card.set('generation', await this.rules.revocation.generation(this.user!.username));
  }

  /** The idle expiry, where the routes' keep-alive looks for it on a @fastify/session session. */
  get cookie(): { originalExpires: Date } {
    return { originalExpires: new Date((Number(this.card.get('__ts')) + this.rules.idleSeconds) * 1000) };
  }

  touch(): void {
    this.card.touch();
  }

  /** A new card with a new id: a card copied before login never becomes a logged-in one. */
  async regenerate(): Promise<void> {
    this.card.regenerate();
    this.card.set('id', randomBytes(16).toString('base64url'));
    this.fresh = true;
  }

  /**
   * Logout. The browser's copy is cleared; any other copy keeps working unless the revocation
   * list records this card, until the card's absolute timeout (after which no copy works anyway).
   */
  async destroy(): Promise<void> {
    const { id, loginAt } = this;
    if (id && loginAt !== undefined) await this.rules.revocation.revoke(id, loginAt + this.rules.absoluteSeconds * 1000);
    this.card.delete();
    // As @fastify/session does on destroy: nothing is logged in for the rest of this request.
    (this.request as { session: unknown }).session = null;
  }
}
