import type { Command } from 'commander';
import { registerClusterCommands } from './admin-cluster.ts';
import { registerLocalEncryptionVerbs } from './admin-encryption-local.ts';
import { registerRemoteEncryptionVerbs } from './admin-encryption-remote.ts';
import { registerAuditCommand } from './audit.ts';
import { registerDemoCommand } from './demo.ts';
import { registerDoctorCommand } from './doctor.ts';
import { registerKekCommands } from './kek.ts';
import { registerServerCommand } from './server.ts';

/**
 * The one place that lists every CLI verb. Each family lives in its own module
 * under src/cli/ and exports a `register…(program)` function.
 */
export function registerCommands(program: Command): void {
  registerDemoCommand(program);
  registerServerCommand(program);
  registerKekCommands(program);
  registerLocalEncryptionVerbs(program);
  registerRemoteEncryptionVerbs(program);
  registerClusterCommands(program);
  registerDoctorCommand(program);
  registerAuditCommand(program);
}
