// A deliberately broken disk for the `lying-fsync` self-test: every file fsync reports success
// without making anything durable, as a drive with a volatile write cache that ignores flushes
// would. A crash then loses acknowledged batches, which I9 (and I20 on restart) must catch.

import { DelegatingDisk, wrapFile } from '../../src/raft/disk/delegating.ts';
import type { DiskFile } from '../../src/raft/disk/disk.ts';

export class LyingDisk extends DelegatingDisk {
  override async open(path: string, mode: 'create' | 'existing'): Promise<DiskFile> {
    // The lie: a sync that syncs nothing.
    return wrapFile(await this.inner.open(path, mode), { sync: async () => {} });
  }
}
