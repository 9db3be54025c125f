// Several sources tried in order (the prefetch spool, then each -a archive): the first that holds
// a file serves it. Only the last may long-poll, so an earlier source is never starved. A source
// that cannot answer (a mount or an upstream down) does not keep a later one from serving; if none
// serves, its error is thrown, so the caller waits rather than answering "not found".
import { Interrupted, isTransient } from '../errors.js';
import type { AtomicWriteOptions } from '../archive/atomic-file.js';
import type { FindOptions, StoredFile, WalSource } from './source.js';

interface Found extends StoredFile {
  from: WalSource;
}

export class FirstOf implements WalSource {
  readonly longPolls: boolean;
  readonly localDir: string | undefined;

  constructor(private readonly sources: readonly WalSource[]) {
    if (sources.length === 0) throw new Error('FirstOf needs at least one source');
    this.longPolls = sources[sources.length - 1]!.longPolls;
    this.localDir = sources.find((s) => s.localDir)?.localDir;
  }

  describe(): string {
    return this.sources.map((s) => s.describe()).join(', ');
  }

  watchDirs(): string[] {
    return this.sources.flatMap((s) => s.watchDirs());
  }

  async find(name: string, headBytes: number, opts: FindOptions = {}): Promise<StoredFile | undefined> {
    // An unusable file (incomplete, foreign) is kept as the answer only if no later source has a
    // usable one: the first complete copy wins.
    let unusable: Found | undefined;
    let failure: unknown;
    for (const [i, source] of this.sources.entries()) {
      const last = i === this.sources.length - 1;
      let stored: StoredFile | undefined;
      try {
        stored = await source.find(name, headBytes, { ...opts, waitMs: last ? opts.waitMs : 0 });
      } catch (err) {
        if (err instanceof Interrupted || !isTransient(err)) {
          if (unusable) await unusable.from.discard(unusable);
          throw err;
        }
        failure ??= err;
        continue;
      }
      if (!stored) continue;
      const found: Found = { ...stored, from: source };
      if (!(found.problem ?? opts.check?.(found))) {
        if (unusable) await unusable.from.discard(unusable);
        return found;
      }
      if (unusable) await source.discard(found);
      else unusable = found;
    }
    if (failure !== undefined) {
      // A source that did not answer may hold a usable copy: neither "absent" nor the unusable one.
      if (unusable) await unusable.from.discard(unusable);
      throw failure;
    }
    return unusable;
  }

  restore(file: StoredFile, dest: string, opts?: AtomicWriteOptions): Promise<number> {
    return (file as Found).from.restore(file, dest, opts);
  }

  discard(file: StoredFile): Promise<void> {
    return (file as Found).from.discard(file);
  }
}
