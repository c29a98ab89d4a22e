import { round } from './cpu.js';
import { EXPECTED, type BenchSettings } from './defaults.js';
import { scaleLabel } from './rows.js';

export interface Ratio {
  name: string;
  numerator: string;
  denominator: string;
  /** Successful lookups per second, numerator / denominator (medians of the same run). */
  value: number | null;
  target?: number;
  /** Whether the expected ratio holds; absent for ratios that only inform. */
  holds?: boolean;
}

interface Measured {
  name: string;
  median?: { okRps: number };
}

interface RatioSpec {
  name: string;
  numerator: string;
  denominator: string;
  target?: number;
}

function specs(settings: BenchSettings): RatioSpec[] {
  const small = scaleLabel(Math.min(...settings.scale));
  const large = scaleLabel(Math.max(...settings.scale));
  return [
    { name: 'balancer vs nginx (same instances, shared Redis)', numerator: 'redis', denominator: 'nginx', target: EXPECTED.balancerVsNginx },
    { name: 'HAProxy vs nginx (same instances, shared Redis)', numerator: 'haproxy-redis', denominator: 'nginx', target: EXPECTED.haproxyVsNginx },
    { name: 'balancer vs HAProxy (same instances, shared Redis)', numerator: 'redis', denominator: 'haproxy-redis' },
    { name: 'Redis vs memory lookup, one instance', numerator: 'instance-redis', denominator: 'instance-memory' },
    { name: 'memory vs Redis store, lab instance (anatomy)', numerator: 'anatomy-memory', denominator: 'anatomy-redis', target: EXPECTED.memoryVsRedis },
    { name: `memory store: ${large} vs ${small} sessions stored`, numerator: `memory-${large}`, denominator: `memory-${small}`, target: EXPECTED.largestVsSmallestScale },
    { name: `Redis store: ${large} vs ${small} sessions stored`, numerator: `redis-${large}`, denominator: `redis-${small}`, target: EXPECTED.largestVsSmallestScale },
    { name: 'balancer vs no proxy (one instance direct)', numerator: 'redis', denominator: 'direct' },
    { name: 'nginx vs no proxy (one instance direct)', numerator: 'nginx', denominator: 'direct' },
    { name: 'sticky vs redis mode through the balancer', numerator: 'sticky', denominator: 'redis' },
    { name: 'memory mode: lookups that find the session, vs redis mode', numerator: 'memory', denominator: 'redis' },
    { name: 'stateless (sealed cookie) vs redis mode through the balancer', numerator: 'stateless', denominator: 'redis' },
    { name: 'stateless with vs without the revocation list', numerator: 'stateless-revocation', denominator: 'stateless' },
    { name: 'balancer vs nginx, trivial backend', numerator: 'trivial-balancer', denominator: 'trivial-nginx' },
    { name: 'balancer vs a minimal node:http proxy, trivial backend', numerator: 'trivial-balancer', denominator: 'trivial-node' },
    { name: 'minimal node:http proxy vs nginx, trivial backend', numerator: 'trivial-node', denominator: 'trivial-nginx' },
    { name: 'rolling: true vs false, memory store', numerator: 'instance-memory-rolling', denominator: 'instance-memory' },
    { name: 'rolling: true vs false, Redis store', numerator: 'instance-redis-rolling', denominator: 'instance-redis' },
    { name: 'Redis without vs with auto-pipelining', numerator: 'instance-redis-nopipe', denominator: 'instance-redis' },
    { name: 'race guard on vs off: the lookup (GET /profile), Redis', numerator: 'guard-lookup', denominator: 'naive-lookup' },
    { name: 'race guard on vs off: a cart add (POST /cart), Redis', numerator: 'guard-cart', denominator: 'naive-cart' },
  ];
}

/** The ratios whose two rows were both measured in this run. */
export function ratios(rows: Measured[], settings: BenchSettings): Ratio[] {
  const okRps = (name: string) => rows.find((r) => r.name === name)?.median?.okRps;
  const out: Ratio[] = [];
  for (const spec of specs(settings)) {
    const a = okRps(spec.numerator);
    const b = okRps(spec.denominator);
    if (a === undefined || b === undefined) continue;
    const value = b > 0 ? round(a / b, 2) : null;
    out.push({
      ...spec,
      value,
      ...(spec.target !== undefined && { holds: value !== null && value >= spec.target }),
    });
  }
  return out;
}
