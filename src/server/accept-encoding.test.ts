import { describe, expect, it } from 'vitest'
import { acceptsGzip } from './accept-encoding.js'

describe('acceptsGzip follows RFC 9110 §12.5.3', () => {
  it.each([
    'gzip',
    'GZIP',
    'x-gzip',
    'gzip, deflate, br',
    'br;q=1.0, gzip;q=0.8, *;q=0.1',
    'gzip;q=0.5',
    'gzip ; q=0.001',
    'gzip;Q=1',
    'gzip;q=1.000',
    '*',
    '*;q=0.3',
    'deflate, *',
    'gzip;q=0, gzip;q=1',
  ])('takes gzip for %j', (header) => {
    expect(acceptsGzip(header)).toBe(true)
  })

  it.each([
    undefined,
    '',
    'identity',
    'br, deflate',
    'gzip;q=0',
    'gzip;q=0.0',
    'gzip;q=0.000',
    'gzip ;  q=0',
    'GZIP;Q=0',
    // An explicit refusal wins over `*`, in either order.
    '*, gzip;q=0',
    'gzip;q=0, *',
    '*;q=1, gzip;q=0.0',
    // `*;q=0` refuses every coding not named.
    '*;q=0',
    'br, *;q=0',
    // Not a qvalue: the entry is not understood, so it accepts nothing.
    'gzip;q=abc',
    'gzip;q=1.5',
    'gzip;q=0.0001',
    'gzip;q=-1',
    'gzip;q=',
    'gzipx',
  ])('refuses gzip for %j', (header) => {
    expect(acceptsGzip(header)).toBe(false)
  })
})
