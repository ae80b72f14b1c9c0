import type { Command } from 'commander';
import { ClusterAdminClient } from '../admin/client.ts';
import type { ClusterStatus } from '../admin/handlers.ts';
import { checkMemberId, validateAddLearner } from '../admin/validate.ts';
import {
  type ConnectionFlags,
  connection,
  runRemote,
  usage,
  withConnectionFlags,
} from './admin-encryption-remote.ts';

async function withClient<T>(flags: ConnectionFlags, run: (c: ClusterAdminClient) => Promise<T>): Promise<T> {
  const { endpoint, timeoutMs } = connection(flags);
  const client = new ClusterAdminClient(endpoint, { timeoutMs });
  try {
    return await run(client);
  } finally {
    client.close();
  }
}

/**
 * `--json` renders uint64 values as exact JSON integers, except full_node_id,
 * a decimal string: it routinely exceeds 2^53 and most JSON readers would
 * round it.
 */
export function clusterStatusJson(s: ClusterStatus): string {
  const members = s.members.map(
    (m) =>
      `{"id":${JSON.stringify(m.id)},"role":"${m.role}","raft_addr":${JSON.stringify(m.raftAddr)},` +
      `"admin_addr":${JSON.stringify(m.adminAddr)},"full_node_id":"${m.fullNodeId}"}`,
  );
  return (
    `{"node_id":${JSON.stringify(s.nodeId)},"leader_id":${JSON.stringify(s.leaderId)},"term":${s.term},` +
    `"commit_index":${s.commitIndex},"applied_index":${s.appliedIndex},"members":[${members.join(',')}]}`
  );
}

export function clusterStatusLines(s: ClusterStatus): string {
  const lines = [
    `node_id: ${s.nodeId}`,
    `leader: ${s.leaderId.length > 0 ? s.leaderId : '<none>'}`,
    `term: ${s.term}`,
    `commit_index: ${s.commitIndex}`,
    `applied_index: ${s.appliedIndex}`,
    'members:',
    ...s.members.map(
      (m) =>
        `  id=${m.id} role=${m.role} raft_addr=${m.raftAddr} admin_addr=${m.adminAddr} full_node_id=${m.fullNodeId}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

function findOrCreate(parent: Command, name: string, description: string): Command {
  return parent.commands.find((c) => c.name() === name) ?? parent.command(name).description(description);
}

/** `sealkv admin cluster status|add-learner|promote|remove|transfer-leader` (interface.md §2). */
export function registerClusterCommands(program: Command): void {
  const admin = findOrCreate(program, 'admin', 'administer a running cluster');
  const cluster = findOrCreate(admin, 'cluster', 'membership of the consensus group');

  withConnectionFlags(
    cluster.command('status').description('members, leader, term, commit and applied index').option('--json'),
  ).action((flags: ConnectionFlags & { json?: boolean }) =>
    runRemote(() =>
      withClient(flags, async (c) => {
        const s = await c.status();
        process.stdout.write(flags.json === true ? `${clusterStatusJson(s)}\n` : clusterStatusLines(s));
      }),
    ),
  );

  withConnectionFlags(
    cluster
      .command('add-learner')
      .description('add a non-voting member (probes its capability and pre-registers it when encrypted)')
      .requiredOption('--id <raft-id>', 'the new member')
      .requiredOption('--raft-addr <host:port>', 'its peer transport address')
      .requiredOption('--admin-addr <host:port>', 'its admin address'),
  ).action((flags: ConnectionFlags & { id: string; raftAddr: string; adminAddr: string }) =>
    runRemote(async () => {
      const req = { id: flags.id, raftAddr: flags.raftAddr, adminAddr: flags.adminAddr };
      usage(() => validateAddLearner(req));
      const res = await withClient(flags, (c) => c.addLearner(req));
      process.stdout.write(`added-learner id=${req.id} applied_index=${res.appliedIndex}\n`);
    }),
  );

  for (const [verb, past, description] of [
    ['promote', 'promoted', 'make a caught-up learner a voter'],
    ['remove', 'removed', 'remove a member (its writer-registry rows stay)'],
  ] as const) {
    withConnectionFlags(
      cluster.command(verb).description(description).requiredOption('--id <raft-id>', 'the member'),
    ).action((flags: ConnectionFlags & { id: string }) =>
      runRemote(async () => {
        usage(() => checkMemberId('--id', flags.id));
        const res = await withClient(flags, (c) =>
          verb === 'promote' ? c.promote(flags.id) : c.remove(flags.id),
        );
        process.stdout.write(`${past} id=${flags.id} applied_index=${res.appliedIndex}\n`);
      }),
    );
  }

  withConnectionFlags(
    cluster
      .command('transfer-leader')
      .description('hand leadership to another voter')
      .requiredOption('--to <raft-id>', 'the voter to lead'),
  ).action((flags: ConnectionFlags & { to: string }) =>
    runRemote(async () => {
      usage(() => checkMemberId('--to', flags.to));
      const res = await withClient(flags, (c) => c.transferLeader(flags.to));
      process.stdout.write(`transferred leader=${res.leaderId}\n`);
    }),
  );
}
