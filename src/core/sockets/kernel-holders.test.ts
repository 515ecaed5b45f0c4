import { describe, expect, it } from 'vitest'
import { linkHolder } from './kernel-holders.js'

// The words for links this machine's kernel cannot make (no wireguard or fou module here); the
// vxlan and geneve ones are tested on live devices in test/kernel-holders.test.ts.
describe('kernel holders named from generic netlink', () => {
  it('a WireGuard interface: its name, and wg-quick as the fix (ip -n inside a namespace)', () => {
    const wg = { name: 'wg0', kind: 'wireguard', port: 51820, id: null }
    expect(linkHolder(wg)).toEqual({
      interface: 'wg0',
      linkKind: 'wireguard',
      description: 'WireGuard interface wg0',
      fix: 'wg-quick down wg0 (or systemctl stop wg-quick@wg0, or ip link del wg0)',
    })
    expect(linkHolder(wg, { path: '/run/netns/t1', name: 't1' }).fix).toBe('ip -n t1 link del wg0')
  })

  it('a fou or GUE port: what it carries, and ip fou del as the fix', () => {
    expect(linkHolder({ name: '', kind: 'fou', port: 5555, id: 4 })).toEqual({
      interface: null,
      linkKind: 'fou',
      description: 'a fou receive port (IPIP)',
      fix: 'ip fou del port 5555',
    })
    expect(
      linkHolder(
        { name: '', kind: 'gue', port: 6666, id: null },
        { path: '/proc/9/ns/net', name: null },
      ),
    ).toMatchObject({
      description: 'a GUE receive port',
      fix: 'nsenter --net=/proc/9/ns/net ip fou del port 6666',
    })
  })
})
