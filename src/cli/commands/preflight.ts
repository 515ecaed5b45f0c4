import type { Command } from 'commander'
import type { Manifest } from '../../core/manifest/types.js'
import { PortwardenError, isPortwardenError } from '../../core/errors.js'
import { loadManifest } from '../../core/manifest/load-manifest.js'
import type { PortSpec } from '../../core/port-spec.js'
import { formatPortSpec, parsePortSpec } from '../../core/port-spec.js'
import {
  preflight,
  preflightSpecs,
  preflightStatus,
  toJsonPreflight,
} from '../../core/preflight.js'
import { validateName } from '../../core/registry/names.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { consultRegistry, openExistingRegistry } from '../registry-access.js'
import { renderPreflight } from '../render/preflight.js'
import { timeWaitCaveat } from '../../core/messages.js'
import type { Style } from '../render/style.js'

export interface PreflightCommandOptions extends GlobalOptions, RegistryOptions {
  manifest?: string
  port?: string[]
  project?: string
}

const PORTS_USAGE =
  'Usage: portwarden preflight [SERVICE...] (from portwarden.toml), or portwarden preflight --port SPEC... [--project P]'

/**
 * `preflight [SERVICE...]`: can every declared port be taken? `preflight --port SPEC...`: the
 * same for ports given here, without a manifest. Exit 1 if any cannot.
 */
export async function preflightCommand(
  services: string[],
  options: PreflightCommandOptions,
  style: Style,
): Promise<CommandResult> {
  const specs = parsePreflightPorts(options.port ?? [])
  if (specs.length > 0) {
    const extra =
      services.length > 0
        ? `service ${JSON.stringify(services[0])}`
        : options.manifest !== undefined
          ? '--manifest'
          : null
    if (extra !== null) {
      throw new PortwardenError(
        'invalid_request',
        `preflight --port checks the ports given, without a manifest: ${extra} does not go with it.`,
        { hint: PORTS_USAGE },
      )
    }
  } else if (options.project !== undefined) {
    throw new PortwardenError(
      'invalid_request',
      "--project goes with --port; a manifest's project is its own (project = ... in portwarden.toml).",
      { hint: PORTS_USAGE },
    )
  }
  const manifest: Manifest | null = specs.length > 0 ? null : findTheManifest(options.manifest)
  const needsRegistry =
    manifest?.services.some((s) => s.ports.some((p) => p.kind === 'auto')) ?? false
  // Fixed ports can be judged without the registry; "auto" ports cannot.
  const { store, warnings } = needsRegistry
    ? { store: await openExistingRegistry(options), warnings: [] as string[] }
    : await consultRegistry(
        options,
        (reason) =>
          `the registry was not consulted (${reason}); allocations to other projects are not checked`,
      )
  try {
    const backend = parseBackend(options.backend)
    const result = manifest
      ? await preflight(manifest, {
          store,
          services: services.length > 0 ? services : undefined,
          backend,
        })
      : await preflightSpecs(specs, {
          store,
          backend,
          project:
            options.project === undefined ? undefined : validateName('project', options.project),
        })
    // A [WARN] line says its TIME-WAIT caveat itself; stderr repeats it only beside --json.
    const shown = new Set(
      options.json
        ? []
        : result.ports
            .filter((p) => preflightStatus(p) === 'warn')
            .map((p) => timeWaitCaveat(p.check)),
    )
    return {
      exitCode: result.ok ? EXIT.ok : EXIT.no,
      json: toJsonPreflight(result),
      text: options.json ? '' : renderPreflight(result, style),
      warnings: [
        ...warnings,
        ...dedupe(result.warnings.filter((w) => !shown.has(w)).map((w) => w.message)),
      ],
    }
  } finally {
    await store?.close()
  }
}

function dedupe(messages: string[]): string[] {
  return [...new Set(messages)]
}

/** The manifest, or, when there is none to find, the error pointing at `--port` too. */
function findTheManifest(path: string | undefined): Manifest {
  try {
    return loadManifest({ path })
  } catch (error) {
    const searched = isPortwardenError(error) && error.details?.file === null && path === undefined
    if (!searched) throw error
    throw new PortwardenError(error.code, error.message, {
      hint: `${error.hint ?? ''}\nOr check ports without a manifest: portwarden preflight --port 8080 --port 51820/udp`,
      details: error.details,
    })
  }
}

/**
 * `--port 8080 --port 51820/udp,8000-8010`: port specs (a range stands for one port of it, as in
 * a manifest), each port once.
 */
export function parsePreflightPorts(values: readonly string[]): { spec: PortSpec; text: string }[] {
  const specs: { spec: PortSpec; text: string }[] = []
  for (const text of values.flatMap((value) => value.split(','))) {
    const spec = parsePortSpec(text)
    const other = specs.find(
      ({ spec: seen }) =>
        seen.protocol === spec.protocol && seen.from <= spec.to && spec.from <= seen.to,
    )
    if (other) {
      throw new PortwardenError(
        'invalid_request',
        other.spec.from === spec.from && other.spec.to === spec.to
          ? `--port ${formatPortSpec(spec)} is given twice.`
          : `--port ${formatPortSpec(spec)} overlaps --port ${formatPortSpec(other.spec)}: give each port once.`,
        { hint: PORTS_USAGE },
      )
    }
    specs.push({ spec, text })
  }
  return specs
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

Without a manifest (a runbook's ports), --port SPEC... gives the same table and fixes:
  portwarden preflight --port 8080 --port 51820/udp --port 8000-8010
(a range passes while one port in it is free, as in a manifest; check SPEC judges every port).

Exit status: 0 every port can be taken, 1 some cannot, 2 bad manifest or usage, 3 registry unreadable.`

export function registerPreflight(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('preflight')
        .description(
          'check every port the manifest declares: PASS/FAIL with who holds it and a fix; exit 1 if any is taken',
        )
        .usage('[SERVICE...] [--manifest FILE] | --port SPEC... [--project P]')
        .argument('[service...]', 'only these services and what they depend on (default: all)')
        .option(
          '--manifest <file>',
          'the manifest (default: portwarden.toml here or in a parent directory)',
        )
        .option(
          '--port <spec>',
          'check this port instead of a manifest (repeatable: 8080, 51820/udp, 8000-8010)',
          (value: string, previous: string[] = []) => [...previous, value],
        )
        .option(
          '--project <name>',
          'with --port: the project whose registry allocations are its own (default: the git worktree name)',
        )
        .addHelpText('after', MANIFEST_HELP),
    )
    .action((services: string[], options) =>
      cli.run(preflightCommand(services, cli.globals(options), cli.stdout)),
    )
}
