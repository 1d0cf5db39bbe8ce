import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Decides one answer of an `HttpStub`: the request, its whole body as text, and the response to write. */
export type StubHandler = (request: IncomingMessage, body: string, response: ServerResponse) => void;

/** A real HTTP server on 127.0.0.1 standing in for a remote service in unit tests of HTTP code. */
export class HttpStub {
  private constructor(
    readonly server: Server,
    readonly baseUrl: string,
  ) {}

  static async start(handler: StubHandler): Promise<HttpStub> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => handler(request, Buffer.concat(chunks).toString('utf8'), response));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new HttpStub(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }

  /** A handler answering `status` with `body` and `headers`. */
  static readonly reply = (status: number, body: string, headers: Record<string, string> = {}): StubHandler => {
    return (_request, _body, response) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(body);
    };
  };

  /** Stops listening and drops open connections, including requests never answered. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
