import { RedisConnection, type RedisConnectionOptions } from '../stores/redis-connection.js';
import type { RevocationKind } from '../vocabulary.js';

/**
 * The list of stolen cards at the door: what a sealed session needs for logout to mean anything.
 * A card carries its own id and the user's generation at login. Logout lists the id until the card
 * could no longer be used anyway (its absolute timeout); log out everywhere raises the user's
 * generation, which refuses every card sealed before it without knowing how many there are.
 * Both are checked on every request: that is the shared state a stateless session set out to avoid.
 */
export interface RevocationList {
  readonly kind: RevocationKind;
  /** The generation to seal into a new card of this user. */
  generation(username: string): Promise<number>;
  /** Whether the card was logged out, or sealed before its user's last log out everywhere. */
  refuses(cardId: string, username: string, generation: number): Promise<'logged_out' | 'logged_out_everywhere' | null>;
  /** Lists the card until `untilMs` (ms since epoch), after which it expires on its own. */
  revoke(cardId: string, untilMs: number): Promise<void>;
  /** Refuses every card of the user sealed until now. */
  revokeUser(username: string): Promise<void>;
  ping(): Promise<boolean>;
  whenReady(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Pure stateless: nothing is recorded, so nothing is refused. A copied card lives until it expires. */
export const NO_REVOCATION: RevocationList = {
  kind: 'none',
  generation: async () => 0,
  refuses: async () => null,
  revoke: async () => undefined,
  revokeUser: async () => {
    throw new Error('no revocation list: log out everywhere is impossible without one');
  },
  ping: async () => true,
  whenReady: async () => true,
  close: async () => undefined,
};

export class RedisRevocationList implements RevocationList {
  readonly kind = 'redis';
  private readonly connection: RedisConnection;

  constructor(
    options: RedisConnectionOptions,
    private readonly prefix: string,
    /** How long a card can live at most: a generation must be remembered at least that long. */
    private readonly cardLifetimeMs: number,
  ) {
    this.connection = new RedisConnection(options);
  }

  private revokedKey(cardId: string): string {
    return `${this.prefix}revoked:${cardId}`;
  }

  private generationKey(username: string): string {
    return `${this.prefix}generation:${username}`;
  }

  async generation(username: string): Promise<number> {
    const key = this.generationKey(username);
    // Every login extends the generation's life to the new card's: if it expired while cards
    // sealed after a raise still lived, it would restart at 0 and the next raise would miss them.
    const [value] = await this.connection.transaction(this.connection.client.multi().incrby(key, 0).pexpire(key, this.cardLifetimeMs));
    return Number(value);
  }

  async refuses(cardId: string, username: string, generation: number): Promise<'logged_out' | 'logged_out_everywhere' | null> {
    // One round trip for both checks, on every request.
    const [revoked, current] = await this.connection.run(this.connection.client.mget(this.revokedKey(cardId), this.generationKey(username)));
    if (revoked !== null && revoked !== undefined) return 'logged_out';
    if (current !== null && current !== undefined && Number(current) > generation) return 'logged_out_everywhere';
    return null;
  }

  async revoke(cardId: string, untilMs: number): Promise<void> {
    const ttl = Math.ceil(untilMs - Date.now());
    if (ttl <= 0) return;
    await this.connection.run(this.connection.client.set(this.revokedKey(cardId), '1', 'PX', ttl));
  }

  async revokeUser(username: string): Promise<void> {
    const key = this.generationKey(username);
    await this.connection.transaction(this.connection.client.multi().incr(key).pexpire(key, this.cardLifetimeMs));
  }

  ping(): Promise<boolean> {
    return this.connection.ping();
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    return this.connection.whenReady(timeoutMs);
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
