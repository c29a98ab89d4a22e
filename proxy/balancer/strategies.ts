import type { RoutingKind } from '../../services/vocabulary.js';

/** One app instance as the balancer sees it. */
export interface Backend {
  id: string;
  url: string;
  up: boolean;
}

/** What a strategy may look at: no sockets, so it is unit-tested as a plain function. */
export interface RouteRequest {
  /** The TCP peer address (never X-Forwarded-For, which the client can write). */
  clientIp: string;
  /** The balancer's own affinity cookie, when the client sent one. */
  affinity: string | undefined;
}

export interface RouteDecision {
  backend: Backend;
  /** Sticky routing: tell the client (again) which instance it is pinned to. */
  setAffinity: boolean;
}

export interface Strategy {
  readonly kind: RoutingKind;
  pick(backends: readonly Backend[], request: RouteRequest): RouteDecision | null;
}

/** Each request to the next live instance in turn: the classic default, and the one that breaks memory sessions. */
export function roundRobin(): Strategy {
  let next = 0;
  return {
    kind: 'round-robin',
    pick(backends) {
      const live = backends.filter((b) => b.up);
      if (live.length === 0) return null;
      const backend = live[next++ % live.length]!;
      if (next >= Number.MAX_SAFE_INTEGER) next = 0;
      return { backend, setAffinity: false };
    },
  };
}

/**
 * Cookie affinity, as HAProxy's `cookie SERVERID insert`: the balancer names the
 * instance in a cookie of its own and honours it while that instance is up. A
 * pinned instance that is down loses its users to a live one, and the cookie is re-issued.
 */
export function cookieAffinity(): Strategy {
  const fallback = roundRobin();
  return {
    kind: 'cookie',
    pick(backends, request) {
      const pinned = backends.find((b) => b.id === request.affinity);
      if (pinned?.up) return { backend: pinned, setAffinity: false };
      const decision = fallback.pick(backends, request);
      return decision && { backend: decision.backend, setAffinity: true };
    },
  };
}

/** FNV-1a: tiny, stable across processes and runs, good enough to spread addresses. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * nginx `ip_hash` style: hash of the client address modulo the instance list.
 * Fragile on purpose: add one instance and most addresses map elsewhere; every
 * client behind one NAT lands on one instance. A down instance passes its
 * clients to the next live one in the list.
 */
export function ipHash(): Strategy {
  return {
    kind: 'ip-hash',
    pick(backends, request) {
      if (backends.length === 0) return null;
      const start = fnv1a(request.clientIp) % backends.length;
      for (let i = 0; i < backends.length; i++) {
        const backend = backends[(start + i) % backends.length]!;
        if (backend.up) return { backend, setAffinity: false };
      }
      return null;
    },
  };
}

export function createStrategy(kind: RoutingKind): Strategy {
  switch (kind) {
    case 'round-robin':
      return roundRobin();
    case 'cookie':
      return cookieAffinity();
    case 'ip-hash':
      return ipHash();
    case 'consistent-hash':
      return consistentHash();
  }
}

/** murmur3's finaliser: FNV gives similar addresses similar hashes; this spreads them over the ring. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function ringHash(text: string): number {
  return mix32(fnv1a(text));
}

/** Points on a hash ring, sorted, each naming the instance that owns the arc ending there. */
export interface HashRing {
  points: Uint32Array;
  owners: string[];
}

/** Each instance gets `replicas` points, so the arcs even out and one new instance takes about 1/(N+1). */
export function hashRing(ids: readonly string[], replicas = 160): HashRing {
  const entries = ids.flatMap((id) => Array.from({ length: replicas }, (_, r) => ({ point: ringHash(`${id}#${r}`), id })));
  entries.sort((a, b) => a.point - b.point || (a.id < b.id ? -1 : 1));
  return { points: Uint32Array.from(entries, (e) => e.point), owners: entries.map((e) => e.id) };
}

/** The first instance clockwise from the key's point that `accept` allows (default: any), or null. */
export function ringLookup(ring: HashRing, key: string, accept: (id: string) => boolean = () => true): string | null {
  const { points, owners } = ring;
  if (points.length === 0) return null;
  const h = ringHash(key);
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid]! < h) lo = mid + 1;
    else hi = mid;
  }
  for (let i = 0; i < points.length; i++) {
    const id = owners[(lo + i) % points.length]!;
    if (accept(id)) return id;
  }
  return null;
}

/**
 * Consistent hashing of the client address (as HAProxy's `hash-type consistent`):
 * adding an instance moves only the clients on its new arcs, about 1/(N+1) of them,
 * where ip-hash's modulo moves about N/(N+1). A down instance's clients go to the
 * next instance clockwise; everyone else stays put.
 */
export function consistentHash(replicas = 160): Strategy {
  let cached: { key: string; ring: HashRing } | null = null;
  return {
    kind: 'consistent-hash',
    pick(backends, request) {
      if (backends.length === 0) return null;
      const key = backends.map((b) => b.id).join(',');
      if (cached?.key !== key) cached = { key, ring: hashRing(backends.map((b) => b.id), replicas) };
      const byId = new Map(backends.map((b) => [b.id, b]));
      const id = ringLookup(cached.ring, request.clientIp, (candidate) => byId.get(candidate)?.up === true);
      return id === null ? null : { backend: byId.get(id)!, setAffinity: false };
    },
  };
}
