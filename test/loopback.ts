/**
 * The HTTP server under every fake of a test (STS, LWA, SP-API, IAM, SQS, misbehaving peers): on 127.0.0.1 at a
 * free port, never beyond loopback. `stop` ends the connections still open too, a stalled client's included, so
 * a test that leaves a peer hanging does not keep the run alive. A fake extends it and answers in `handle`.
 */
import * as http from "http";
import type { AddressInfo, Socket } from "net";

export abstract class LoopbackServer {
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void;

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Connections still open: a client that gave up has closed its own. */
  get openConnections(): number {
    return this.sockets.size;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
