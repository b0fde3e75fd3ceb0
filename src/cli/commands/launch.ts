// `drhard launch`: runs N ranks of a drhard command on this node with torchrun's environment (see src/dist/launch.ts).
import type { Command } from 'commander';
import { z } from 'zod';
import { defineCommand } from '../command.ts';

const options = z.object({
  command: z.array(z.string()).min(1).describe('the drhard command and its flags, after --'),
  nprocPerNode: z.coerce.number().int().positive().describe('ranks to start on this node (torchrun --nproc-per-node)'),
  nnodes: z.coerce.number().int().positive().default(1).describe('nodes in the job (default 1)'),
  nodeRank: z.coerce.number().int().min(0).default(0).describe('this node\'s index, 0 … nnodes-1 (default 0)'),
  masterAddr: z.string().default('127.0.0.1').describe('address of the node hosting rank 0 (default 127.0.0.1)'),
  masterPort: z.coerce.number().int().min(1).max(65535).default(29500).describe('port of rank 0\'s store (default 29500)'),
  graceSeconds: z.coerce.number().positive().default(10).describe('after one rank fails: seconds between SIGTERM and SIGKILL for the others (default 10)'),
});

export function register(program: Command): void {
  defineCommand(program, {
    name: 'launch',
    description: "Run a drhard command as N distributed ranks with torchrun's environment: drhard launch --nproc-per-node 2 -- train ...",
    schema: options,
    args: ['command'],
    placeholders: { masterAddr: 'host', masterPort: 'port', graceSeconds: 's' },
    run: async (o) => {
      const { launch } = await import('../../dist/launch.ts');
      const r = await launch({ ...o, graceMs: o.graceSeconds * 1000 });
      process.exitCode = r.exitCode;
    },
  });
}
