import type { Command } from 'commander'
import type { AllocationClaim } from '../../core/registry/conflicts.js'
import { checkHealth } from '../../core/health/check-health.js'
import { claimFromAllocation, detectConflicts } from '../../core/registry/conflicts.js'
import { worktreeGone } from '../../core/registry/gone-worktrees.js'
import { readImportFile } from '../../core/registry/import-file.js'
import { toJsonAllocation, toJsonConflict } from '../../core/wire.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { renderAllocations, renderConflicts } from '../render/registry.js'
import type { Style } from '../render/style.js'
import type { RegistryOptions } from '../registry-access.js'
import { withExistingRegistry } from '../registry-access.js'
import { resolveRegistryLocation } from '../../core/registry/open-registry.js'
import { exactPorts } from '../../core/port-spec.js'
import { listSockets } from '../../core/sockets/list-sockets.js'

export interface StatusOptions extends GlobalOptions, RegistryOptions {
  project?: string
  checkConflicts?: boolean
  healthCheck?: boolean
  import?: string
}

/** `status`: the registry with health; `--health-check` re-checks, `--check-conflicts` compares with reality. */
export async function status(options: StatusOptions, style: Style): Promise<CommandResult> {
  const imported: AllocationClaim[] =
    options.import === undefined ? [] : readImportFile(options.import)
  return withExistingRegistry(options, async (store) => {
    const warnings: string[] = []
    // No registry file yet: nothing is allocated, and looking must not create one.
    const location = store?.location ?? resolveRegistryLocation(options.registry)
    let allocations = store
      ? await store.list(options.project === undefined ? {} : { project: options.project })
      : []
    const wantConflicts = options.checkConflicts === true || options.import !== undefined
    // Both asked for: one scan of the allocated ports serves both.
    const inventory =
      store && options.healthCheck && wantConflicts && allocations.length > 0
        ? await listSockets({ ports: exactPorts([...allocations, ...imported]) })
        : undefined
    if (store && options.healthCheck) {
      const checked = await checkHealth(store, { project: options.project, inventory })
      allocations = checked.results.map((r) => r.allocation)
      warnings.push(...checked.warnings.map((w) => w.message))
    }
    const report = wantConflicts
      ? await detectConflicts(
          [
            ...allocations.map(claimFromAllocation),
            ...imported.filter(
              (c) => options.project === undefined || c.project === options.project,
            ),
          ],
          { inventory },
        )
      : null
    // A shared scan's warnings came with the health check already.
    if (report && !inventory) warnings.push(...report.warnings.map((w) => w.message))
    const unhealthy =
      options.healthCheck === true &&
      allocations.some((a) => a.healthStatus === 'unhealthy' || a.healthStatus === 'not_running')
    const conflicted = (report?.conflicts.length ?? 0) > 0
    // One stat per recorded worktree, for the warning and the JSON alike.
    const gone = allocations.filter(worktreeGone)
    const goneIds = new Set(gone.map((a) => a.id))
    if (gone.length > 0) {
      const names = gone.map((a) => `${a.service} of ${a.project} (${a.port}/${a.protocol})`)
      warnings.push(
        `${gone.length === 1 ? 'an allocation belongs' : `${gone.length} allocations belong`} to a worktree that no longer exists: ${names.join(', ')}; \`portwarden release --gone\` releases ${gone.length === 1 ? 'it' : 'them'}`,
      )
    }
    const blocks = [renderAllocations(allocations, style, { location })]
    if (report) blocks.push(renderConflicts(report, style))
    return {
      exitCode: unhealthy || conflicted ? EXIT.no : EXIT.ok,
      json: {
        registry: location,
        allocations: allocations.map((a) => ({
          ...toJsonAllocation(a),
          worktree_gone: goneIds.has(a.id),
        })),
        ...(report
          ? { conflicts: report.conflicts.map(toJsonConflict), summary: report.summary }
          : {}),
      },
      text: blocks.join('\n\n'),
      warnings,
    }
  })
}

export function registerStatus(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('status')
        .description(
          'the registry: allocations with health; --check-conflicts compares it with reality',
        )
        .option('--project <name>', 'one project only')
        .option(
          '--check-conflicts',
          'report REGISTRY CONFLICT, SYSTEM CONFLICT and ALLOCATION MISMATCH',
        )
        .option(
          '--health-check',
          'check each service now (bind, listen, answer) and record the result',
        )
        .option(
          '--import <file>',
          'include another tool\'s JSON registry ({"allocations": [...]}) in the conflict report',
        ),
    )
    .action((options) => cli.run(status(cli.globals(options), cli.stdout)))
}
