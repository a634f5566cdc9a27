// The `vnetlab render` command: topology file → compose or Kubernetes files on disk.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { TopologyError, loadTopology } from '@vnetlab/topology';
import { UsageError } from '../args.js';
import { render, writeRendered, type RenderTarget } from './index.js';
import { DEV_RENDER_SECRET } from './lab_credentials.js';

const DEFAULT_DIR: Record<RenderTarget, string> = { compose: 'deploy/compose', k8s: 'deploy/kubernetes' };

export const devSecretWarning =
  `vnetlab render: warning: no --secret and no VNETLAB_RENDER_SECRET; NATS passwords and domain tokens are derived from the public development secret "${DEV_RENDER_SECRET}" (fine for a lab on your own machine, not for one anyone else can reach)`;

export async function cmdRender(pos: string[], f: Record<string, unknown>, out: (s: string) => void, err: (s: string) => void = () => undefined, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  // `-o DIR` (one dash) reaches here as two positionals: the CLI's parser knows only --flags
  const args = [...pos];
  let dir = f.out as string | undefined;
  const o = args.indexOf('-o');
  if (o >= 0) {
    if (o + 1 >= args.length) throw new UsageError('-o needs a directory');
    dir = args.splice(o, 2)[1];
  }
  const [target, file, ...extra] = args;
  if (target !== 'compose' && target !== 'k8s') throw new UsageError(`render needs a target, compose or k8s, got ${target === undefined ? 'none' : `"${target}"`}`);
  if (!file || extra.length) throw new UsageError('render needs one topology FILE');
  let topo;
  try {
    topo = loadTopology(file);
  } catch (e) {
    if (e instanceof TopologyError) throw new UsageError(e.message);
    throw e;
  }
  const secret = (f.secret as string | undefined) ?? env.VNETLAB_RENDER_SECRET;
  if (secret === '') throw new UsageError('the render secret is empty (--secret or VNETLAB_RENDER_SECRET); give a real one or none');
  if (secret === undefined) err(devSecretWarning);
  const files = render(target, topo, readFileSync(file, 'utf8'), { image: f.image as string, secret });
  const outDir = dir ?? DEFAULT_DIR[target];
  const written = writeRendered(files, outDir);
  out(`lab "${topo.name}" rendered for ${target === 'k8s' ? 'Kubernetes' : 'docker compose'}: ${written.length} files in ${relative(process.cwd(), outDir) || '.'}`);
  return 0;
}
