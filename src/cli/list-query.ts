import type { ListSocketsOptions } from '../core/sockets/query.js'

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
