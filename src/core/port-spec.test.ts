import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isPortwardenError } from './errors.js'
import { expandPortSpecs, formatPortSpec, parsePortSpec } from './port-spec.js'
import { fastestRunMs } from '../../test/helpers/timing.js'

describe('parsePortSpec', () => {
  it.each([
    ['8080', { from: 8080, to: 8080, protocol: 'tcp' }],
    ['8080/tcp', { from: 8080, to: 8080, protocol: 'tcp' }],
    ['8080/TCP', { from: 8080, to: 8080, protocol: 'tcp' }],
    ['51820/udp', { from: 51820, to: 51820, protocol: 'udp' }],
    ['8000-8010', { from: 8000, to: 8010, protocol: 'tcp' }],
    ['8000-8010/udp', { from: 8000, to: 8010, protocol: 'udp' }],
    ['1-65535', { from: 1, to: 65535, protocol: 'tcp' }],
    ['65535-65535', { from: 65535, to: 65535, protocol: 'tcp' }],
    ['1', { from: 1, to: 1, protocol: 'tcp' }],
  ])('accepts %j', (text, expected) => {
    expect(parsePortSpec(text)).toEqual(expected)
  })

  // I1: every one of these must fail, naming the token and the accepted forms; nothing coerced.
  it.each([
    ['0', 'outside 1-65535'],
    ['65536', 'outside 1-65535'],
    ['99999', 'outside 1-65535'],
    ['-1', 'negative'],
    ['abc', 'not a decimal port number'],
    ['8080abc', 'not a decimal port number'],
    ['0x1F90', 'not a decimal port number'],
    ['8e3', 'not a decimal port number'],
    ['0b1111', 'not a decimal port number'],
    ['+8080', 'not a decimal port number'],
    [' 8080 ', 'surrounding spaces'],
    ['8080.0', 'not a decimal port number'],
    ['', 'empty'],
    ['1e309', 'not a decimal port number'],
    ['٨٠٨٠', 'not a decimal port number'],
    ['8000-7999', 'inverted'],
    ['80-70', 'inverted'],
    ['80/sctp', 'protocol "sctp" is not tcp or udp'],
    ['8080/', 'protocol "" is not tcp or udp'],
    ['08080', 'leading zero'],
    ['1-2-3', 'not a port or a range'],
    ['123456', 'outside 1-65535'],
  ])('rejects %j (%s)', (text, why) => {
    let caught: unknown
    try {
      parsePortSpec(text)
    } catch (error) {
      caught = error
    }
    expect(isPortwardenError(caught)).toBe(true)
    if (!isPortwardenError(caught)) return
    expect(caught.code).toBe('invalid_request')
    expect(caught.message).toContain(why)
    expect(caught.hint).toContain('8000-8010/udp')
  })

  it('uses the default protocol only when none is written', () => {
    expect(parsePortSpec('53', 'udp').protocol).toBe('udp')
    expect(parsePortSpec('53/tcp', 'udp').protocol).toBe('tcp')
  })

  // I2: any string either parses to ports within 1-65535 that round-trip, or throws our error.
  it('is total on arbitrary input and round-trips what it accepts', () => {
    const grammar = fc
      .tuple(
        fc.integer({ min: -5, max: 70000 }),
        fc.option(fc.integer({ min: -5, max: 70000 })),
        fc.constantFrom('', '/tcp', '/udp', '/TCP', '/sctp', '/'),
      )
      .map(([a, b, proto]) => `${a}${b === null ? '' : `-${b}`}${proto}`)
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string(), grammar), (text) => {
        try {
          const spec = parsePortSpec(text)
          expect(spec.from).toBeGreaterThanOrEqual(1)
          expect(spec.to).toBeLessThanOrEqual(65535)
          expect(spec.from).toBeLessThanOrEqual(spec.to)
          expect(parsePortSpec(formatPortSpec(spec))).toEqual(spec)
        } catch (error) {
          if (!isPortwardenError(error)) throw error
          expect(error.code).toBe('invalid_request')
        }
        const parse = (): void => {
          try {
            parsePortSpec(text)
          } catch {
            // timed either way: the rejection path builds the explanation
          }
        }
        expect(fastestRunMs(parse, 50), JSON.stringify(text)).toBeLessThan(50)
      }),
      { numRuns: 10_000 },
    )
  })
})

describe('expandPortSpecs', () => {
  it('lists each (protocol, port) once, in order', () => {
    const specs = ['8080', '8079-8081', '8080/udp'].map((t) => parsePortSpec(t))
    expect(expandPortSpecs(specs)).toEqual([
      { protocol: 'tcp', port: 8080 },
      { protocol: 'tcp', port: 8079 },
      { protocol: 'tcp', port: 8081 },
      { protocol: 'udp', port: 8080 },
    ])
  })
})
