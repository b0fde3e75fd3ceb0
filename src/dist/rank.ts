// Which process of a launched world this is, from torchrun's environment alone: no native code, so the CLI can ask
// before libtorch is loaded (and in commands that never form a process group).

/** Whether this process writes the data of a run (stdout, published outputs): no WORLD_SIZE, or global RANK 0. */
export function isLeadProcess(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['WORLD_SIZE'] === undefined || env['WORLD_SIZE'] === '') return true;
  const rank = env['RANK'];
  return rank === undefined || rank === '' || Number(rank) === 0;
}
