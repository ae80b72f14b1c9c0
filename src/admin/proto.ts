import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { Err } from '../util/codes.ts';
import { sealError } from '../util/errors.ts';

/**
 * Loads the .proto files at runtime (no codegen). Options:
 * - keepCase: field names stay snake_case exactly as in the spec;
 * - longs: String — uint64 values decode as decimal strings and are converted
 *   to bigint in wire.ts, so 2^64-1 survives (Number would round it);
 * - enums: String — `purpose` arrives as "STORAGE"; an unknown number stays a
 *   number and is treated as UNSPECIFIED;
 * - defaults: true — proto3 absent fields decode as their zero values, so a
 *   missing id is 0 and fails validation rather than being undefined;
 * - oneofs: true — harmless, no oneofs today.
 */
const OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export const PROTO_PACKAGE = 'sealkv.admin.v1';

/**
 * The .proto files sit next to this module in src/; a `tsc` build to dist/
 * does not copy them, so a built module falls back to the source tree.
 */
function protoPath(name: string): string {
  const candidates = [`./proto/${name}`, `../../src/admin/proto/${name}`].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string);
}

let cached: { encryption: ServiceDefinition; cluster: ServiceDefinition } | undefined;

function isServiceDefinition(v: unknown): v is ServiceDefinition {
  return typeof v === 'object' && v !== null && !('format' in v);
}

/** The two service definitions, shared by server and clients. */
export function adminServices(): { encryption: ServiceDefinition; cluster: ServiceDefinition } {
  if (cached !== undefined) return cached;
  const def = loadSync([protoPath('encryption.proto'), protoPath('cluster.proto')], OPTIONS);
  const encryption = def[`${PROTO_PACKAGE}.EncryptionAdmin`];
  const cluster = def[`${PROTO_PACKAGE}.ClusterAdmin`];
  if (!isServiceDefinition(encryption) || !isServiceDefinition(cluster)) {
    throw sealError(Err.Internal, 'admin .proto files do not define EncryptionAdmin and ClusterAdmin');
  }
  cached = { encryption, cluster };
  return cached;
}
