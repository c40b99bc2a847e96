import { describe, expect, it } from 'vitest';
import { peerDiscovery } from '../../../src/broker/cluster/discovery.js';
import { joinSeeds } from '../../../src/broker/cluster/peering.js';

describe('peer discovery (--peers-service)', () => {
  it('resolves every address of the name at the peer port, or the port it names', async () => {
    // A stand-in resolver: the test sends no DNS query anywhere.
    const asked: string[] = [];
    const resolve = async (host: string): Promise<Array<{ address: string }>> => { asked.push(host); return [{ address: '127.0.0.7' }, { address: '127.0.0.8' }]; };
    expect(await peerDiscovery('flo-peers.prod.svc', 4000, resolve)()).toEqual([{ host: '127.0.0.7', port: 4000 }, { host: '127.0.0.8', port: 4000 }]);
    expect(await peerDiscovery('flo-peers.prod.svc:4100', 4000, resolve)()).toEqual([{ host: '127.0.0.7', port: 4100 }, { host: '127.0.0.8', port: 4100 }]);
    expect(asked).toEqual(['flo-peers.prod.svc', 'flo-peers.prod.svc']);
  });

  it('answers nobody for a name that does not resolve (yet), and refuses what is not a name', async () => {
    const unknown = async (): Promise<never> => { throw Object.assign(new Error('getaddrinfo ENOTFOUND flo-peers'), { code: 'ENOTFOUND' }); };
    expect(await peerDiscovery('flo-peers', 4000, unknown)()).toEqual([]);
    expect(await peerDiscovery('flo-peers', 4000, async () => [{ address: '127.0.0.5' }, { address: '127.0.0.5' }, { address: '127.0.0.6' }])())
      .toEqual([{ host: '127.0.0.5', port: 4000 }, { host: '127.0.0.6', port: 4000 }]);
    for (const bad of ['', 'a b', 'http://x', 'x:0', 'x:70000']) expect(() => peerDiscovery(bad, 4000), bad).toThrow(/--peers-service/);
    expect(() => peerDiscovery('flo-peers', 0)).toThrow(/needs a port when --peer-port is 0/);
  });
});

describe('join seeds', () => {
  it('asks --join, then the founders, never this broker itself', () => {
    const at = (port: number): { host: string; port: number } => ({ host: 'flo-0.peers', port });
    expect(joinSeeds(at(1), [at(1), at(2), at(3)], 'flo-0.peers:1')).toEqual([at(2), at(3)]);
    expect(joinSeeds(at(2), [at(1), at(2)], 'flo-0.peers:9')).toEqual([at(2), at(1)]);
    expect(joinSeeds(at(1), [at(1)], 'flo-0.peers:1')).toEqual([]);
  });
});
