/**
 * nginx with the nchan module, as Debian packages them (`nginx`, `libnginx-mod-nchan`):
 * one nginx process (`master_process off`: it is its own single worker), pinned to the
 * server's core, listening on 127.0.0.1 only, with its configuration and temporary files in
 * a directory of its own, ended with this process. Each subscriber is multiplexed over its
 * user's channel and one shared channel; channels keep the last 100 messages for 5 minutes,
 * as the library's history does, and a new subscriber starts from the newest, as one without
 * a `Last-Event-ID` does with the library. Messages come through nchan's HTTP publisher
 * (`POST /pub/<channel>`), sent by bench/publisher.js.
 *
 * This process only starts nginx and answers the runner for it: the CPU time and memory it
 * reports are nginx's, read from /proc.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from './harness.js';

const NGINX = '/usr/sbin/nginx';
const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

const HISTORY_SIZE = 100;
const HISTORY_TTL = '5m';

function config(dir, port) {
  return `load_module ${NCHAN_MODULE};
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
  worker_connections 65536;
}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  nchan_max_reserved_memory 1024m;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /sse {
      nchan_subscriber eventsource;
      nchan_channel_id $http_x_user all;
      nchan_subscriber_first_message newest;
      nchan_message_buffer_length ${HISTORY_SIZE};
      nchan_message_timeout ${HISTORY_TTL};
    }
    location ~ ^/pub/([A-Za-z0-9]+)$ {
      nchan_publisher http;
      nchan_channel_id $1;
      nchan_message_buffer_length ${HISTORY_SIZE};
      nchan_message_timeout ${HISTORY_TTL};
    }
    location = /status {
      nchan_stub_status;
    }
  }
}
`;
}

/** A port nothing listens on now, for nginx, which cannot be told to pick one. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Microseconds the process has been on a CPU: /proc/<pid>/schedstat counts nanoseconds (nginx
 * is one thread, so its main thread is all of it); /proc/<pid>/stat in clock ticks otherwise.
 */
function cpuOf(pid) {
  const schedstat = `/proc/${pid}/schedstat`;
  if (existsSync(schedstat)) {
    const ns = Number(readFileSync(schedstat, 'utf8').split(' ')[0]);
    return { user: Math.round(ns / 1000), system: 0 };
  }
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const tickUs = 1e6 / Number(spawnSync('getconf', ['CLK_TCK']).stdout || 100);
  return { user: Number(fields[11]) * tickUs, system: Number(fields[12]) * tickUs };
}

function rssOf(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) * 1024;
}

await serve('nchan', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sse-bench-nchan-'));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), config(dir, port));
  const cpu = process.env.BENCH_SERVER_CPU;
  const command = [NGINX, '-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')];
  const pinned = cpu !== undefined ? ['taskset', '-c', cpu, ...command] : command;
  // The open-files limit of this process (raised by the runner) is inherited by nginx.
  const nginx = spawn(pinned[0], pinned.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => nginx.once('exit', resolve));
  const end = () => {
    if (nginx.exitCode === null && nginx.signalCode === null) nginx.kill('SIGKILL');
  };
  process.on('exit', () => {
    end();
    rmSync(dir, { recursive: true, force: true });
  });

  const until = Date.now() + 10_000;
  for (;;) {
    const answer = await get(port, '/status').catch(() => null);
    if (answer?.status === 200) break;
    if (nginx.exitCode !== null || Date.now() > until) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log')) : '';
      throw new Error(`nginx did not start: ${String(log).trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    port,
    pids: [nginx.pid],
    publishPrefix: '/pub/',
    async connections() {
      const { body } = await get(port, '/status');
      return Number(/^subscribers: (\d+)/m.exec(body)?.[1] ?? NaN);
    },
    cpu: () => cpuOf(nginx.pid),
    // No heap to read in nginx: its resident memory, shared memory of the channels included.
    memory: async () => ({ rss: rssOf(nginx.pid), heapUsed: null }),
    broadcast() {
      throw new Error('nchan takes its messages over HTTP (bench/publisher.js)');
    },
    unicast() {
      throw new Error('nchan takes its messages over HTTP (bench/publisher.js)');
    },
    async close() {
      nginx.kill('SIGTERM');
      await exited;
    },
  };
});
