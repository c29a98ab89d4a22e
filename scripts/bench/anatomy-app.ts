import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { ANATOMY_LAYERS, type AnatomyLayer } from './anatomy-layers.js';

// The anatomy rows' stand-ins for an instance, one layer at a time, each answering GET /profile
// with the lab's JSON body: `bare` (Fastify alone), `cookie` (+ @fastify/cookie parsing and
// unsigning the wristband), `session` (+ @fastify/session over a plain Map, the smallest store
// there is). Bench-only: it listens on loopback and its /login checks no password.
const layer = process.env.LAYER as AnatomyLayer;
if (!ANATOMY_LAYERS.includes(layer)) {
  console.error(`anatomy-app: LAYER must be one of ${ANATOMY_LAYERS.join(', ')}`);
  process.exit(78);
}
const secret = process.env.SESSION_SECRET ?? '';
if (secret.length < 32) {
  console.error('anatomy-app: SESSION_SECRET must be at least 32 characters');
  process.exit(78);
}

const user = { username: 'alice', displayName: 'Alice' };
const loginAt = new Date().toISOString();
const body = (servedBy: string) => ({ ...user, loginAt, createdBy: servedBy, cart: [] as string[], servedBy });

const app = Fastify({ logger: false });

if (layer === 'bare') {
  app.get('/profile', async () => body('bare'));
} else if (layer === 'cookie') {
  await app.register(fastifyCookie, { secret });
  app.get('/profile', async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = request.cookies.sid;
    if (!raw || !request.unsignCookie(raw).valid) return reply.code(401).send({ error: 'not_logged_in' });
    return body('cookie');
  });
} else {
  // The store contract at its smallest: the session object itself in a Map, no copy, no expiry.
  const sessions = new Map<string, unknown>();
  const store = {
    get: (id: string, cb: (err: unknown, session?: unknown) => void) => cb(null, sessions.get(id) ?? null),
    set: (id: string, session: unknown, cb: (err?: unknown) => void) => (sessions.set(id, session), cb()),
    destroy: (id: string, cb: (err?: unknown) => void) => (sessions.delete(id), cb()),
  };
  await app.register(fastifyCookie, { secret });
  await app.register(fastifySession, {
    secret,
    cookieName: 'sid',
    store: store as never,
    saveUninitialized: false,
    rolling: false,
    cookie: { secure: false, httpOnly: true, sameSite: 'lax', path: '/', maxAge: 1_800_000 },
  });
  app.post('/login', async (request) => {
    await request.session.regenerate();
    request.session.user = user;
    request.session.loginAt = Date.now();
    request.session.createdBy = 'session';
    request.session.cart = [];
    return { user };
  });
  app.get('/profile', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.session.user) return reply.code(401).send({ error: 'not_logged_in' });
    return body('session');
  });
}

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const { port } = app.server.address() as { port: number };
process.send?.({ type: 'ready', instance: `anatomy-${layer}`, port });
process.once('disconnect', () => void app.close());
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
