// What happens to connections outside a request: malformed or oversized requests, clients too slow
// to send their headers (slowloris), connections over the limit, failed TLS handshakes. Each is
// answered as Node would (400/408/431, then closed) and logged, so an operator sees abuse.
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Log } from '../log.js';
import { RateLimitedLog } from '../log.js';
import { HEADERS_TIMEOUT_MS, MAX_CONNECTIONS, MAX_HEADER_SIZE } from './limits.js';

const REASONS: Record<string, { status: number; why: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, why: `request line and headers over ${MAX_HEADER_SIZE} bytes` },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, why: `request not received within ${HEADERS_TIMEOUT_MS / 1000} s` },
};

export function watchConnections(server: Server, log: Log): void {
  // The response under way on each socket: an error reply must not land inside a body being sent.
  const responses = new WeakMap<Socket, ServerResponse>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => responses.set(req.socket, res));

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const remote = socket.remoteAddress ?? '?';
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
      log.debug({ remote, code: err.code }, `${remote}: connection reset`);
      socket.destroy();
      return;
    }
    const { status, why } = REASONS[err.code ?? ''] ?? { status: 400, why: `malformed request (${err.code ?? err.message})` };
    const res = responses.get(socket);
    if (!(res?.headersSent && !res.writableFinished)) {
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
    log.info({ remote, status, code: err.code }, `${remote} - - ${status} closed: ${why}`);
  });

  const drops = new RateLimitedLog(60_000);
  server.on('drop', (data?: { remoteAddress?: string }) => {
    if (drops.shouldLog('drop')) {
      log.warn(
        { remote: data?.remoteAddress, hint: 'each standby needs one connection; look for clients that keep many open' },
        `refused a connection from ${data?.remoteAddress ?? '?'}: ${MAX_CONNECTIONS} connections open (the limit)`,
      );
    }
  });

  // A client that does not trust our certificate ends the handshake: worth a line, at debug.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    log.debug({ remote: socket.remoteAddress, code: err.code }, `TLS handshake with ${socket.remoteAddress ?? '?'} failed: ${err.message}`);
  });
}
