// The demo page: one stream on GET /sse through the library's browser client, shared by
// every tab of this browser, and the demo's JSON routes.
//
// Wire rules this page relies on (see docs/client.md):
// - the client resumes with Last-Event-ID on every reconnection, and the server replays
//   what the page missed, once each, in order; the tabs share one connection and each gets
//   every event, also when the tab holding it closes;
// - `sse:gap` means events were lost before the replay: reload what the page shows;
// - `sse:close` means the server closed the stream for good: the client stops (in every
//   tab) and the page offers to reconnect.

import { SseClient } from '/sse-client.js';

const USER_KEY = 'nestjs-sse-hub-demo:user';
const ONLINE_REFRESH_MS = 10_000;
const MAX_SHOWN = 200;

const $ = (id) => document.getElementById(id);

const ui = {
  state: $('state'),
  stateText: $('state-text'),
  role: $('role'),
  whoami: $('whoami'),
  userName: $('user-name'),
  sessionActions: $('session-actions'),
  reconnect: $('reconnect'),
  disconnectAll: $('disconnect-all'),
  signOut: $('sign-out'),
  notice: $('notice'),
  noticeText: $('notice-text'),
  noticeDismiss: $('notice-dismiss'),
  signIn: $('sign-in'),
  signInForm: $('sign-in-form'),
  signInButton: $('sign-in-button'),
  signInError: $('sign-in-error'),
  userId: $('user-id'),
  app: $('app'),
  messages: $('messages'),
  messageCount: $('message-count'),
  empty: $('empty'),
  clear: $('clear'),
  sendForm: $('send-form'),
  to: $('to'),
  event: $('event'),
  data: $('data'),
  asJson: $('as-json'),
  broadcast: $('broadcast'),
  sendResult: $('send-result'),
  online: $('online'),
  onlineCount: $('online-count'),
  onlineUpdated: $('online-updated'),
  onlineOptions: $('online-options'),
  refreshOnline: $('refresh-online'),
  listenForm: $('listen-form'),
  listenNames: $('listen-names'),
  eventOptions: $('event-options'),
  topicForm: $('topic-form'),
  topic: $('topic'),
  topicData: $('topic-data'),
  postTopic: $('post-topic'),
  topicResult: $('topic-result'),
  topicList: $('topic-list'),
  topicCount: $('topic-count'),
  topicOptions: $('topic-options'),
};

/** What the page knows; nothing else keeps state. */
const page = {
  /** The signed-in user, or null. */
  userId: null,
  /** The page's one client, or null when closed. */
  source: null,
  /**
   * Topics the stream subscribes to (`?topic=`). The topics panel joins topics instead:
   * a membership reaches the stream that is open, without reconnecting.
   */
  topics: [],
  /** The user's memberships, as `GET /topics` last said. */
  joined: [],
  /** Event names listened for besides `message`. */
  names: new Set(),
  onlineTimer: undefined,
  refreshSoon: undefined,
  received: 0,
};

// ---------------------------------------------------------------------------------------
// Connection state

const STATE_TEXT = {
  'signed-out': 'Signed out',
  connecting: 'Connecting…',
  open: 'Open',
  reconnecting: 'Reconnecting…',
  closed: 'Closed',
};

const READY_STATES = ['CONNECTING', 'OPEN', 'CLOSED'];

function setState(state) {
  ui.state.dataset.state = state;
  ui.stateText.textContent = STATE_TEXT[state];
  // What the client itself says: CLOSED means it will not reconnect on its own.
  const readyState = page.source?.readyState ?? SseClient.CLOSED;
  ui.state.dataset.readyState = READY_STATES[readyState];
  ui.state.title = `SseClient.readyState: ${READY_STATES[readyState]}`;
  ui.reconnect.hidden = state !== 'closed';
  document.title = `${STATE_TEXT[state]} · nestjs-sse-hub demo`;
}

function showNotice(text, kind = 'info') {
  ui.noticeText.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = false;
}

function hideNotice() {
  ui.notice.hidden = true;
}

const ROLE_TEXT = {
  holder: 'This tab holds the connection',
  sharer: "Shares another tab's connection",
  own: 'Own connection',
};

/** Whether this tab holds the stream for every tab of this browser, or shares one. */
function showRole(source) {
  const role = source?.role;
  ui.role.hidden = role === undefined;
  if (role === undefined) return;
  ui.role.dataset.role = role;
  ui.role.textContent = ROLE_TEXT[role];
  ui.role.title =
    role === 'own'
      ? 'This browser cannot share a connection between tabs'
      : 'The tabs of this browser share one connection: one holds it, the others get every event from it';
}

// ---------------------------------------------------------------------------------------
// The stream

function connect() {
  closeStream();
  const source = new SseClient('/sse', { topics: page.topics });
  page.source = source;
  let closedByServer = false;
  setState('connecting');
  showRole(source);

  source.addEventListener('open', () => {
    if (page.source !== source) return;
    const resumed = source.lastEventId;
    addSystemLine(resumed === '' ? 'Connected' : `Reconnected; resuming after ${resumed}`, 'open');
    setState('open');
    // The stream works again: an earlier failure is no longer news.
    hideNotice();
    refreshOnlineSoon();
  });

  source.addEventListener('error', () => {
    if (page.source !== source) return;
    // CONNECTING: the stream ended or broke and the client reconnects by itself after the
    // server's `retry` (or a backoff), sending Last-Event-ID. CLOSED: it gave up for good
    // (sse:close, or an answer such as 401 once the sign-in has expired).
    if (source.readyState === SseClient.CONNECTING) {
      if (ui.state.dataset.state === 'open') addSystemLine('Connection lost; reconnecting', 'lost');
      setState('reconnecting');
    } else {
      page.source = null;
      if (closedByServer) setState('closed');
      else void streamRefused();
    }
  });

  source.addEventListener('sse:role', () => {
    if (page.source !== source) return;
    showRole(source);
    if (source.role === 'holder' && ui.state.dataset.state !== 'connecting') {
      addSystemLine('This tab took over the connection', 'role');
    }
  });

  source.addEventListener('sse:gap', (event) => {
    const reason = reasonOf(event.data);
    addSystemLine(`Events were lost here (sse:gap: ${reason})`, 'gap');
    showNotice(
      `Some events were lost while this page was away (${reason}): the list may be ` +
        'incomplete. The online list was reloaded.',
      'warning',
    );
    void refreshOnline();
  });

  source.addEventListener('sse:close', (event) => {
    if (page.source !== source) return;
    // Closed for good: the client stops by itself, in every tab that shares it.
    closedByServer = true;
    const reason = reasonOf(event.data);
    addSystemLine(`The server closed this connection (sse:close: ${reason})`, 'close');
    showNotice(
      reason === 'replaced'
        ? 'This user opened more connections than the server allows: this one was closed ' +
            'and will not reconnect.'
        : 'The server closed this connection for good: this page will not reconnect.',
      'warning',
    );
    refreshOnlineSoon();
  });

  source.addEventListener('message', onEvent);
  for (const name of page.names) source.addEventListener(name, onEvent);
}

function closeStream() {
  if (page.source !== null) page.source.close();
  page.source = null;
  showRole(null);
}

/** The client gave up on the stream: signed out, or the server refused it. */
async function streamRefused() {
  const response = await fetch('/sse/online').catch(() => undefined);
  if (response?.status === 401) {
    signedOut('Your sign-in has expired: sign in again.');
    return;
  }
  setState('closed');
  showNotice('The server did not accept the stream (it may be restarting).', 'warning');
}

function onEvent(event) {
  addMessage(event.lastEventId, event.type, event.data);
}

/**
 * What the page's own senders wrap around the data they send (see `payload`): who sent it,
 * and to whom (`null`: a broadcast; a `topic`: a topic's event). The sender is what the
 * sending page says: the demo has no passwords, so a claim is as good as a sign-in.
 */
function envelopeOf(data) {
  let value;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || typeof value.from !== 'string') return;
  if (!Object.hasOwn(value, 'body')) return;
  const body = typeof value.body === 'string' ? value.body : JSON.stringify(value.body);
  const kind =
    typeof value.topic === 'string' ? 'topic' : value.to === null ? 'broadcast' : 'direct';
  return { from: value.from, kind, topic: value.topic, body };
}

function reasonOf(data) {
  try {
    const reason = JSON.parse(data).reason;
    return typeof reason === 'string' ? reason : 'unknown';
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------
// The list of messages

function timeOf(date) {
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return (
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}`
  );
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function show(item) {
  ui.messages.prepend(item);
  while (ui.messages.children.length > MAX_SHOWN) ui.messages.lastElementChild.remove();
  ui.empty.hidden = true;
}

function addMessage(id, name, data) {
  const now = new Date();
  const envelope = envelopeOf(data);
  const item = element('li', 'event');
  item.dataset.id = id;
  item.dataset.event = name;
  item.dataset.kind = envelope?.kind ?? 'other';
  item.dataset.from = envelope?.from ?? '';
  if (envelope?.kind === 'topic') item.dataset.topic = envelope.topic;

  const meta = element('div', 'meta');
  const time = element('time', 'time', timeOf(now));
  time.dateTime = now.toISOString();
  meta.append(time, element('span', `name${name === 'message' ? '' : ' custom'}`, name));
  if (envelope === undefined) {
    meta.append(element('span', 'from unknown', 'sender not given'));
  } else {
    const from = element('span', 'from', envelope.from === page.userId ? 'you' : envelope.from);
    from.title = `from ${envelope.from}`;
    meta.append(from);
    if (envelope.kind === 'broadcast') meta.append(element('span', 'badge broadcast', 'to all'));
    if (envelope.kind === 'topic') {
      meta.append(element('span', 'badge topic', `topic ${envelope.topic}`));
    }
  }
  const idText = element('code', 'id', id);
  idText.title = `id: ${id}`;
  meta.append(idText);

  // Text only: data is whatever another user typed.
  const text = envelope?.body ?? data;
  const body = element('pre', 'data', text);
  if (text === '') body.classList.add('blank');
  item.append(meta, body);
  show(item);
  page.received += 1;
  ui.messageCount.textContent = String(page.received);
}

function addSystemLine(text, kind) {
  const now = new Date();
  const item = element('li', `system ${kind}`);
  const time = element('time', 'time', timeOf(now));
  time.dateTime = now.toISOString();
  item.append(time, element('span', 'text', text));
  show(item);
}

// ---------------------------------------------------------------------------------------
// Who is online

async function refreshOnline() {
  if (page.userId === null) return;
  let response;
  try {
    response = await fetch('/sse/online');
  } catch {
    ui.onlineUpdated.textContent = 'Could not reach the server.';
    return;
  }
  if (response.status === 401) {
    signedOut('Your sign-in has expired: sign in again.');
    return;
  }
  if (!response.ok) return;
  const { users } = await response.json();
  ui.online.replaceChildren();
  ui.onlineOptions.replaceChildren();
  for (const user of users) {
    const item = element('li');
    const button = element('button', 'user', user);
    button.type = 'button';
    button.title = `Send to ${user}`;
    button.addEventListener('click', () => {
      ui.to.value = user;
      ui.data.focus();
    });
    item.append(button);
    if (user === page.userId) item.append(element('span', 'you', 'you'));
    ui.online.append(item);
    const option = element('option');
    option.value = user;
    ui.onlineOptions.append(option);
  }
  if (users.length === 0) ui.online.append(element('li', 'hint', 'Nobody is connected.'));
  ui.onlineCount.textContent = String(users.length);
  ui.onlineUpdated.textContent = `Updated ${timeOf(new Date())}`;
}

/** Refreshes the online list shortly, once for a burst of events. */
function refreshOnlineSoon() {
  clearTimeout(page.refreshSoon);
  page.refreshSoon = setTimeout(() => void refreshOnline(), 200);
}

// ---------------------------------------------------------------------------------------
// Sending

async function errorText(response) {
  try {
    const body = await response.json();
    const message = Array.isArray(body.message) ? body.message.join('; ') : body.message;
    return `${response.status}: ${message ?? response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

/** The data as typed (text, or JSON when asked), wrapped with its sender and recipient. */
function payload(to) {
  const text = ui.data.value;
  let data = text;
  if (ui.asJson.checked) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new Error('The data is not valid JSON: untick "Send as JSON" to send it as text.');
    }
  }
  const body = { data: { from: page.userId, to, body: data } };
  const name = ui.event.value.trim();
  if (name !== '') body.event = name;
  return body;
}

async function post(path, body, result = ui.sendResult) {
  result.className = 'result';
  result.textContent = 'Sending…';
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status === 401) {
    signedOut('Your sign-in has expired: sign in again.');
    return;
  }
  if (!response.ok) throw new Error(await errorText(response));
  const { id, delivered } = await response.json();
  result.textContent =
    delivered === 0
      ? `Sent ${id}: nobody connected, kept for when they reconnect.`
      : `Sent ${id} to ${delivered} connection${delivered === 1 ? '' : 's'}.`;
  result.dataset.id = id;
  // It worked: an error shown for an earlier action is stale now.
  hideNotice();
  refreshOnlineSoon();
}

async function send(path, makeBody, result = ui.sendResult) {
  try {
    await post(path, makeBody(), result);
  } catch (error) {
    result.className = 'result error';
    result.textContent = error.message;
  }
}

// ---------------------------------------------------------------------------------------
// Topics: joined through the API, their events on the stream that is already open

function topicPath(topic, action) {
  return `/topics/${encodeURIComponent(topic)}/${action}`;
}

function showTopics(topics) {
  page.joined = topics;
  ui.topicList.replaceChildren();
  ui.topicOptions.replaceChildren();
  for (const topic of topics) {
    const item = element('li');
    item.dataset.topic = topic;
    const name = element('button', 'name', topic);
    name.type = 'button';
    name.title = `Post to ${topic}`;
    name.addEventListener('click', () => {
      ui.topic.value = topic;
      ui.topicData.focus();
    });
    const leave = element('button', 'leave secondary', 'Leave');
    leave.type = 'button';
    leave.title = `POST ${topicPath(topic, 'leave')}`;
    leave.addEventListener('click', () => void leaveTopic(topic));
    item.append(name, leave);
    ui.topicList.append(item);
    const option = element('option');
    option.value = topic;
    ui.topicOptions.append(option);
  }
  if (topics.length === 0) ui.topicList.append(element('li', 'hint', 'No topics joined.'));
  ui.topicCount.textContent = String(topics.length);
}

async function refreshTopics() {
  if (page.userId === null) return;
  const response = await fetch('/topics').catch(() => undefined);
  if (response?.status === 401) {
    signedOut('Your sign-in has expired: sign in again.');
    return;
  }
  if (response?.ok) showTopics((await response.json()).topics);
}

/** A join or a leave: the answer, or the error shown in the panel. */
async function topicAction(topic, action) {
  ui.topicResult.className = 'result';
  ui.topicResult.textContent = '';
  const response = await fetch(topicPath(topic, action), { method: 'POST' }).catch(() => undefined);
  if (response?.status === 401) {
    signedOut('Your sign-in has expired: sign in again.');
    return;
  }
  if (response === undefined || !response.ok) {
    ui.topicResult.className = 'result error';
    ui.topicResult.textContent =
      response === undefined ? 'Could not reach the server.' : await errorText(response);
    return;
  }
  const answer = await response.json();
  await refreshTopics();
  return answer;
}

async function joinTopic(topic) {
  if ((await topicAction(topic, 'join')) === undefined) return;
  ui.topicResult.textContent = `Joined ${topic}: its events arrive on this stream.`;
  addSystemLine(`Joined ${topic}`, 'topic');
}

async function leaveTopic(topic) {
  const answer = await topicAction(topic, 'leave');
  if (answer === undefined) return;
  ui.topicResult.textContent = answer.left ? `Left ${topic}.` : `Not a member of ${topic}.`;
  if (answer.left) addSystemLine(`Left ${topic}`, 'topic');
}

/** The topic's message, wrapped as the page's other senders wrap theirs. */
function topicPayload(topic) {
  return { data: { from: page.userId, topic, body: ui.topicData.value } };
}

// ---------------------------------------------------------------------------------------
// Event names listened for

function applyNames() {
  const names = new Set(
    ui.listenNames.value
      .split(',')
      .map((name) => name.trim())
      // The page listens for these itself; `open` and `error` are the client's own events.
      .filter((name) => name !== '' && !['message', 'open', 'error'].includes(name))
      .filter((name) => !name.startsWith('sse:')),
  );
  const source = page.source;
  for (const name of page.names) if (!names.has(name)) source?.removeEventListener(name, onEvent);
  for (const name of names) if (!page.names.has(name)) source?.addEventListener(name, onEvent);
  page.names = names;
  ui.eventOptions.replaceChildren(
    ...[...names].map((name) => {
      const option = element('option');
      option.value = name;
      return option;
    }),
  );
}

// ---------------------------------------------------------------------------------------
// Signing in and out

async function signIn(userId) {
  const response = await fetch('/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  if (!response.ok) throw new Error(await errorText(response));
  localStorage.setItem(USER_KEY, userId);
  signedIn(userId);
}

/** Shows the page of a user whose cookie the browser holds, and opens the stream. */
function signedIn(userId) {
  page.userId = userId;
  ui.userName.textContent = userId;
  ui.whoami.hidden = false;
  ui.sessionActions.hidden = false;
  ui.signIn.hidden = true;
  ui.app.hidden = false;
  if (ui.to.value === '') ui.to.value = userId;
  connect();
  void refreshTopics();
  clearInterval(page.onlineTimer);
  page.onlineTimer = setInterval(() => void refreshOnline(), ONLINE_REFRESH_MS);
}

function signedOut(message) {
  closeStream();
  clearInterval(page.onlineTimer);
  clearTimeout(page.refreshSoon);
  page.userId = null;
  showTopics([]);
  localStorage.removeItem(USER_KEY);
  setState('signed-out');
  ui.whoami.hidden = true;
  ui.sessionActions.hidden = true;
  ui.app.hidden = true;
  ui.signIn.hidden = false;
  if (message) showNotice(message, 'warning');
  else hideNotice();
  ui.userId.focus();
}

// ---------------------------------------------------------------------------------------
// Wiring

ui.signInForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  ui.signInError.hidden = true;
  ui.signInButton.disabled = true;
  try {
    await signIn(ui.userId.value.trim());
  } catch (error) {
    ui.signInError.textContent = error.message;
    ui.signInError.hidden = false;
  } finally {
    ui.signInButton.disabled = false;
  }
});

ui.sendForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const to = ui.to.value.trim();
  void send('/messages', () => ({ to, ...payload(to) }));
});
ui.broadcast.addEventListener('click', () => void send('/messages/broadcast', () => payload(null)));
ui.topicForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void joinTopic(ui.topic.value.trim());
});
function postToTopic() {
  const topic = ui.topic.value.trim();
  void send(topicPath(topic, 'messages'), () => topicPayload(topic), ui.topicResult);
}
ui.postTopic.addEventListener('click', postToTopic);
// Enter in the message posts it; Enter in the topic's name joins it (the form's submit).
ui.topicData.addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  event.preventDefault();
  postToTopic();
});

ui.disconnectAll.addEventListener('click', async () => {
  // Cleared first: the sse:close this asks for brings its own notice, maybe before the answer.
  hideNotice();
  const response = await fetch('/sse', { method: 'DELETE' });
  if (response.status === 401) signedOut('Your sign-in has expired: sign in again.');
});
ui.reconnect.addEventListener('click', () => connect());
ui.signOut.addEventListener('click', () => signedOut());
ui.refreshOnline.addEventListener('click', () => void refreshOnline());
ui.noticeDismiss.addEventListener('click', hideNotice);
ui.clear.addEventListener('click', () => {
  ui.messages.replaceChildren();
  page.received = 0;
  ui.messageCount.textContent = '0';
  ui.empty.hidden = false;
});
ui.listenForm.addEventListener('submit', (event) => event.preventDefault());
ui.listenNames.addEventListener('change', applyNames);

// The cookie, and so the user, is the browser's, shared by its tabs: when another tab signs
// in as someone else or signs out, this one follows.
window.addEventListener('storage', (event) => {
  if (event.key !== USER_KEY || event.newValue === page.userId) return;
  if (event.newValue === null) signedOut();
  else signedIn(event.newValue);
});

applyNames();
// The browser remembers its user and signs in again on load (a token expires).
const remembered = localStorage.getItem(USER_KEY);
if (remembered === null) {
  signedOut();
} else {
  ui.userId.value = remembered;
  signIn(remembered).catch(() => signedOut());
}
