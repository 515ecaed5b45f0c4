import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { kernelUsersOf, linkHolder, readKernelUsers } from './kernel-holders.js'

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

// The matching, on links as the addon's RTM_GETLINK dump gives them ({name, kind, port, id,
// index}): constructed, since this kernel has no wireguard or fou module to make them (a live vxlan
// device's socket is matched in test/kernel-holders.test.ts, as root).
describe('holderOf: which kernel user a socket no task holds is matched to', () => {
  const vxlan = { name: 'vx0', kind: 'vxlan', port: 4789, id: 42, index: 5 }
  const geneve = { name: 'gn0', kind: 'geneve', port: 6081, id: 7, index: 6 }
  const nfsd = { interface: null, linkKind: null, description: 'nfsd', fix: 'stop it' }

  it("a UDP socket on a device's port is that device's; TCP on that port, or another port, is nobody's", () => {
    const users = kernelUsersOf([vxlan, geneve], new Map())
    expect(users.holderOf('udp', 4789)).toMatchObject({ interface: 'vx0', linkKind: 'vxlan' })
    expect(users.holderOf('udp', 6081)).toMatchObject({ interface: 'gn0', linkKind: 'geneve' })
    expect(users.holderOf('tcp', 4789)).toBeNull()
    expect(users.holderOf('udp', 4790)).toBeNull()
  })

  it('a WireGuard listen port the kernel told is matched by port only', () => {
    const users = kernelUsersOf(
      [{ name: 'wg0', kind: 'wireguard', port: 51820, id: null }],
      new Map(),
    )
    expect(users.holderOf('udp', 51820)).toMatchObject({ interface: 'wg0', linkKind: 'wireguard' })
    expect(users.holderOf('udp', 51821)).toBeNull() // no guess when the port is known
    expect(users.holderOf('tcp', 51820)).toBeNull()
  })

  it('a WireGuard interface with its port untold (no CAP_NET_ADMIN): any other UDP socket is likely it', () => {
    const wg = { name: 'wg1', kind: 'wireguard', port: null, id: null }
    const users = kernelUsersOf([vxlan, wg], new Map([['udp:2049', nfsd]]))
    expect(users.holderOf('udp', 40000)).toEqual({
      interface: null,
      linkKind: null,
      description: 'an in-kernel socket (likely WireGuard: `wg show wg1 listen-port` tells)',
      fix: 'wg-quick down wg1 (or systemctl stop wg-quick@wg1, or ip link del wg1)',
    })
    // A device or a service that names the port comes first; TCP is never WireGuard's.
    expect(users.holderOf('udp', 4789)).toMatchObject({ interface: 'vx0' })
    expect(users.holderOf('udp', 2049)).toBe(nfsd)
    expect(users.holderOf('tcp', 40000)).toBeNull()
    // In another namespace the guess's fix is the same as the device's: ip there, not wg-quick.
    const inside = kernelUsersOf([wg], new Map(), { path: '/run/netns/t1', name: 't1' })
    expect(inside.holderOf('udp', 40000)?.fix).toBe('ip -n t1 link del wg1')
    expect(inside.holderOf('udp', 40000)?.fix).toBe(
      linkHolder({ ...wg, port: 40000 }, { path: '/run/netns/t1', name: 't1' }).fix,
    )
  })

  it('a fou port is matched as UDP', () => {
    const users = kernelUsersOf([{ name: '', kind: 'fou', port: 5555, id: 47 }], new Map())
    expect(users.holderOf('udp', 5555)?.description).toBe('a fou receive port (GRE)')
    expect(users.holderOf('tcp', 5555)).toBeNull()
  })
})

// nfsd's and lockd's ports from files of the kernel's own formats (this machine runs neither):
// /proc/fs/nfsd/portlist lists `transport port` lines; nlm_{tcp,udp}port hold one number, 0 unset.
describe('holderOf: nfsd and lockd from /proc', () => {
  const root = mkdtempSync(join(tmpdir(), 'pw-kernel-users-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))
  mkdirSync(join(root, 'fs/nfsd'), { recursive: true })
  mkdirSync(join(root, 'sys/fs/nfs'), { recursive: true })
  writeFileSync(join(root, 'fs/nfsd/portlist'), 'rdma 20049\ntcp 2049\nudp 2049\n')
  writeFileSync(join(root, 'sys/fs/nfs/nlm_tcpport'), '40123\n')
  writeFileSync(join(root, 'sys/fs/nfs/nlm_udpport'), '0\n')

  it('names nfsd on its TCP and UDP ports and lockd on its set port; rdma and an unset 0 are nothing', () => {
    const users = readKernelUsers(root)
    expect(users.holderOf('tcp', 2049)?.description).toBe('the NFS server (nfsd)')
    expect(users.holderOf('udp', 2049)?.description).toBe('the NFS server (nfsd)')
    expect(users.holderOf('tcp', 40123)?.description).toBe('the NFS lock manager (lockd)')
    expect(users.holderOf('udp', 40123)).toBeNull() // lockd's UDP port is 0: not set
    expect(users.holderOf('tcp', 20049)).toBeNull()
    expect(users.holderOf('udp', 0)).toBeNull()
  })

  it("in another namespace nfsd and lockd are not asked (they answer for the host's)", () => {
    const users = readKernelUsers(root, { path: '/proc/self/ns/net', name: null })
    expect(users.holderOf('tcp', 2049)).toBeNull()
    expect(users.holderOf('tcp', 40123)).toBeNull()
  })
})
