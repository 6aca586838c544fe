/**
 * Child processes of the benchmark: spawned with the open-files limit raised and pinned to
 * a core where `taskset` exists, driven over IPC, and ended with the runner whatever
 * happens to it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

const children = new Set();
/** Processes the children started (nginx), ended with them should a child die first. */
const grandchildren = new Set();

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const pid of grandchildren) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone: it ended with its parent.
    }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

const hasBash = spawnSync('bash', ['-c', 'true']).status === 0;
const hasTaskset = hasBash && spawnSync('taskset', ['-p', String(process.pid)]).status === 0;

/** How processes are placed: the server on one core, the client on another. */
export const placement = {
  pinned: hasTaskset && availableParallelism() >= 2,
  serverCpu: 0,
  clientCpu: 1,
};

/** An IPC child: `call(command, args)` for request and answer, `next(type)` for reports. */
export class Child {
  constructor(name, script, { env = {}, cpu, nodeArgs = [] } = {}) {
    this.name = name;
    this.pending = new Map();
    this.waiting = [];
    this.backlog = [];
    this.lastId = 0;
    this.exited = false;
    /** What the child said it started (`pids` of its ready report). */
    this.pids = [];
    /** Rejects once the child fails or exits: race it against what it should report. */
    this.failed = new Promise((_, reject) => (this.fail = reject));
    this.failed.catch(() => {});
    const node = [process.execPath, ...nodeArgs, script].map((part) => `'${part}'`).join(' ');
    const pin = placement.pinned && cpu !== undefined ? `taskset -c ${cpu} ` : '';
    const options = {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...env },
    };
    // The client and the server each hold one socket a connection: the soft limit on
    // open files is raised to the hard one for them.
    this.process = hasBash
      ? spawn('bash', ['-c', `ulimit -Sn "$(ulimit -Hn)" 2>/dev/null; exec ${pin}${node}`], options)
      : spawn(process.execPath, [...nodeArgs, script], { ...options, stdio: options.stdio });
    children.add(this.process);
    this.process.on('message', (message) => this.onMessage(message));
    this.process.on('exit', (code, signal) => {
      this.exited = true;
      children.delete(this.process);
      for (const pid of this.pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // It ended with its parent, as it should.
        }
        grandchildren.delete(pid);
      }
      const error = new Error(`${this.name} exited (${signal ?? code})`);
      for (const { reject } of this.pending.values()) reject(error);
      for (const { reject } of this.waiting) reject(error);
      this.pending.clear();
      this.waiting = [];
      this.fail(error);
    });
    this.ready = this.next('ready', 60_000);
  }

  onMessage(message) {
    if (message.type === 'ready' && Array.isArray(message.pids)) {
      this.pids = message.pids;
      for (const pid of message.pids) grandchildren.add(pid);
    }
    if (message.type === 'reply') {
      const call = this.pending.get(message.id);
      if (call === undefined) return;
      this.pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.error !== undefined) call.reject(new Error(`${this.name}: ${message.error}`));
      else call.resolve(message.result);
      return;
    }
    if (message.type === 'fatal' || message.type === 'violation') {
      this.failure ??= `${this.name}: ${message.error}`;
      this.fail(new Error(this.failure));
      for (const { reject } of this.waiting) reject(new Error(this.failure));
      this.waiting = [];
      return;
    }
    const index = this.waiting.findIndex((waiter) => waiter.type === message.type);
    if (index === -1) {
      this.backlog.push(message);
      return;
    }
    const [waiter] = this.waiting.splice(index, 1);
    clearTimeout(waiter.timer);
    waiter.resolve(message);
  }

  /** Sends a command; rejects after `timeoutMs` without an answer. */
  call(command, args = {}, timeoutMs = 60_000) {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${command} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.process.send({ id, command, args });
    });
  }

  /** The next report of a type (`done`, `progress`, `ready`), or a rejection on failure. */
  next(type, timeoutMs = 60_000) {
    const index = this.backlog.findIndex((message) => message.type === type);
    if (index !== -1) return Promise.resolve(this.backlog.splice(index, 1)[0]);
    // Rejections nobody awaits yet are not unhandled: the caller races them later.
    const rejected = (text) => {
      const promise = Promise.reject(new Error(text));
      promise.catch(() => {});
      return promise;
    };
    if (this.failure !== undefined) return rejected(this.failure);
    if (this.exited) return rejected(`${this.name} has exited`);
    const reported = new Promise((resolve, reject) => {
      const waiter = { type, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(new Error(`${this.name}: no ${type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.push(waiter);
    });
    // A failure rejects every waiter, also those nobody awaits any more.
    reported.catch(() => {});
    return reported;
  }

  /** Forgets reports nobody waited for (those of a finished phase). */
  discard() {
    this.backlog = [];
  }

  /** Asks the child to exit, and makes sure it has within a few seconds. */
  async stop() {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.call('exit', {}, 5000).catch(() => {});
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(timer);
  }
}
