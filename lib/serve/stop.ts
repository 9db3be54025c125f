// Stopping walwait serve (SIGTERM/SIGINT): stop accepting, answer the long-polls "absent" at once
// (the clients then retry or look elsewhere instead of hanging on a server that is going away),
// let downloads in flight finish for up to DRAIN_MS, then close whatever is left.
import type { Server, ServerResponse } from 'node:http';
import type { Log } from '../log.js';
import { DRAIN_MS } from './limits.js';
import type { LongPolls } from './long-poll.js';

export interface Stoppable {
  stop(longPolls: LongPolls, log: Log, reason: string): Promise<void>;
}

/** Call before listening: follows the responses under way, so a stop can end each connection as its response ends. */
export function stoppable(server: Server): Stoppable {
  const underway = new Set<ServerResponse>();
  server.on('request', (_req, res: ServerResponse) => {
    underway.add(res);
    res.once('close', () => underway.delete(res));
  });
  return {
    async stop(longPolls, log, reason) {
      log.info({ reason, waiting: longPolls.waiting }, `stopping (${reason}): answering ${longPolls.waiting} waiting request(s), finishing downloads`);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A keep-alive connection would stay open until its timeout once its response ends: end it
      // then ('close' comes after Node has detached the response from the socket).
      const closeIdle = (): void => server.closeIdleConnections();
      for (const res of underway) res.once('close', closeIdle);
      // Requests still arriving on open connections: answered, then the connection ends.
      server.prependListener('request', (_req, res: ServerResponse) => {
        res.setHeader('Connection', 'close');
        res.once('close', closeIdle);
      });
      longPolls.close();
      const timer = setTimeout(() => {
        log.warn({ hint: `downloads get ${DRAIN_MS / 1000} s at a stop` }, 'closing the connections still open');
        server.closeAllConnections();
      }, DRAIN_MS);
      await closed;
      clearTimeout(timer);
    },
  };
}
