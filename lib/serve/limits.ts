// Every limit of `walwait serve`, in one place (the protocol's "Limits"; docs/serve.md, "Serving the
// archive over HTTP"). The server faces the network: each limit bounds what one client can hold (sockets,
// memory, waiting slots, time) so that a slow or hostile client cannot starve the standbys.

/** server.maxConnections: further connections are closed at once (each standby needs one). */
export const MAX_CONNECTIONS = 64;

/** The request line and headers must arrive within this (slowloris). */
export const HEADERS_TIMEOUT_MS = 10_000;

/** The whole request (line + headers; bodies are refused) must arrive within this. */
export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * How often Node checks the two timeouts above. Its default (30 s) would let a slow client hold a
 * connection for up to 40 s instead of 10.
 */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

/** Request line + headers, in bytes: more is answered 431. A real request needs a few hundred. */
export const MAX_HEADER_SIZE = 8 * 1024;

/** An idle keep-alive connection is closed after this. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Longest ?wait= a client may ask for, in seconds. */
export const MAX_WAIT_SECONDS = 300;

/** Requests held in a long-poll at once; beyond, 503 with Retry-After. */
export const MAX_WAITING = 256;

/** Seconds a client is told to wait (Retry-After) when every waiting slot is taken. */
export const RETRY_AFTER_SECONDS = 1;

/** A socket that accepts no response bytes for this long is destroyed (a reader that stalls). */
export const BODY_STALL_MS = 60_000;

/** At a stop, in-flight downloads get this long to finish before their sockets are closed. */
export const DRAIN_MS = 10_000;

/** Longer names are refused before any parsing: the longest WAL name (a .backup file) has 40 characters. */
export const MAX_NAME_LENGTH = 64;
