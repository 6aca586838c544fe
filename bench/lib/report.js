/** The human side of the results: docs/benchmarks.md and its chart, docs/benchmarks.svg. */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, totalmem, type } from 'node:os';
import { SERVER_NOTES, TIME_NOTES } from './report-text.js';

/** What the figures were measured on, and how busy it was when the run started. */
export function machine(placement) {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    os: `${type()} ${release()}`,
    node: process.version,
    pinned: placement.pinned,
    loadAverage: loadavg().map((load) => Number(load.toFixed(2))),
  };
}

const HUB = 'nestjs-sse-hub';

/**
 * The goals, as ratios against raw-node in the same run at every size; `lower` says that
 * lower is better.
 */
export const GOALS = [
  {
    server: HUB,
    key: 'cpuPerDelivery',
    label: 'CPU per broadcast delivery',
    target: 1,
    lower: true,
  },
  {
    server: HUB,
    key: 'cpuPerUnicastSend',
    label: 'CPU per unicast send',
    target: 1.2,
    lower: true,
  },
  {
    server: `${HUB}:fastify`,
    key: 'cpuPerUnicastSend',
    label: 'CPU per unicast send',
    target: 1.2,
    lower: true,
  },
  { server: HUB, key: 'connectionsPerSec', label: 'connections opened per second', target: 0.6 },
  {
    server: `${HUB}:fastify`,
    key: 'connectionsPerSec',
    label: 'connections opened per second',
    target: 1,
  },
  { server: HUB, key: 'heapPerConnection', label: 'heap per connection', target: 1.3, lower: true },
  {
    server: `${HUB}:fastify`,
    key: 'heapPerConnection',
    label: 'heap per connection',
    target: 1.1,
    lower: true,
  },
  { server: HUB, key: 'latencyP99', label: 'fan-out latency p99', target: 1.3, lower: true },
];

/** Each figure of the chart: its ratio to raw-node's, and which way is better. */
const FIGURES = [
  {
    key: 'cpuPerDelivery',
    title: 'CPU per delivery',
    get: (run) => run.cpuPerDeliveryUs,
    lower: true,
  },
  {
    key: 'cpuPerBurstDelivery',
    title: 'CPU per delivery, bursts',
    get: (run) => run.cpuPerBurstDeliveryUs,
    lower: true,
  },
  {
    key: 'cpuPerUnicastSend',
    title: 'CPU per unicast send',
    get: (run) => run.cpuPerUnicastSendUs,
    lower: true,
  },
  {
    key: 'cpuPerConnect',
    title: 'CPU per connect',
    get: (run) => run.cpuPerConnectUs,
    lower: true,
  },
  {
    key: 'broadcastDeliveriesPerSec',
    title: 'Broadcast deliveries/s',
    get: (run) => run.broadcastDeliveriesPerSec,
  },
  { key: 'unicastSendsPerSec', title: 'Unicast sends/s', get: (run) => run.unicastSendsPerSec },
  { key: 'connectionsPerSec', title: 'Connections opened/s', get: (run) => run.connectionsPerSec },
  {
    key: 'heapPerConnection',
    title: 'Heap per connection',
    get: (run) => run.heapPerConnectionBytes,
    lower: true,
  },
];

/** Pairs compared figure by figure at the largest size: ours first. */
const PEERS = [
  [HUB, 'better-sse'],
  [HUB, 'nestjs-naive'],
  [`${HUB}:http-publish`, 'nchan'],
];

const COLORS = {
  'raw-node': '#6b7280',
  'better-sse': '#d97706',
  'nestjs-naive': '#dc2626',
  'nestjs-sse-hub': '#1d4ed8',
  'nestjs-sse-hub:observable': '#60a5fa',
  'nestjs-sse-hub:fastify': '#059669',
  'nestjs-sse-hub+redis': '#7c3aed',
  'nestjs-sse-hub+redis-cluster': '#4338ca',
  'nestjs-sse-hub+nats': '#a21caf',
  'nestjs-sse-hub:http-publish': '#0891b2',
  nchan: '#be185d',
};

function serversOf(runs) {
  const names = [];
  for (const run of runs) if (!names.includes(run.server)) names.push(run.server);
  return names;
}

function sizesOf(runs) {
  return [...new Set(runs.map((run) => run.connections))].sort((a, b) => a - b);
}

function thousands(n) {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

function integer(n) {
  return n === null || n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US');
}

/** Three significant digits at most, as a figure of a noisy measurement deserves. */
function decimal(n) {
  if (n === null || n === undefined) return 'n/a';
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function duration(seconds) {
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} minutes`;
}

function ratio(n) {
  return n === null || n === undefined ? 'n/a' : `${n.toFixed(2)}x`;
}

/** A median with its spread over the repeats: `9.08 (8.71-9.30)`. */
function withSpread(spread) {
  if (spread === undefined || spread.median === null) return 'n/a';
  if (spread.values.length < 2) return decimal(spread.median);
  return `${decimal(spread.median)} (${decimal(spread.min)}-${decimal(spread.max)})`;
}

// --- markdown ----------------------------------------------------------------------------

/** Wraps a paragraph, or a list item (`- `), at 100 columns, as the other docs are. */
function wrap(text) {
  const item = text.startsWith('- ');
  const indent = item ? '  ' : '';
  const lines = [];
  let line = '';
  // A code span is never broken across lines: prettier would indent the rest differently.
  const words = [];
  for (const token of text.split(' ')) {
    const previous = words[words.length - 1];
    if (previous !== undefined && (previous.split('`').length - 1) % 2 === 1) {
      words[words.length - 1] = `${previous} ${token}`;
    } else {
      words.push(token);
    }
  }
  for (const word of words) {
    if (line !== '' && line.length + 1 + word.length > 100) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join('\n');
}

/** Paragraphs and list items, each wrapped. */
function prose(...parts) {
  return parts.map(wrap);
}

/** A table as prettier lays it out: every column padded to its widest cell. */
function table(header, rows, rightAligned = []) {
  const widths = header.map((cell, i) =>
    Math.max(3, cell.length, ...rows.map((row) => String(row[i]).length)),
  );
  const line = (cells) =>
    `| ${cells
      .map((cell, i) =>
        rightAligned.includes(i)
          ? String(cell).padStart(widths[i])
          : String(cell).padEnd(widths[i]),
      )
      .join(' | ')} |`;
  const rule = `| ${widths
    .map((width, i) => (rightAligned.includes(i) ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width)))
    .join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function goalRows(results) {
  const sizes = sizesOf(results.runs);
  return GOALS.filter((goal) => results.runs.some((run) => run.server === goal.server)).map(
    (goal) => {
      const values = sizes.map(
        (n) =>
          results.runs.find((run) => run.server === goal.server && run.connections === n)
            ?.vsRawNode?.[goal.key] ?? null,
      );
      const known = values.filter((value) => value !== null);
      const met =
        known.length === 0
          ? null
          : known.every((value) => (goal.lower ? value <= goal.target : value >= goal.target));
      return [
        `\`${goal.server}\``,
        goal.label,
        `${goal.lower ? 'at most' : 'at least'} ${goal.target}x`,
        ...values.map(ratio),
        met === null ? 'n/a' : met ? 'yes' : 'no',
      ];
    },
  );
}

/** Where ours is behind a peer at the largest size, figure by figure. */
function peerRows(results) {
  const largest = Math.max(...sizesOf(results.runs));
  const at = (server) =>
    results.runs.find((run) => run.server === server && run.connections === largest);
  return PEERS.map(([ours, peer]) => ({ ours, peer, mine: at(ours), theirs: at(peer) }))
    .filter(({ mine, theirs }) => mine !== undefined && theirs !== undefined)
    .map(({ ours, peer, mine, theirs }) => {
      const behind = FIGURES.filter((figure) => {
        const a = figure.get(mine);
        const b = figure.get(theirs);
        if (a === null || b === null || a === undefined || b === undefined) return false;
        return figure.lower ? a > b : a < b;
      }).map((figure) =>
        // Lower-case the first word only when it is not an acronym ("CPU per connect").
        /^[A-Z]{2}/.test(figure.title)
          ? figure.title
          : figure.title.charAt(0).toLowerCase() + figure.title.slice(1),
      );
      return [
        `\`${ours}\``,
        `\`${peer}\``,
        behind.length === 0 ? 'ahead on every figure' : `behind on ${behind.join(', ')}`,
      ];
    });
}

function cpuTable(runs) {
  return table(
    ['server', 'µs/delivery', 'µs/delivery, bursts', 'µs/send', 'µs/connect'],
    runs.map((run) => [
      `\`${run.server}\``,
      withSpread(run.spread?.cpuPerDeliveryUs),
      withSpread(run.spread?.cpuPerBurstDeliveryUs),
      withSpread(run.spread?.cpuPerUnicastSendUs),
      withSpread(run.spread?.cpuPerConnectUs),
    ]),
    [1, 2, 3, 4],
  );
}

function throughputTable(runs) {
  return table(
    [
      'server',
      'broadcast/s',
      'bursts/s',
      'unicast/s',
      'connects/s',
      'p50 ms',
      'p99 ms',
      'RSS B/conn',
      'heap B/conn',
    ],
    runs.map((run) => [
      `\`${run.server}\``,
      integer(run.broadcastDeliveriesPerSec),
      integer(run.burstDeliveriesPerSec),
      integer(run.unicastSendsPerSec),
      integer(run.connectionsPerSec),
      decimal(run.latencyMs.p50),
      decimal(run.latencyMs.p99),
      integer(run.rssPerConnectionBytes),
      integer(run.heapPerConnectionBytes),
    ]),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
}

/** Topic beside broadcast, for the servers that have topics (runs before topics: none). */
function topicTable(runs) {
  const withTopics = runs.filter((run) => run.topicDeliveriesPerSec != null);
  if (withTopics.length === 0) return null;
  return table(
    [
      'server',
      'topic µs/delivery',
      'broadcast µs/delivery',
      'topic/s',
      'broadcast/s',
      'topic rate ÷ broadcast rate',
    ],
    withTopics.map((run) => [
      `\`${run.server}\``,
      withSpread(run.spread?.cpuPerTopicDeliveryUs),
      withSpread(run.spread?.cpuPerDeliveryUs),
      integer(run.topicDeliveriesPerSec),
      integer(run.broadcastDeliveriesPerSec),
      ratio(run.topicDeliveriesPerSec / run.broadcastDeliveriesPerSec),
    ]),
    [1, 2, 3, 4, 5],
  );
}

function markdown(results) {
  const sizes = sizesOf(results.runs);
  const { machine: m, plan } = results;
  const repeats = plan?.repeats ?? results.runs[0]?.messages.repeats ?? 1;
  const out = [];
  out.push('# Benchmarks', '');
  out.push(
    ...prose(
      `Measured on ${results.generatedAt.slice(0, 10)}, ${results.mode === 'full' ? 'full run (`npm run bench`)' : `${results.mode} run`}, ` +
        `${duration(results.durationSec)}, on ${m.cores} cores (${m.cpu}, Node.js ${m.node}). ` +
        'Every server was measured by the same load client in the same run. The headline ' +
        'figures are the CPU time the server process itself spent per unit of work, in ' +
        'microseconds (lower is better): per message delivered to a connection by a broadcast, ' +
        'per message sent to one user, per connection opened. Unlike rates, they barely move ' +
        'when something else runs on the other core. ' +
        (repeats > 1
          ? `Each is the median of ${repeats} repeats, with the lowest and the highest in brackets; `
          : 'Each phase ran once; ') +
        'throughput, latency and memory stand beside them. Ratios are against `raw-node` at ' +
        'the same number of connections.',
    ),
    '',
  );
  out.push('![Ratios against raw-node at each number of connections](benchmarks.svg)', '');

  const goals = goalRows(results);
  if (goals.length > 0) {
    out.push('## Goals', '');
    out.push(
      ...prose(
        'Ratios against `raw-node` of the same run at each number of connections; a goal is ' +
          'met when it holds at every size.',
      ),
      '',
    );
    out.push(
      table(
        ['server', 'figure', 'goal', ...sizes.map(thousands), 'met'],
        goals,
        sizes.map((_, i) => 3 + i),
      ),
      '',
    );
    const peers = peerRows(results);
    if (peers.length > 0) {
      out.push(
        table(['ours', 'against', `at ${thousands(Math.max(...sizes))} connections`], peers),
        '',
      );
    }
  }

  for (const n of sizes) {
    const runs = results.runs.filter((run) => run.connections === n);
    out.push(`## ${thousands(n)} connections`, '');
    out.push(
      repeats > 1
        ? `Server CPU per unit of work, µs (median, lowest-highest of ${repeats}):`
        : 'Server CPU per unit of work, µs:',
      '',
    );
    out.push(cpuTable(runs), '');
    out.push('Throughput (medians), fan-out latency and memory:', '');
    out.push(throughputTable(runs), '');
    const topics = topicTable(runs);
    if (topics !== null) {
      out.push(
        'One topic with every connection in it (as members), published to one message a ' +
          'turn, beside broadcast (target: the topic within 10 % of broadcast’s rate):',
        '',
        topics,
        '',
      );
    }
  }
  for (const { server, reason } of results.skipped)
    out.push(`Skipped \`${server}\`: ${reason}.`, '');
  for (const { server, connections, error } of results.failures) {
    out.push(`**Failed** \`${server}\` at ${connections}: ${error.split('\n')[0]}`, '');
  }

  out.push('## Where the time goes', '');
  const [lead, ...items] = TIME_NOTES;
  out.push(...prose(lead), '', ...prose(...items), '');

  out.push('## The servers', '');
  out.push(...prose(...SERVER_NOTES), '');

  out.push('## Method', '');
  out.push(
    ...prose(
      '- Each server runs in its own process, started afresh for each number of connections, ' +
        'with `--expose-gc`; the load client runs in another. Where `taskset` exists, the ' +
        'server is pinned to one core and the client (and the HTTP publisher) to the other.',
      '- Server CPU: the server process reads its own CPU time (`process.cpuUsage()`, user ' +
        'plus system) at the start and at the end of each phase and answers over IPC; for ' +
        'nginx, its time on the CPU from `/proc/<pid>/schedstat`; for two instances on a ' +
        "broker, the sum of both (the broker's own time is not in it). The phase ends when " +
        'the last stream has the last message, so the ' +
        'figure includes writing to the sockets. It divides by the deliveries, the sends or ' +
        'the connections of the phase.',
      '- The client opens every stream over a raw HTTP/1.1 socket and counts events by their ' +
        'blank lines, without EventSource objects. Each event carries ' +
        '`{"n":<sequence>,"t":<send time>}`; every stream must receive every message of a ' +
        'phase exactly once and in order, or the run fails.',
      '- Messages are sent in the server process (the IPC command runs the send loop there), ' +
        'except for `nchan` and `nestjs-sse-hub:http-publish`: a publisher process sends each ' +
        'as an HTTP `POST`, pipelined on one keep-alive connection (one request in flight for ' +
        'broadcasts, ten for bursts, 32 for unicasts), so their CPU figures include parsing ' +
        'and answering a request per message.',
      '- Before the baseline, 50 connections are opened, sent to and closed, so that routes ' +
        'and code paths are compiled.',
      '- Broadcast: messages to everyone, one per turn of the event loop, then in bursts of ' +
        'ten per turn; deliveries per second from the first send until the last stream has ' +
        'the last message (on the monotonic clock, which both processes share). Unicast: ' +
        'rounds of one message to each user, one round per turn. Topic (the servers with ' +
        'topics): every user joins one topic before the clock starts, then messages are ' +
        'published to it as the broadcasts are; every user leaves it again afterwards.',
      `- Connects: ${plan?.connectRepeats ?? repeats} times, all N connections opened 100 at ` +
        'a time from none, then closed; connections per second is the median rate over ten ' +
        'consecutive tenths of the connections; CPU per connect runs from the first request ' +
        'until the server counts them all.',
      '- Memory per connection: heap used and RSS after three forced `gc()`, at N ' +
        'connections minus at none, divided by N. The heap is read at each connect repeat; ' +
        'RSS only from the fresh process, as freed pages stay resident. ' +
        '`memoryPerConnectionBytes` in the results is the RSS figure. nginx has no heap.',
      '- Fan-out latency: one broadcast at a time, the next once every stream has the last; ' +
        'for each delivery, receive time minus the send time in the payload, in an HDR ' +
        'histogram (hdr-histogram-js). The first two broadcasts are not counted.',
      `- With ${m.cores} cores for server and client, rates move by 10 to 30 % from one run ` +
        'to the next; CPU per unit of work moves far less. Compare servers within one run.',
    ),
    '',
  );
  out.push(
    ...prose(
      'On Express every response object gets its own V8 hidden class: Express sets the ' +
        'prototype of each response (`Object.setPrototypeOf`), which costs about 2 KB of heap ' +
        'per open connection whatever the route does. `raw-node` and Fastify do not pay it; ' +
        'the `nestjs-sse-hub:fastify` row shows the library without it.',
    ),
    '',
  );

  out.push('## Machine', '');
  out.push(
    table(
      ['', ''],
      [
        ['CPU', m.cpu],
        ['cores', String(m.cores)],
        ['memory', `${m.memoryGiB} GiB`],
        ['system', m.os],
        ['Node.js', m.node],
        ['pinned to cores', m.pinned ? 'yes (taskset)' : 'no'],
        ['load average at the start', m.loadAverage ? m.loadAverage.join(', ') : 'n/a'],
      ],
    ),
    '',
  );
  out.push('Results: [`bench/results/latest.json`](../bench/results/latest.json).', '');
  return out.join('\n');
}

// --- chart ---------------------------------------------------------------------------------

const PANEL = { width: 250, height: 230, left: 44, right: 12, top: 34, bottom: 30 };
/** Ratios are drawn on a log scale, 1/16 to 16. */
const LOG_MIN = -4;
const LOG_MAX = 4;

function escape(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function svg(results) {
  const runs = results.runs;
  const sizes = sizesOf(runs);
  const servers = serversOf(runs).filter((server) => server !== 'raw-node');
  const columns = 4;
  const rows = Math.ceil(FIGURES.length / columns);
  const legendHeight = 28 + Math.ceil(servers.length / 4) * 18;
  const width = columns * PANEL.width + 20;
  const height = legendHeight + rows * PANEL.height + 34;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, sans-serif" ` +
      `font-size="11">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="10" y="18" font-size="14" font-weight="600">Each server against raw-node ` +
      `(ratio, log scale; raw-node = 1)</text>`,
  );
  servers.forEach((server, i) => {
    const x = 10 + (i % 4) * 250;
    const y = 36 + Math.floor(i / 4) * 18;
    const color = COLORS[server] ?? '#111827';
    out.push(
      `<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${color}" ` +
        `stroke-width="${server === HUB ? 3 : 2}"/>`,
      `<circle cx="${x + 11}" cy="${y - 4}" r="3" fill="${color}"/>`,
      `<text x="${x + 28}" y="${y}">${escape(server)}</text>`,
    );
  });

  const innerWidth = PANEL.width - PANEL.left - PANEL.right;
  const innerHeight = PANEL.height - PANEL.top - PANEL.bottom;
  const yOf = (value) => {
    const log = Math.min(LOG_MAX, Math.max(LOG_MIN, Math.log2(value)));
    return PANEL.top + ((LOG_MAX - log) / (LOG_MAX - LOG_MIN)) * innerHeight;
  };
  const xOf = (index) =>
    PANEL.left + (sizes.length === 1 ? innerWidth / 2 : (index / (sizes.length - 1)) * innerWidth);

  FIGURES.forEach((figure, f) => {
    const ox = 10 + (f % columns) * PANEL.width;
    const oy = legendHeight + Math.floor(f / columns) * PANEL.height;
    out.push(`<g transform="translate(${ox},${oy})">`);
    out.push(
      `<text x="${PANEL.left}" y="14" font-size="12" font-weight="600">${escape(figure.title)}</text>`,
      `<text x="${PANEL.left}" y="27" fill="#6b7280">${figure.lower ? 'lower' : 'higher'} is better</text>`,
    );
    for (let log = LOG_MIN; log <= LOG_MAX; log++) {
      const y = yOf(2 ** log);
      const label = log >= 0 ? String(2 ** log) : `1/${2 ** -log}`;
      out.push(
        `<line x1="${PANEL.left}" y1="${y}" x2="${PANEL.left + innerWidth}" y2="${y}" ` +
          `stroke="${log === 0 ? '#6b7280' : '#e5e7eb'}"${log === 0 ? ' stroke-dasharray="4 3"' : ''}/>`,
        `<text x="${PANEL.left - 6}" y="${y + 4}" text-anchor="end" fill="#6b7280">${label}</text>`,
      );
    }
    const goal = GOALS.find((g) => g.server === HUB && g.key === figure.key);
    if (goal !== undefined) {
      const y = yOf(goal.target);
      out.push(
        `<line x1="${PANEL.left}" y1="${y}" x2="${PANEL.left + innerWidth}" y2="${y}" ` +
          `stroke="#1d4ed8" stroke-opacity="0.5" stroke-dasharray="1 3"/>`,
        `<text x="${PANEL.left + innerWidth}" y="${y - 3}" text-anchor="end" fill="#1d4ed8" ` +
          `font-size="9">goal ${goal.target}</text>`,
      );
    }
    sizes.forEach((n, i) => {
      out.push(
        `<text x="${xOf(i)}" y="${PANEL.top + innerHeight + 16}" text-anchor="middle" ` +
          `fill="#374151">${thousands(n)}</text>`,
      );
    });
    for (const server of servers) {
      const color = COLORS[server] ?? '#111827';
      const points = [];
      sizes.forEach((n, i) => {
        const run = runs.find((r) => r.server === server && r.connections === n);
        const floor = runs.find((r) => r.server === 'raw-node' && r.connections === n);
        if (run === undefined || floor === undefined) return;
        const value = figure.get(run) / figure.get(floor);
        if (!Number.isFinite(value) || value <= 0) return;
        points.push([xOf(i), yOf(value), value]);
      });
      if (points.length > 1) {
        out.push(
          `<polyline points="${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}" ` +
            `fill="none" stroke="${color}" stroke-width="${server === HUB ? 2.5 : 1.5}"/>`,
        );
      }
      for (const [x, y, value] of points) {
        out.push(
          `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${server === HUB ? 3.5 : 2.5}" ` +
            `fill="${color}"><title>${escape(server)}: ${value.toFixed(2)}x</title></circle>`,
        );
      }
    }
    out.push('</g>');
  });
  out.push(
    `<text x="10" y="${height - 10}" fill="#6b7280">Connections on the x axis. ` +
      `${escape(results.machine.cores)} cores, Node.js ${escape(results.machine.node)}, ` +
      `${results.mode} run of ${results.generatedAt.slice(0, 10)}.</text>`,
  );
  out.push('</svg>', '');
  return out.join('\n');
}

/** Writes docs/benchmarks.md and docs/benchmarks.svg into `dir`. */
export async function writeReport(results, dir) {
  await mkdir(dir, { recursive: true });
  await writeFile(`${dir}benchmarks.md`, markdown(results));
  await writeFile(`${dir}benchmarks.svg`, svg(results));
}
