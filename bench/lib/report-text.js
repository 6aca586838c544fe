/** The prose of docs/benchmarks.md that does not come from the figures of a run. */

/** What each server is. */
export const SERVER_NOTES = [
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
  '- `nestjs-sse-hub+redis-cluster`: the same two instances on a Redis Cluster of three ' +
    'masters without replicas, which the benchmark starts on free ports for the row and ends ' +
    'after it (`redis-server` and `redis-cli`; skipped where they are not installed).',
  '- `nestjs-sse-hub+nats`: the same two instances on one NATS server with JetStream ' +
    '(history in a memory stream).',
  '- `nestjs-sse-hub:http-publish`: the defaults on Fastify, with messages coming over HTTP ' +
    'to the smallest NestJS route (`POST /pub/:channel`, `all` broadcasts) from a publisher ' +
    'process: the same path as `nchan`, for a fair comparison with it.',
  "- `nchan`: nginx with the [nchan](https://nchan.io) module from Debian's packages, one " +
    'nginx process (`master_process off`, its own single worker) pinned like the other ' +
    "servers; each subscriber is multiplexed over its user's channel and one shared channel, " +
    'channels keep the last 100 messages for 5 minutes (as the history of the library does), ' +
    "and messages come through nchan's HTTP publisher. A new subscriber starts from the " +
    'newest message (`nchan_subscriber_first_message newest`), which nchan places at the ' +
    'current second, so connections are opened once the second of the last message is over. ' +
    'Skipped where nginx or the module is not installed.',
];

/**
 * Where each server spends its time: from `--cpu-prof` profiles of the unicast and the
 * connect phases at 1k connections (`BENCH_NODE_ARGS`, `--phases`), and from how the others
 * are built.
 */
export const TIME_NOTES = [
  'Profiled with `BENCH_NODE_ARGS="--cpu-prof" node bench/run.js --servers=<server> ' +
    '--sizes=1000 --phases=unicast` (or `--phases=connect`), the Node servers spend most of ' +
    'a send in the kernel, writing to the socket: one write per connection per turn of the ' +
    'event loop, the same for every server here. What differs is the rest:',
  "- `raw-node`: little else; `node:http`'s own cork and uncork around each write, and the " +
    "benchmark's send loop. A connect is Node's HTTP parser, `writeHead` and one write.",
  '- `nestjs-sse-hub` (Express and Fastify alike, as the send path does not touch the ' +
    'framework): per send, beside the write, the envelope (the id and the serialised data), ' +
    'the history (a ring per user), one frame framed once as an HTTP chunk and a loop over the ' +
    "user's connections: about 6.6 µs of a send at 10,000 connections against 12 µs of socket " +
    'writes (a profile of 250,000 sends), and more garbage collection than `raw-node`. Per ' +
    "connect (a profile at 10,000 on Express): the library's own part (resolving the user, " +
    "the registry, the first event, the close listener) is about 7 % of the server's busy " +
    "time and Node's `writeHead` 5 %; Express's router, application and body parsers are 12 %, " +
    "Node's HTTP code 38 % (raw-node's profile has less of it) and garbage collection 30 % " +
    "(twice raw-node's), most of the garbage Express's and NestJS's per-request objects. " +
    'Memory per connection (heap snapshots at 2,000 connections): the library keeps about ' +
    "0.4 KB (the connection, its sink, its close listener, its place in the user's group); " +
    'on Express, each request and response gets a V8 hidden class of its own (about 2.4 KB), ' +
    "and Express's dictionaries (headers kept by `setHeader`, `res.locals`, `req.params`) " +
    'another 0.8 KB, which `raw-node` and Fastify do not pay.',
  "- `nestjs-sse-hub:observable` and `nestjs-naive`: NestJS's own `@Sse()` pipeline, which " +
    'formats every event again for every connection (an rxjs pipeline and a stream per ' +
    'response), so a broadcast costs a serialisation per delivery.',
  '- `better-sse`: a session per connection that serialises each event it is given, so a ' +
    "channel's broadcast also formats once per session.",
  '- `nestjs-sse-hub+redis`: a Redis round trip per message (the history written by a script, ' +
    "then the fan-out), its CPU split between the two instances; Redis's own time is not " +
    'counted here (see `bench/redis-throughput.js`).',
  '- `nestjs-sse-hub+redis-cluster`: the same script per message on the master of the ' +
    "user's slot (broadcasts on the master of the broadcast slot), through ioredis's " +
    "`Cluster` client; the masters' time is not counted here (see `bench/broker-throughput.js`).",
  '- `nestjs-sse-hub+nats`: a JetStream publish per message, acknowledged once kept, then the ' +
    "core fan-out to the instance that has the user; the NATS server's own time is not counted " +
    'here (see `bench/nats-throughput.js`).',
  "- `nestjs-sse-hub:http-publish`: an HTTP request per message on top of the send: Node's " +
    "parser, Fastify's router and JSON body parser, NestJS's execution context, and a " +
    'second socket write per message, the answer to the publisher.',
  "- `nchan`: C in nginx's event loop, with no garbage collector: a publish is parsed, " +
    'stored in shared memory and written to each subscriber; a connect is an accept, a header ' +
    'parse and one write.',
];
