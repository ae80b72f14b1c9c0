import { toHex } from '../../util/bytes.ts';
import {
  decideRegistryRow,
  decodeRegistryValue,
  encodeRegistryValue,
  nodeId16,
  type RegistryRow,
  registryKey,
} from '../registry/codec.ts';
import type { RegistryStore } from '../registry/store.ts';
import type { WriterRow } from '../wire/fsm.ts';

export type RowsResult = 'written' | 'replayed' | 'unchanged';

/**
 * Applies one entry's writer rows (§5) as one atomic synced batch. Rows of an
 * entry at or below `registry-index` are already durable and are skipped
 * without being re-judged: judged against the newer state they could look
 * like a rollback and halt forever. Rows of one entry that share a key see
 * each other, in entry order.
 */
export async function applyWriterRows(
  store: RegistryStore,
  index: bigint,
  rows: readonly WriterRow[],
): Promise<RowsResult> {
  if (index <= store.registryIndex()) return 'replayed';
  const pending = new Map<string, { key: Uint8Array; row: RegistryRow }>();
  for (const w of rows) {
    const key = registryKey(w.dekId, nodeId16(w.fullNodeId));
    const hex = toHex(key);
    const stored = store.get(key);
    const existing =
      pending.get(hex)?.row ?? (stored === undefined ? undefined : decodeRegistryValue(stored));
    const verdict = decideRegistryRow(existing, w.dekId, w.fullNodeId, w.localEpoch);
    if (verdict.kind !== 'noop') pending.set(hex, { key, row: verdict.row });
  }
  if (pending.size === 0) return 'unchanged';
  await store.commitRows(
    [...pending.values()].map(({ key, row }) => ({ key, value: encodeRegistryValue(row) })),
    index,
  );
  return 'written';
}
