import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import type { Manifest } from '../../core/manifest/types.js'
import type { RegistryStore } from '../../core/registry/types.js'
import { loadManifest } from '../../core/manifest/load-manifest.js'
import { preflight, toJsonPreflight } from '../../core/preflight.js'
import { openRegistry, resolveRegistryLocation } from '../../core/registry/open-registry.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { renderPreflight } from '../render/preflight.js'
import type { Style } from '../render/style.js'

export interface PreflightCommandOptions extends GlobalOptions, RegistryOptions {
  manifest?: string
}

/**
 * The registry for a read-only look: null when it does not exist yet (looking must not create
 * it), a PostgreSQL URL is always opened.
 */
export async function openExistingRegistry(
  location: string | undefined,
): Promise<{ store: RegistryStore | null; location: string }> {
  const resolved = resolveRegistryLocation(location)
  const exists = resolved.includes('://') || existsSync(resolved)
  return { store: exists ? await openRegistry({ location: resolved }) : null, location: resolved }
}

/** `preflight [SERVICE...]`: can every declared port be taken? Exit 1 if any cannot. */
export async function preflightCommand(
  services: string[],
  options: PreflightCommandOptions,
  style: Style,
): Promise<CommandResult> {
  const manifest: Manifest = loadManifest({ path: options.manifest })
  const needsRegistry = manifest.services.some((s) => s.ports.some((p) => p.kind === 'auto'))
  const warnings: string[] = []
  let store: RegistryStore | null = null
  try {
    store = (await openExistingRegistry(options.registry)).store
  } catch (error) {
    // Fixed ports can be judged without the registry; "auto" ports cannot.
    if (needsRegistry) throw error
    warnings.push(
      `the registry was not consulted (${error instanceof Error ? error.message : String(error)}); allocations to other projects are not checked`,
    )
  }
  try {
    const result = await preflight(manifest, {
      store,
      services: services.length > 0 ? services : undefined,
      backend: parseBackend(options.backend),
    })
    return {
      exitCode: result.ok ? EXIT.ok : EXIT.no,
      json: toJsonPreflight(result),
      text: options.json ? '' : renderPreflight(result, style),
      warnings: [...warnings, ...dedupe(result.warnings.map((w) => w.message))],
    }
  } finally {
    await store?.close()
  }
}

function dedupe(messages: string[]): string[] {
  return [...new Set(messages)]
}

const MANIFEST_HELP = `
A portwarden.toml:
  project = "shop"                 # optional; default: the worktree/directory name

  [services.web]
  ports = [8080, "9000/udp"]       # ports, "8000-8010" (one port from the range), "auto"
  command = "python3 -m http.server $PORT"
  health = { http = "/healthz", expect = 200 }   # or { tcp = true }, { postgres = true }, { redis = true }
  depends_on = ["db"]

  [services.db]
  ports = [5432]

Exit status: 0 every port can be taken, 1 some cannot, 2 bad manifest, 3 registry unreadable.`

export function registerPreflight(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('preflight')
        .description(
          'check every port the manifest declares: PASS/FAIL with who holds it and a fix; exit 1 if any is taken',
        )
        .argument('[service...]', 'only these services and what they depend on (default: all)')
        .option(
          '--manifest <file>',
          'the manifest (default: portwarden.toml here or in a parent directory)',
        )
        .addHelpText('after', MANIFEST_HELP),
    )
    .action((services: string[], options) =>
      cli.run(preflightCommand(services, cli.globals(options), cli.stdout)),
    )
}
