import { PortwardenError } from '../core/errors.js'
import type { PortSpec } from '../core/port-spec.js'
import { specsForProtocols } from '../core/port-spec.js'
import type { ListSocketsOptions } from '../core/sockets/query.js'
import type { Protocol } from '../core/types.js'

/** `list`'s protocol and family flags; neither or both of a pair means both. */
export interface ListFlags {
  all?: boolean
  tcp?: boolean
  udp?: boolean
  ipv4?: boolean
  ipv6?: boolean
}

/** The listing these flags ask for (shared by `list` and the CLI entry's early dump). */
export function listQuery(flags: ListFlags): ListSocketsOptions {
  return {
    all: flags.all === true,
    protocols: flags.tcp === flags.udp ? ['tcp', 'udp'] : flags.tcp ? ['tcp'] : ['udp'],
    families: flags.ipv4 === flags.ipv6 ? ['ipv4', 'ipv6'] : flags.ipv4 ? ['ipv4'] : ['ipv6'],
  }
}

/**
 * `list --port` values (repeated, or comma-separated): a spec without `/tcp` or `/udp` matches
 * every protocol the listing selects, as `ss sport = :P` does; one naming a protocol the
 * listing leaves out (`--tcp --port 51820/udp`) is a usage error rather than an empty table.
 */
export function listPortSpecs(
  values: readonly string[],
  protocols: readonly Protocol[],
): PortSpec[] {
  const { specs, excluded } = specsForProtocols(values, protocols)
  const [first] = excluded
  if (first) {
    const only = protocols[0] as Protocol
    throw new PortwardenError(
      'invalid_request',
      `--port ${first.text} names ${first.spec.protocol.toUpperCase()}, but --${only} lists ${only.toUpperCase()} sockets only.`,
      {
        hint: `Drop --${only}, or write the port without a protocol (--port ${first.text.split('/')[0]}) to match every protocol listed.`,
      },
    )
  }
  return specs
}
