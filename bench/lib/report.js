/** The human side of the results: docs/benchmarks.md and its chart, docs/benchmarks.svg. */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, release, totalmem, type } from 'node:os';

/** What the figures were measured on. */
export function machine(placement) {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    os: `${type()} ${release()}`,
    node: process.version,
    pinned: placement.pinned,
  };
}

const HUB = 'nestjs-sse-hub';

/**
 * The goals of the default transport at the largest size, as ratios against raw-node in the
 * same run; `higher` says which way is better.
 */
export const GOALS = [
  { key: 'broadcastDeliveriesPerSec', label: 'broadcast, one message a turn', target: 0.9 },
  { key: 'burstDeliveriesPerSec', label: 'broadcast, bursts of ten', target: 0.6 },
  { key: 'unicastSendsPerSec', label: 'unicast sends', target: 0.8 },
  { key: 'heapPerConnection', label: 'heap per connection', target: 1.5, lower: true },
  { key: 'latencyP99', label: 'fan-out latency p99', target: 1.3, lower: true },
];

/** Each figure: how to read it from a run, how to show it, and which way is better. */
const FIGURES = [
  {
    key: 'broadcastDeliveriesPerSec',
    title: 'Broadcast, one a turn',
    unit: 'deliveries/s',
    get: (run) => run.broadcastDeliveriesPerSec,
  },
  {
    key: 'burstDeliveriesPerSec',
    title: 'Broadcast, bursts of ten',
    unit: 'deliveries/s',
    get: (run) => run.burstDeliveriesPerSec,
  },
  {
    key: 'unicastSendsPerSec',
    title: 'Unicast',
    unit: 'sends/s',
    get: (run) => run.unicastSendsPerSec,
  },
  {
    key: 'connectionsPerSec',
    title: 'Connections opened',
    unit: 'per second',
    get: (run) => run.connectionsPerSec,
  },
  {
    key: 'memoryPerConnection',
    title: 'Memory (RSS) per connection',
    unit: 'bytes',
    get: (run) => run.memoryPerConnectionBytes,
    lower: true,
  },
  {
    key: 'heapPerConnection',
    title: 'Heap per connection',
    unit: 'bytes',
    get: (run) => run.heapPerConnectionBytes,
    lower: true,
  },
  {
    key: 'latencyP50',
    title: 'Fan-out latency p50',
    unit: 'ms',
    get: (run) => run.latencyMs.p50,
    lower: true,
  },
  {
    key: 'latencyP99',
    title: 'Fan-out latency p99',
    unit: 'ms',
    get: (run) => run.latencyMs.p99,
    lower: true,
  },
];

const COLORS = {
  'raw-node': '#6b7280',
  'better-sse': '#d97706',
  'nestjs-naive': '#dc2626',
  'nestjs-sse-hub': '#1d4ed8',
  'nestjs-sse-hub:observable': '#60a5fa',
  'nestjs-sse-hub:fastify': '#059669',
  'nestjs-sse-hub+redis': '#7c3aed',
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

function ms(n) {
  if (n === null || n === undefined) return 'n/a';
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function ratio(n) {
  return n === null || n === undefined ? 'n/a' : `${n.toFixed(2)}x`;
}

// --- markdown ----------------------------------------------------------------------------

/** Wraps a paragraph, or a list item (`- `), at 100 columns, as the other docs are. */
function wrap(text) {
  const item = text.startsWith('- ');
  const indent = item ? '  ' : '';
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
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
  const largest = Math.max(...sizesOf(results.runs));
  const hub = results.runs.find((run) => run.server === HUB && run.connections === largest);
  return GOALS.map((goal) => {
    const value = hub?.vsRawNode?.[goal.key] ?? null;
    const met = value === null ? null : goal.lower ? value <= goal.target : value >= goal.target;
    return {
      ...goal,
      value,
      met,
      row: [
        goal.label,
        `${goal.lower ? 'at most' : 'at least'} ${goal.target}x`,
        ratio(value),
        met === null ? 'n/a' : met ? 'yes' : 'no',
      ],
    };
  });
}

/** Whether nestjs-sse-hub is ahead of a peer on every figure at a size. */
function aheadRows(results) {
  const largest = Math.max(...sizesOf(results.runs));
  const at = (server) =>
    results.runs.find((run) => run.server === server && run.connections === largest);
  const hub = at(HUB);
  if (hub === undefined) return [];
  return ['better-sse', 'nestjs-naive']
    .map((peer) => ({ peer, run: at(peer) }))
    .filter(({ run }) => run !== undefined)
    .map(({ peer, run }) => {
      const behind = FIGURES.filter((figure) => {
        const mine = figure.get(hub);
        const theirs = figure.get(run);
        return figure.lower ? mine > theirs : mine < theirs;
      }).map((figure) => figure.title.toLowerCase());
      return [peer, behind.length === 0 ? 'every figure' : `all but ${behind.join(', ')}`];
    });
}

function markdown(results) {
  const sizes = sizesOf(results.runs);
  const largest = sizes.length > 0 ? Math.max(...sizes) : 0;
  const { machine: m } = results;
  const repeats = results.runs[0]?.messages.repeats ?? 1;
  const out = [];
  out.push('# Benchmarks', '');
  out.push(
    ...prose(
      `Measured on ${results.generatedAt.slice(0, 10)}, ${results.mode === 'quick' ? 'quick run (`npm run bench -- --quick`)' : 'full run (`npm run bench`)'}, ${results.durationSec} s. ` +
        'Every server was measured by the same load client in the same run; ratios are ' +
        'against `raw-node` at the same number of connections.',
    ),
    '',
  );
  out.push('![Ratios against raw-node at each number of connections](benchmarks.svg)', '');

  if (results.ratios) {
    out.push(`## nestjs-sse-hub against raw-node at ${thousands(largest)} connections`, '');
    out.push(
      ...prose(
        'The default `direct` transport on Express, as ratios of the same run (throughput: ' +
          'higher is better; memory and latency: lower is better).',
      ),
      '',
    );
    out.push(
      table(
        ['goal', 'target', 'measured', 'met'],
        goalRows(results).map((goal) => goal.row),
      ),
      '',
    );
    const ahead = aheadRows(results);
    if (ahead.length > 0) {
      out.push(
        table(
          ['ahead of', `at ${thousands(largest)} connections`],
          ahead.map(([peer, text]) => [peer, text]),
        ),
        '',
      );
    }
  }

  for (const n of sizes) {
    out.push(`## ${thousands(n)} connections`, '');
    const rows = results.runs
      .filter((run) => run.connections === n)
      .map((run) => [
        `\`${run.server}\``,
        integer(run.broadcastDeliveriesPerSec),
        integer(run.burstDeliveriesPerSec),
        integer(run.unicastSendsPerSec),
        ms(run.latencyMs.p50),
        ms(run.latencyMs.p99),
        integer(run.memoryPerConnectionBytes),
        integer(run.heapPerConnectionBytes),
        integer(run.connectionsPerSec),
      ]);
    out.push(
      table(
        [
          'server',
          'broadcast/s',
          'bursts/s',
          'unicast/s',
          'p50 ms',
          'p99 ms',
          'RSS B/conn',
          'heap B/conn',
          'connects/s',
        ],
        rows,
        [1, 2, 3, 4, 5, 6, 7, 8],
      ),
      '',
    );
  }
  for (const { server, reason } of results.skipped)
    out.push(`Skipped \`${server}\`: ${reason}.`, '');
  for (const { server, connections, error } of results.failures) {
    out.push(`**Failed** \`${server}\` at ${connections}: ${error.split('\n')[0]}`, '');
  }

  out.push('## The servers', '');
  out.push(
    ...prose(
      '- `raw-node`: plain `node:http`, a map of user id to open responses; each message is ' +
        'serialised once and written to every response. The floor.',
      '- `better-sse`: [better-sse](https://github.com/MatthewWid/better-sse), a session per ' +
        'connection and one channel for everyone, as its documentation shows.',
      '- `nestjs-naive`: NestJS alone, what a developer writes by hand: an `@Sse()` route ' +
        'returning the rxjs Subject of the user, one Subject per user.',
      '- `nestjs-sse-hub`: this library with its defaults (the `direct` transport) on Express.',
      "- `nestjs-sse-hub:observable`: the `observable` transport, NestJS's own `@Sse()` pipeline.",
      '- `nestjs-sse-hub:fastify`: the defaults on Fastify.',
      '- `nestjs-sse-hub+redis`: two instances on one Redis, the client connected to one, the ' +
        'sender on the other.',
    ),
    '',
  );

  out.push('## Method', '');
  out.push(
    ...prose(
      '- Each server runs in its own process, started afresh for each number of connections, ' +
        'with `--expose-gc`; the load client runs in another. Where `taskset` exists, the ' +
        'server is pinned to one core and the client to another.',
      '- The client opens every stream over a raw HTTP/1.1 socket and counts events by their ' +
        'blank lines, without EventSource objects. Each event carries ' +
        '`{"n":<sequence>,"t":<send time>}`; every stream must receive every message of a ' +
        'phase exactly once and in order, or the run fails.',
      '- The servers are driven over IPC. Before the baseline, 50 connections are opened, ' +
        'sent to and closed, so that routes and code paths are compiled.',
      '- Memory per connection: RSS and heap used after `gc()`, at N connections minus at ' +
        '0, divided by N. `memoryPerConnectionBytes` in the results is the RSS figure.',
      '- Broadcast: messages to everyone, one per turn of the event loop, then in bursts of ' +
        'ten per turn; deliveries per second from the first send until the last stream has ' +
        'the last message (on the monotonic clock, which both processes share).',
      '- Unicast: rounds of one message to each user, one round per turn; sends per second, ' +
        'timed the same way.',
      '- Fan-out latency: one broadcast at a time, the next once every stream has the last; ' +
        'for each delivery, receive time minus the send time in the payload, in an HDR ' +
        'histogram (hdr-histogram-js). The first two broadcasts are not counted.',
      '- Connections opened per second: 100 at a time; the median rate over ten consecutive ' +
        'tenths of the connections.',
      `- ${repeats > 1 ? `Throughput figures are the median of ${repeats} runs of each phase.` : 'Each phase runs once.'} ` +
        '`latest.json` also has the server CPU time per delivery, which a busy machine ' +
        'disturbs less than wall-clock rates.',
      `- With ${m.cores} cores for server and client, figures move by 10 to 30 % from one ` +
        'run to the next: compare servers within one run.',
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
    const goal = GOALS.find((g) => g.key === figure.key);
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
