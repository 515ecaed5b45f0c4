import { describe, expect, it } from 'vitest'
import { truncate } from './safe-text.js'

describe('truncate', () => {
  it('never cuts a surrogate pair in half', () => {
    const text = `ab${'🚀'.repeat(10)}`
    for (let max = 2; max < text.length; max++) {
      const cut = truncate(text, max)
      expect(cut.length).toBeLessThanOrEqual(max)
      expect(cut.endsWith('…')).toBe(true)
      expect(cut).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/)
    }
  })
  it('keeps what fits', () => expect(truncate('short', 5)).toBe('short'))
})
