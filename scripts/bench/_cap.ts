import { Stack } from '/work/wt-anatomy/scripts/bench/stack.js';
import { captureMixes } from '/work/wt-anatomy/scripts/bench/redis-capacity.js';
import { cookieMinter } from '/work/wt-anatomy/scripts/bench/sessions.js';
const stack = new Stack();
try {
  const r = await stack.redis('redis');
  const i = await stack.instance('lab', { store: 'redis', redisUrl: r.url });
  const ro = await stack.instance('ro', { store: 'redis', redisUrl: r.url, env: { SESSION_ROLLING: 'true' } });
  const m = cookieMinter(stack.secret);
  const mixes = await captureMixes({ redisUrl: r.url, instanceUrl: i.url, rollingUrl: ro.url, idOf: m.idOf });
  console.log(JSON.stringify(mixes, null, 1).replace(/\\u0000/g, '#'));
} finally { await stack.close(); }
