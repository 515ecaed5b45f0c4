/**
 * `Accept-Encoding` (RFC 9110 §12.5.3): whether a client takes a gzip-coded answer.
 *
 * The most specific entry wins: an explicit `gzip` (or `x-gzip`, its equivalent, §8.4.1.3) with
 * its quality decides, whatever `*` says; `*` decides only for a gzip not named. A quality of 0
 * means "not acceptable". No header, or an empty one, takes no coding (identity is always safe).
 * An entry whose quality is not a valid qvalue is ignored, as one we cannot read.
 */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false
  let explicit: number | undefined
  let wildcard: number | undefined
  for (const entry of header.split(',')) {
    const [name = '', ...params] = entry.split(';').map((part) => part.trim())
    const coding = name.toLowerCase()
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') continue
    const q = quality(params)
    if (q === undefined) continue
    // Named more than once: the best quality given is taken.
    if (coding === '*') wildcard = Math.max(wildcard ?? 0, q)
    else explicit = Math.max(explicit ?? 0, q)
  }
  return (explicit ?? wildcard ?? 0) > 0
}

/** qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/

/** The entry's `q` weight (1 when absent), or undefined when it is not a valid qvalue. */
function quality(params: readonly string[]): number | undefined {
  for (const param of params) {
    const eq = param.indexOf('=')
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue
    const value = param.slice(eq + 1).trim()
    return QVALUE.test(value) ? Number(value) : undefined
  }
  return 1
}
