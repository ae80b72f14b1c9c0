export { DelegatingDisk, wrapFile } from './delegating.ts';
export { type Disk, type DiskFile, dirOf, diskError, errnoOf, joinPath, type RandFn } from './disk.ts';
export { NodeDisk, type NodeDiskOptions } from './node-disk.ts';
export {
  type CrashOptions,
  SECTOR,
  SimDisk,
  type SimDiskOp,
  type SimFaultFn,
  type SimGateFn,
} from './sim-disk.ts';
export { TimedDisk } from './timed.ts';
