import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { PoolBackend } from '../balancer/index.js';
import type { RaceView } from '../clients/admin-client.js';
import { naivePrediction, raceCart, raceLogout, RaceError } from '../clients/race-probe.js';
import type { ControlContext } from './context.js';
import type { LabChange } from './state.js';

/** The dashboard's race: one demo account, writers held by the lab's slow request. */
const RACE = { username: 'bob', password: 'builder', writers: 10, delayMs: 1000 };

/**
 * The race lab's room in the control plane: the guard switch (every instance follows the
 * lab's setting, a restarted one too) and "race a logout" / "race the cart" with their counters.
 */
export function raceRoutes(app: FastifyInstance, lab: ControlContext): void {
  const view: RaceView = { raceGuard: true, races: 0, lostUpdates: 0, resurrected: 0, last: null };
  let running = false;

  async function push(backends: readonly PoolBackend[], on: boolean): Promise<{ id: string; error: string }[]> {
    if (!lab.control) return backends.map((b) => ({ id: b.id, error: 'the balancer has no CONTROL_TOKEN' }));
    const results = await Promise.all(
      backends.map((b) => lab.control!.setRaceGuard(b.url, on).then(() => null, (err: Error) => ({ id: b.id, error: err.message }))),
    );
    return results.filter((r): r is { id: string; error: string } => r !== null);
  }

  // An instance that (re)joins the rotation, or restarted between two health checks, starts
  // guarded (its default): give it the lab's setting.
  const onUp = (backend: PoolBackend) => {
    if (!view.raceGuard) void push([backend], false);
  };
  const onChange = (change: LabChange) => {
    const backend = change.type === 'restarted' ? lab.balancer.backends.find((b) => b.id === change.id) : undefined;
    if (backend) onUp(backend);
  };
  lab.balancer.pool.on('up', onUp);
  lab.state.on('change', onChange);
  app.addHook('onClose', async () => {
    lab.balancer.pool.off('up', onUp);
    lab.state.off('change', onChange);
  });

  app.get('/api/race', async () => view);

  app.put(
    '/api/race-guard',
    {
      onRequest: lab.authorize,
      schema: { body: { type: 'object', required: ['on'], additionalProperties: false, properties: { on: { type: 'boolean' } } } },
    },
    async (request, reply) => {
      const { on } = request.body as { on: boolean };
      // The instances in the rotation now; one that comes up later gets the setting then (onUp).
      const live = lab.balancer.backends.filter((b) => b.healthy);
      const refused = await push(live, on);
      if (refused.length > 0) {
        await push(live, view.raceGuard);
        return reply.code(409).send({ error: 'race_guard_refused', message: refused.map((r) => `${r.id}: ${r.error}`).join('; '), ...view });
      }
      view.raceGuard = on;
      lab.monitor.note(on ? 'race guard ON: no lost updates, no logout undone' : 'race guard OFF: the stores read, change and write back whole sessions');
      return view;
    },
  );

  app.post(
    '/api/race',
    {
      onRequest: lab.authorize,
      schema: { body: { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { type: 'string', enum: ['cart', 'logout'] } } } },
    },
    async (request, reply) => {
      const { kind } = request.body as { kind: 'cart' | 'logout' };
      if (running) return reply.code(409).send({ error: 'race_running', message: 'a race is already running: wait for its result', ...view });
      running = true;
      const url = `http://127.0.0.1:${(lab.balancer.server.address() as AddressInfo).port}`;
      // The logout goes once every writer holds the session, as the instances count them.
      const held = async () => {
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          const counts = await Promise.all(lab.balancer.backends.map((b) => lab.control?.health(b.url).then((h) => h.holding, () => 0) ?? 0));
          if (counts.reduce((sum, n) => sum + n, 0) >= RACE.writers) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        throw new RaceError(
          `the ${RACE.writers} slow cart adds did not all hold the session within 10 s (in memory mode with round robin most find no session: race in sticky or redis mode)`,
        );
      };
      const predicted = naivePrediction(RACE.writers);
      try {
        if (kind === 'cart') {
          const r = await raceCart({ url, ...RACE, held });
          view.lostUpdates += r.lost;
          view.last = { kind, text: `${r.writers} concurrent cart adds kept ${r.kept}: ${r.lost} lost (naive read-modify-write predicts ${predicted.lost} lost)` };
        } else {
          const r = await raceLogout({ url, ...RACE, held });
          if (r.resurrected) view.resurrected++;
          view.last = {
            kind,
            text: r.resurrected
              ? `logout undone: a slow request wrote the session back, the old cookie works again (${r.refused} of ${r.writers} writers refused)`
              : `logout held: the old cookie gets 401 (${r.refused} of ${r.writers} slow writers refused)`,
          };
        }
        view.races++;
        lab.monitor.note(`race: ${view.last.text}`);
        return { ...view, message: view.last.text };
      } catch (err) {
        if (!(err instanceof RaceError)) throw err;
        return reply.code(409).send({ error: 'race_failed', message: err.message, ...view });
      } finally {
        running = false;
      }
    },
  );
}
