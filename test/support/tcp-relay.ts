import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay to a server that can be cut: what is behind it loses the server at once, its
 * sockets closed and new ones refused, as when its process is killed. Nothing of it runs
 * its clean-up on the server.
 */
export class TcpRelay {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    /** The relay's `host:port`. */
    readonly address: string,
  ) {}

  /**
   * A relay on a free port of 127.0.0.1 to `host:port`. `delayMs`: how long what the client
   * sends waits before it goes on to the server (it then reaches the server late, its
   * subscriptions too).
   */
  static async start(host: string, port: number, delayMs = 0): Promise<TcpRelay> {
    let relay: TcpRelay | undefined;
    const server = createServer((socket) => {
      const upstream = connect(port, host);
      for (const end of [socket, upstream]) {
        relay!.sockets.add(end);
        end.on('close', () => relay!.sockets.delete(end));
        end.on('error', () => undefined);
      }
      if (delayMs > 0) {
        // Timers of one delay fire in the order they were set: the bytes keep their order.
        socket.on('data', (chunk) => setTimeout(() => upstream.write(chunk), delayMs));
        upstream.pipe(socket);
      } else {
        socket.pipe(upstream).pipe(socket);
      }
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const relayPort = typeof address === 'object' && address !== null ? address.port : 0;
    relay = new TcpRelay(server, `127.0.0.1:${relayPort}`);
    return relay;
  }

  cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    return closed;
  }
}
