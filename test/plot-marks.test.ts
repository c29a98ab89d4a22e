import { describe, expect, it } from 'vitest';
import { markOf, steadyLoggedOut } from '../proxy/control/plot-marks.js';

describe('the plots’ theory line and marks', () => {
  it('predicts (N-1)/N only for round robin over logbooks per desk', () => {
    expect(steadyLoggedOut('round-robin', 'memory', 3)).toBeCloseTo(2 / 3);
    expect(steadyLoggedOut('round-robin', 'memory', 1)).toBe(0);
    expect(steadyLoggedOut('cookie', 'memory', 3)).toBe(0);
    expect(steadyLoggedOut('ip-hash', 'memory', 4)).toBe(0);
    expect(steadyLoggedOut('round-robin', 'redis', 3)).toBe(0);
    expect(steadyLoggedOut('round-robin', 'memory', 0)).toBeNull();
  });

  it('marks mode switches, desks going down and coming back, and pool changes; not every instance report', () => {
    expect(markOf({ type: 'mode', text: 'now routing cookie' }, 'sticky', 5)).toEqual({ at: 5, kind: 'mode', text: 'sticky' });
    expect(markOf({ type: 'mode', text: 'x' }, null, 5)?.text).toBe('custom mode');
    expect(markOf({ type: 'mode', text: 'x' }, 'redis', 5, true)?.text).toBe('redis: sessions stay in the old store');
    expect(markOf({ type: 'down', id: 'app-2', text: '' }, 'memory', 5)).toEqual({ at: 5, kind: 'crash', text: 'app-2 down' });
    expect(markOf({ type: 'restarted', id: 'app-2', text: '' }, 'memory', 5)?.kind).toBe('back');
    expect(markOf({ type: 'joined', id: 'app-4', text: '' }, 'memory', 5)?.text).toBe('+app-4');
    expect(markOf({ type: 'instance', id: 'app-1' }, 'memory', 5)).toBeNull();
  });
});
