import type { PortSpec } from '../port-spec.js'
import type { HealthCheckSpec } from '../registry/types.js'
import type { Protocol } from '../types.js'

/**
 * One entry of a service's `ports`: a port or a range (`8080`, `"9000/udp"`, `"8000-8010"`), or
 * `"auto"` / `"auto/udp"` (the registry allocates one per project and service). `text` is the
 * entry as written (`8080` for a number).
 *
 * A range means "one port from this range": `run` takes the port the registry already gives
 * this service when it lies in the range, else the first port in it that is free and not
 * allocated to anyone; `preflight` passes while at least one port in it is free.
 */
export type ManifestPort =
  | { kind: 'spec'; spec: PortSpec; text: string }
  | { kind: 'auto'; protocol: Protocol; text: string }

export interface ManifestService {
  name: string
  /** In the order written; the first one is the service's `PORT` and the one its health check probes. */
  ports: ManifestPort[]
  command: string | null
  health: HealthCheckSpec | null
  /** Other services of this manifest, each named once; no cycles (checked when loading). */
  dependsOn: string[]
}

export interface Manifest {
  /** Absolute path of the `portwarden.toml` file. */
  path: string
  /** The directory holding it. */
  directory: string
  /** `project = "..."`, else the git worktree's (or the directory's) name. */
  project: string
  /** In the order the file declares them. */
  services: ManifestService[]
}
