/* global document, sessionStorage, fetch, setInterval */
// The Sentinel block: which node is primary, how far behind each replica is, and a button that
// kills the primary. Self-contained: it reads GET /api/state once a second and stays hidden
// unless the lab reaches Redis through Sentinel. Text is set with textContent, never as HTML.

const block = document.getElementById('redis-ha');
const list = document.getElementById('topology-nodes');
const note = document.getElementById('topology-note');
const kill = document.getElementById('topology-kill');

function row(role, address, detail) {
  const item = document.createElement('li');
  const strong = document.createElement('strong');
  strong.textContent = `${role} `;
  item.append(strong, `${address}${detail ? `: ${detail}` : ''}`);
  return item;
}

async function refresh() {
  const state = await fetch('/api/state').then((r) => r.json()).catch(() => null);
  if (!state || state.redisTopology === undefined) return;
  block.hidden = false;
  const topology = state.redisTopology;
  if (!topology || topology.error || !topology.primary) {
    list.replaceChildren(row('primary', 'none known', topology?.error ?? 'waiting for Sentinel'));
    return;
  }
  list.replaceChildren(
    row('primary', topology.primary, `offset ${topology.primaryOffset}`),
    ...topology.replicas.map((r) => row('replica', r.address, `${r.state}, ${r.lagBytes} bytes behind, last ack ${r.lagSeconds} s ago`)),
  );
}

kill.addEventListener('click', async () => {
  kill.disabled = true;
  const token = sessionStorage.getItem('coatcheck-admin-token');
  try {
    const response = await fetch('/api/redis/kill-primary', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: '{}',
    });
    const json = await response.json().catch(() => ({}));
    note.textContent = json.message ?? `HTTP ${response.status}`;
  } finally {
    kill.disabled = false;
  }
});

setInterval(refresh, 1000);
void refresh();
