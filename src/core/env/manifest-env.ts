/**
 * `portwarden env`: every port a manifest declares, as environment variables for docker compose's
 * `.env`, direnv or `source`. Ports that are not fixed come from the registry, so they are stable
 * across runs and distinct across worktrees: `"auto"` is allocated per project and port name, and
 * a range gets (and keeps) an allocation inside it.
 */
import { PortwardenError } from '../errors.js'
import type { Manifest } from '../manifest/types.js'
import { ownAllocation, portName, projectRoot } from '../manifest/resolve-ports.js'
import { allocate } from '../registry/allocator.js'
import { release } from '../registry/release.js'
import type { RegistryStore } from '../registry/types.js'
import { portVariable } from '../run/run-env.js'
import type { Protocol } from '../types.js'

export interface EnvPort {
  service: string
  /** The registry name of the port: `web` for a service's first, `web-2` for its second, ... */
  name: string
  protocol: Protocol
  port: number
  /** Where the number comes from. */
  source: 'fixed' | 'registry'
  /** `WEB_PORT` and `PORT_WEB` (as `run` sets it). */
  variables: string[]
}

export interface ManifestEnvironment {
  project: string
  manifest: string
  ports: EnvPort[]
  /** Every variable with its value, in the manifest's order. */
  variables: [name: string, value: string][]
}

/** `web-api` → `WEB_API_PORT`: upper case, every character outside A-Z and 0-9 becomes `_`. */
export function composeVariable(name: string): string {
  return `${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_PORT`
}

/**
 * The ports of every service (or of `services`), allocating those the registry gives out.
 * Two port names that make the same variable (`web-2` and `web_2`) are refused by name.
 */
export async function manifestEnvironment(
  manifest: Manifest,
  store: RegistryStore,
  options: { project?: string; procRoot?: string } = {},
): Promise<ManifestEnvironment> {
  const project = options.project ?? manifest.project
  const worktree = projectRoot(manifest)
  const ports: EnvPort[] = []
  const owners = new Map<string, string>()
  for (const service of manifest.services) {
    for (const [index, declared] of service.ports.entries()) {
      const name = portName(service.name, index)
      const { protocol, port, source } = await portFor()
      const variables = [composeVariable(name), portVariable(name)]
      for (const variable of variables) {
        const owner = owners.get(variable)
        if (owner !== undefined && owner !== name) {
          throw new PortwardenError(
            'invalid_request',
            `The ports ${owner} and ${name} in ${manifest.path} would both set ${variable}.`,
            { hint: 'Rename one of the services so that their names differ in letters or digits.' },
          )
        }
        owners.set(variable, name)
      }
      ports.push({ service: service.name, name, protocol, port, source, variables })

      async function portFor(): Promise<{
        protocol: Protocol
        port: number
        source: EnvPort['source']
      }> {
        if (declared.kind === 'spec' && declared.spec.from === declared.spec.to)
          return { protocol: declared.spec.protocol, port: declared.spec.from, source: 'fixed' }
        const protocol = declared.kind === 'auto' ? declared.protocol : declared.spec.protocol
        const range =
          declared.kind === 'auto' ? undefined : { from: declared.spec.from, to: declared.spec.to }
        // A range keeps the allocation it has inside it; one outside it (the range was edited)
        // is released first, so that the port follows the manifest.
        const own = await ownAllocation(store, project, name, protocol)
        if (own && range && (own.port < range.from || own.port > range.to))
          await release(store, { project, service: name, protocol })
        const { allocation } = await allocate(
          store,
          {
            project,
            service: name,
            protocol,
            range,
            healthCheck: index === 0 ? (service.health ?? undefined) : undefined,
            worktree,
          },
          { procRoot: options.procRoot },
        )
        return { protocol, port: allocation.port, source: 'registry' }
      }
    }
  }
  return {
    project,
    manifest: manifest.path,
    ports,
    variables: ports.flatMap((p) => p.variables.map((v): [string, string] => [v, String(p.port)])),
  }
}
