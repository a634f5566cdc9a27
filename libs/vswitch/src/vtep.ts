// The remote VTEPs of each VNI, from configuration (like `bridge fdb append 00:00:00:00:00:00
// dst IP` for Linux VXLAN, or OVN's chassis list): broadcast, unknown unicast and multicast
// of a VNI go to each of them by head-end replication, and only they may send us that VNI.
import type { Ip, Mac } from '@vnetlab/frames';

export interface RemoteVtep {
  vni: number;
  ip: Ip;        // the remote VTEP's underlay address
  port: string;  // the local tunnel port that reaches it
  mac: Mac;      // the underlay next hop towards it (outer destination MAC)
}

export class VtepTable {
  private readonly byVni = new Map<number, RemoteVtep[]>();

  add(v: RemoteVtep): boolean {
    const list = this.byVni.get(v.vni) ?? [];
    const at = list.findIndex((r) => r.ip === v.ip);
    if (at >= 0) list[at] = v; else list.push(v);
    this.byVni.set(v.vni, list);
    return at < 0;
  }

  remove(vni: number, ip: Ip): RemoteVtep | undefined {
    const list = this.byVni.get(vni);
    const at = list?.findIndex((r) => r.ip === ip) ?? -1;
    if (at < 0) return undefined;
    const [gone] = list!.splice(at, 1);
    if (list!.length === 0) this.byVni.delete(vni);
    return gone;
  }

  removePort(port: string): number {
    let n = 0;
    for (const [vni, list] of this.byVni) {
      const keep = list.filter((r) => r.port !== port);
      n += list.length - keep.length;
      if (keep.length === 0) this.byVni.delete(vni); else this.byVni.set(vni, keep);
    }
    return n;
  }

  remotes(vni: number): readonly RemoteVtep[] { return this.byVni.get(vni) ?? []; }

  find(vni: number, ip: Ip): RemoteVtep | undefined { return this.byVni.get(vni)?.find((r) => r.ip === ip); }

  hasVni(vni: number): boolean { return this.byVni.has(vni); }

  all(): RemoteVtep[] { return [...this.byVni.values()].flat().map((r) => ({ ...r })); }
}
