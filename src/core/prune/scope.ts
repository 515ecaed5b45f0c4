/**
 * Whose leftovers `prune` looks for: the project of the current directory (its manifest's, else
 * its git worktree's name) or the one named, with the directories that are that project's.
 */
import { resolve } from 'node:path'
import { findManifest, loadManifest } from '../manifest/load-manifest.js'
import { projectRoot } from '../manifest/resolve-ports.js'
import type { Manifest } from '../manifest/types.js'
import { defaultProject, findWorktreeRoot, validateName } from '../registry/names.js'
import type { RegistryStore } from '../registry/types.js'
import type { PortKey } from '../free/plan-free.js'
import type { PruneScope } from './plan-prune.js'

export interface ScopeRequest {
  /** The directory asked from (default: the process's). */
  cwd?: string
  /** A project other than the directory's: then only its registry rows say what is its. */
  project?: string
  /** A manifest file or directory; default: the nearest `portwarden.toml` above `cwd`. */
  manifest?: string
}

/** The manifest's fixed single ports (ranges and `auto` come from the registry's rows). */
function fixedPorts(manifest: Manifest): PortKey[] {
  const ports: PortKey[] = []
  for (const service of manifest.services)
    for (const entry of service.ports)
      if (entry.kind === 'spec' && entry.spec.from === entry.spec.to)
        ports.push({ port: entry.spec.from, protocol: entry.spec.protocol })
  return ports
}

/**
 * The scope: a directory with no manifest and outside any git worktree contributes no directory
 * (a home directory is nobody's project), only the registry rows of its default project.
 */
export async function pruneScope(
  request: ScopeRequest,
  store: RegistryStore | null,
): Promise<PruneScope> {
  const cwd = resolve(request.cwd ?? process.cwd())
  const manifestPath =
    request.manifest !== undefined
      ? request.manifest
      : findManifest(cwd) === null
        ? null
        : undefined
  const manifest = manifestPath === null ? null : loadManifest({ cwd, path: manifestPath })
  const local = manifest?.project ?? defaultProject(cwd)
  const project = request.project === undefined ? local : validateName('project', request.project)
  const isLocal = project === local
  const root = manifest ? projectRoot(manifest) : findWorktreeRoot(cwd)
  return {
    project,
    roots: isLocal && root !== null ? [root] : [],
    manifestPorts: isLocal && manifest ? fixedPorts(manifest) : [],
    allocations: store ? await store.list({}) : [],
  }
}
