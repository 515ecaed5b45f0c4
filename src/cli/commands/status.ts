import type { Command } from 'commander'
import type { AllocationClaim } from '../../core/registry/conflicts.js'
import { readImportFile } from '../../core/registry/import-file.js'
import { registryStatus } from '../../core/registry/status.js'
import { toJsonStatus } from '../../core/wire.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { renderAllocations, renderConflicts } from '../render/registry.js'
import type { Style } from '../render/style.js'
import type { RegistryOptions } from '../registry-access.js'
import { withExistingRegistry } from '../registry-access.js'
import { resolveRegistryLocation } from '../../core/registry/open-registry.js'

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
    // No registry file yet: nothing is allocated, and looking must not create one.
    const location = store?.location ?? resolveRegistryLocation(options.registry)
    const result = await registryStatus(store, {
      location,
      project: options.project,
      checkConflicts: options.checkConflicts,
      healthCheck: options.healthCheck,
      imported,
    })
    const blocks = [renderAllocations(result.allocations, style, { location })]
    if (result.report) blocks.push(renderConflicts(result.report, style))
    const conflicted = (result.report?.conflicts.length ?? 0) > 0
    return {
      exitCode: result.unhealthy || conflicted ? EXIT.no : EXIT.ok,
      json: toJsonStatus(result),
      text: blocks.join('\n\n'),
      warnings: result.warnings.map((w) => w.message),
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
