// Byte layout of a WAL segment's first page (XLogLongPageHeaderData). WAL is written in
// the server's native byte order; walwait only supports little-endian servers (x86-64,
// arm64), as does the rest of this module.

/** XLOG_PAGE_MAGIC per major: changes whenever the WAL format does. */
export const WAL_PAGE_MAGIC: Readonly<Record<number, number>> = Object.freeze({
  12: 0xd101,
  13: 0xd106,
  14: 0xd10d,
  15: 0xd110,
  16: 0xd113,
  17: 0xd116,
  18: 0xd118,
});

const MAJOR_BY_MAGIC: ReadonlyMap<number, number> = new Map(Object.entries(WAL_PAGE_MAGIC).map(([major, magic]) => [magic, Number(major)]));

/** The major whose WAL carries this magic, or undefined for an unknown one. */
export function majorForMagic(magic: number): number | undefined {
  return MAJOR_BY_MAGIC.get(magic);
}

export const SHORT_PAGE_HEADER_SIZE = 24;
export const LONG_PAGE_HEADER_SIZE = 40;

// xlp_info flags.
export const XLP_FIRST_IS_CONTRECORD = 0x0001;
export const XLP_LONG_HEADER = 0x0002;
export const XLP_BKP_REMOVABLE = 0x0004;
export const XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;

export interface LongPageHeader {
  magic: number; // xlp_magic u16 @0
  info: number; // xlp_info u16 @2
  timeline: number; // xlp_tli u32 @4: timeline of the first record on the page
  pageAddr: bigint; // xlp_pageaddr u64 @8: LSN of the page's first byte
  remLen: number; // xlp_rem_len u32 @16
  systemId: bigint; // xlp_sysid u64 @24
  segSize: number; // xlp_seg_size u32 @32
  blockSize: number; // xlp_xlog_blcksz u32 @36
}

/**
 * Decode the 40-byte long header at the start of `buf`. Decodes whatever is there:
 * judging it (magic, flags, sizes) is checkSegment's job.
 */
export function parseLongPageHeader(buf: Uint8Array): LongPageHeader {
  if (buf.length < LONG_PAGE_HEADER_SIZE) {
    throw new RangeError(`WAL page header needs ${LONG_PAGE_HEADER_SIZE} bytes, got ${buf.length}`);
  }
  const v = new DataView(buf.buffer, buf.byteOffset, LONG_PAGE_HEADER_SIZE);
  return {
    magic: v.getUint16(0, true),
    info: v.getUint16(2, true),
    timeline: v.getUint32(4, true),
    pageAddr: v.getBigUint64(8, true),
    remLen: v.getUint32(16, true),
    systemId: v.getBigUint64(24, true),
    segSize: v.getUint32(32, true),
    blockSize: v.getUint32(36, true),
  };
}
