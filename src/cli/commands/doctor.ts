import type { Command } from 'commander'
import { timeWaitCaveat } from '../../core/messages.js'
import type { Manifest } from '../../core/manifest/types.js'
import type { RegistryStore } from '../../core/registry/types.js'
import { doctor, toJsonDoctor } from '../../core/doctor.js'
import { findManifest, loadManifest } from '../../core/manifest/load-manifest.js'
import { defaultProject } from '../../core/registry/names.js'
import { resolveRegistryLocation } from '../../core/registry/open-registry.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { renderDoctor } from '../render/preflight.js'
import type { Style } from '../render/style.js'
import { openExistingRegistry } from '../registry-access.js'

export interface DoctorCommandOptions extends GlobalOptions, RegistryOptions {
  manifest?: string
  project?: string
}

/**
 * `doctor`: manifest ports, registry conflicts and health in one report. Exit 1 on any FAIL, 3
 * when the registry cannot be read, 2 for a manifest that is named but missing, or invalid.
 */
export async function doctorCommand(
  options: DoctorCommandOptions,
  style: Style,
): Promise<CommandResult> {
  const cwd = process.cwd()
  // A manifest that is named, or found, must be valid (exit 2); having none is only a warning.
  const manifest: Manifest | null =
    options.manifest !== undefined || findManifest(cwd) !== null
      ? loadManifest({ path: options.manifest, cwd })
      : null
  let store: RegistryStore | null = null
  let registryError: unknown
  const location = resolveRegistryLocation(options.registry)
  try {
    store = await openExistingRegistry(options)
  } catch (error) {
    registryError = error
  }
  try {
    const report = await doctor({
      manifest,
      searchedFrom: cwd,
      project: options.project ?? manifest?.project ?? defaultProject(cwd),
      store,
      registryLocation: location,
      registryError,
      backend: parseBackend(options.backend),
    })
    const shownCaveats = new Set(
      report.checks.map((c) =>
        c.status === 'warn' && c.port ? timeWaitCaveat(c.port.check) : null,
      ),
    )
    return {
      exitCode: report.environmentFailed
        ? EXIT.environment
        : report.summary.fail > 0
          ? EXIT.no
          : EXIT.ok,
      json: toJsonDoctor(report),
      text: options.json ? '' : renderDoctor(report, style),
      // A [WARN] port line says its TIME-WAIT caveat itself; stderr repeats it only beside --json.
      warnings: [
        ...new Set(
          report.warnings.filter((w) => options.json || !shownCaveats.has(w)).map((w) => w.message),
        ),
      ],
    }
  } finally {
    await store?.close()
  }
}

export function registerDoctor(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('doctor')
        .description(
          'every check at once: manifest ports, registry conflicts, health; exit 1 on any FAIL',
        )
        .option(
          '--manifest <file>',
          'the manifest (default: portwarden.toml here or in a parent directory)',
        )
        .option(
          '--project <name>',
          "whose allocations to check (default: the manifest's project, else the worktree name)",
        ),
    )
    .action((options) => cli.run(doctorCommand(cli.globals(options), cli.stdout)))
}
