/* global document, fetch */
// "Be a user": a page of the public balancer port that calls the lesson API the way any web page
// would. fetch() to the same origin sends and stores the session cookie like a browser navigation.

// The lab's demo accounts (services/accounts.json): public on purpose, for the workshop.
const PASSWORDS = { testuser: 'testpass', ravi: 'gold-member', alice: 'wonderland', bob: 'builder' };

const $ = (id) => document.getElementById(id);
let checks = 0;
let loggedIn = 0;
let loggedOut = 0;
/** A login since the last logout: the browser holds a wristband (the page cannot read the HttpOnly cookie itself). */
let holding = false;

function add(kind, door, text) {
  const li = document.createElement('li');
  li.className = kind;
  const where = document.createElement('span');
  where.className = 'door';
  where.textContent = door ?? 'balancer';
  li.append(where, document.createTextNode(text));
  $('checks').prepend(li);
  while ($('checks').children.length > 30) $('checks').lastElementChild.remove();
}

function tally() {
  $('tally').textContent = `${checks} check${checks === 1 ? '' : 's'}: ${loggedIn} logged in, ${loggedOut} logged out`;
}

async function send(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const json = await response.json().catch(() => ({}));
  return { status: response.status, servedBy: response.headers.get('x-served-by'), json };
}

function failed(err) {
  add('err', null, `no answer: ${err.message}`);
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const username = $('account').value;
  send('POST', '/login', { username, password: PASSWORDS[username] }).then(({ status, servedBy, json }) => {
    if (status === 200) {
      holding = true;
      add('info', servedBy, `logged in as ${json.user.displayName}: wristband issued, written in ${servedBy}'s logbook`);
    }
    else add('err', servedBy, `login answered ${status}: ${json.message ?? ''}`);
  }, failed);
});

$('logout').addEventListener('click', () => {
  send('POST', '/logout').then(({ servedBy, json }) => {
    // The page cannot read the HttpOnly cookie; it knows whether it logged in since the last logout.
    if (json.loggedOut) add('info', servedBy, 'logged out: the session is destroyed and the cookie cleared');
    else if (holding)
      add('out', servedBy, `logout reached ${servedBy ?? 'a desk'}, whose logbook did not have your session: this browser dropped its cookie, but the session lives on in the logbook that has it (a copy of the cookie still works there)`);
    else add('info', servedBy, 'logout: you were not logged in');
    holding = false;
  }, failed);
});

$('profile').addEventListener('click', () => {
  send('GET', '/profile').then(({ status, servedBy, json }) => {
    checks++;
    if (status === 200) {
      loggedIn++;
      add('ok', servedBy, `✓ logged in as ${json.displayName} (wristband from ${json.createdBy})`);
    } else if (status === 401) {
      loggedOut++;
      add('out', servedBy, `✗ LOGGED OUT: ${json.message ?? json.reason ?? 'not logged in'}`);
    } else {
      add('err', servedBy, `⚠ ${status}: ${json.message ?? json.error ?? 'no explanation'}`);
    }
    tally();
  }, failed);
});
