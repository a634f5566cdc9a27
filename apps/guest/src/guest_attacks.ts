// A hostile guest on demand (the protection demonstrations): each attack runs through the
// guest's real interfaces — its hypercalls, its shared rings, its NIC queue set's descriptors,
// its event channel — exactly as a compromised guest kernel could use them. Whether it works
// is the business of the checks it meets (hypervisor, driver domain, IOMMU).
import type { Cpu } from '@vnetlab/cost';
import type { DirectNic, GuestKernel } from '@vnetlab/guest';
import type { PagePool } from '@vnetlab/memory';
import type { Netfront } from '@vnetlab/netfront';
import { NetStack } from '@vnetlab/netstack';
import type { protection } from '@vnetlab/proto';
import type { HypercallClient, Logger } from '@vnetlab/runtime';

/** Notifications an evtchn-storm sends unless asked for another count. */
export const STORM_DEFAULT = 4000;
/** Sends of a storm in flight on the hypercall stream at once. */
const STORM_WINDOW = 256;
/**
 * Grant references a give-away-dma aims at in the victim's table: Linux keeps entries 0..7
 * for the toolstack (GNTTAB_NR_RESERVED_ENTRIES), which the lab's guests leave unused.
 */
const VICTIM_GREFS = [1, 2, 3, 4, 5, 6, 7];

export interface AttackerContext {
  name: string;
  arch: string;
  rxMode: string;
  kernel: GuestKernel;
  cpu: Cpu;
  hv: HypercallClient;
  pages: PagePool;
  /** gfn → mfn as the hypervisor gave them (to put back what a p2m write changed). */
  p2m: readonly number[];
  ownNic?: DirectNic;
  pvFront?: { netfront: Netfront; port: number };
  log: Logger;
}

type Outcome = protection.AttackOutcome;
const none = Buffer.alloc(0);
const outcome = (attempts: number, accepted: number, refused: number, detail: string): Outcome => ({ attempts, accepted, refused, detail, leaked: none });

/** Attack kinds a guest performs (the controller resolves the operator's aliases to these). */
export const GUEST_ATTACKS = ['spoof-mac', 'ring-overflow', 'rx-foreign', 'tx-foreign', 'grant-foreign', 'evtchn-storm', 'give-away-dma'] as const;

export function guestAttacks(c: AttackerContext) {
  let giveAways = 0;

  /** Until `done()` or `ms` of wall time passed (a device or backend answering in its own time). */
  async function until(done: () => boolean, ms: number): Promise<void> {
    for (const end = Date.now() + ms; !done() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
  }

  /**
   * pv / multiqueue: the guest points one of its pages' p2m entry at the victim's frame (its
   * p2m is its own to write) and offers that page to its backend, as receive buffers and/or a
   * transmit request. The grant check is what must refuse it. The entry is put back once the
   * backend has answered every forged request.
   */
  async function foreignGrant(mfn: number, rx: number, txBytes: number): Promise<Outcome> {
    const pv = c.pvFront;
    if (!pv) throw new Error(`${c.name} has no netfront to grant through (arch ${c.arch})`);
    if (rx > 0 && c.rxMode !== 'copy') throw new Error(`${c.name} receives by page flip: its receive requests accept transfers, they grant nothing`);
    const gfn = c.pages.take();
    if (gfn === undefined) throw new Error(`${c.name}: no free page`);
    const w = await c.hv.p2mWrite(gfn, mfn, c.kernel.now);
    if (w.status !== 0) {
      c.pages.give(gfn);
      throw new Error(`${c.name}: p2m write of gfn ${gfn} → mfn ${mfn} failed (${w.status})`);
    }
    const nf = pv.netfront;
    const txBefore = { ...nf.hostile.tx };
    nf.hostileGrant(gfn, rx, txBytes);
    await c.hv.evtchnSend(pv.port, c.kernel.now);
    // a transmit request is answered at once (the backend copies or maps it now)
    if (txBytes > 0) await until(() => nf.hostile.tx.ok + nf.hostile.tx.failed > txBefore.ok + txBefore.failed, 5000);
    void until(() => nf.hostileOutstanding === 0, 300_000).then(async () => {
      if (nf.hostileOutstanding !== 0) return; // still planted: the page stays out of use
      await c.hv.p2mWrite(gfn, c.p2m[gfn]!, c.kernel.now);
      c.pages.give(gfn);
    }).catch((e) => c.log.warn('could not restore a p2m entry after an attack', { gfn, error: e }));
    const sent = nf.hostile.tx.ok - txBefore.ok;
    const refused = nf.hostile.tx.failed - txBefore.failed;
    const what = [rx > 0 ? `${rx} receive buffers` : '', txBytes > 0 ? `a ${txBytes}-byte transmit request (${sent ? 'SENT by the backend' : refused ? 'refused by the backend' : 'unanswered'})` : ''].filter(Boolean).join(' and ');
    // accepted: the transmit request the backend sent, if there was one (the receive buffers are judged by the victim's memory)
    return outcome(rx + (txBytes > 0 ? 1 : 0), txBytes > 0 ? sent : rx, refused, `pointed its gfn ${gfn} at the victim's mfn ${mfn} and granted it to its backend as ${what}`);
  }

  /** cdna / passthrough / native: descriptors aimed at the victim's frames, through the guest's own queue set. */
  async function foreignDescriptors(ring: 'rx' | 'tx', mfns: number[]): Promise<Outcome> {
    const nic = c.ownNic!;
    const before = { ...nic.hostile.tx };
    const o = ring === 'rx' ? await nic.hostileRx(mfns, c.kernel.now) : await nic.hostileTx(mfns, c.kernel.now);
    const via = c.arch === 'cdna' ? 'asked the hypervisor to enqueue' : 'wrote into its own ring';
    if (ring === 'rx' || c.arch === 'cdna') {
      return outcome(o.attempts, o.accepted, o.refused, `${via} ${o.attempts} ${ring === 'rx' ? 'receive' : 'transmit'} descriptors in the victim's frames: ${o.accepted} accepted${c.arch === 'cdna' ? ` (status ${o.statuses})` : ' (the IOMMU decides at DMA time)'}`);
    }
    // on its own ring the device is the judge: wait for its writebacks
    await until(() => nic.hostile.tx.ok + nic.hostile.tx.failed >= before.ok + before.failed + o.accepted, 5000);
    const sent = nic.hostile.tx.ok - before.ok;
    return outcome(o.attempts, sent, o.attempts - sent, `${via} ${o.attempts} transmit descriptors at the victim's frames: the NIC sent ${sent}, refused ${nic.hostile.tx.failed - before.failed}`);
  }

  async function storm(r: protection.AttackRequest): Promise<Outcome> {
    const pv = c.pvFront;
    if (!pv) throw new Error(`${c.name} has no event channel to its backend to storm (arch ${c.arch})`);
    const n = Math.min(r.count || STORM_DEFAULT, 100_000);
    await c.kernel.advanceTo(r.atNs);
    // each send is a trap on the attacker's own CPU: that is all the storm costs it
    let t = c.kernel.now;
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      times.push(t);
      t = c.cpu.run(t, 'xen', [['hypercall', 1], ['evtchn_send', 1]]);
    }
    let now = 0, deferred = 0, folded = 0;
    for (let i = 0; i < n; i += STORM_WINDOW) {
      const rs = await Promise.all(times.slice(i, i + STORM_WINDOW).map((tt) => c.hv.evtchnSend(pv.port, tt)));
      for (const x of rs) {
        if (x.target && !x.coalesced) now++;
        else if (x.target) deferred++;
        else if (x.coalesced) folded++;
      }
    }
    await c.kernel.advanceTo(t);
    return outcome(n, now + deferred, folded, `sent ${n} notifications on port ${pv.port} in ${((t - times[0]!) / 1000).toFixed(1)} µs of modelled time: ${now} delivered as sent, ${folded + deferred} coalesced into ${deferred} upcalls`);
  }

  async function giveAway(r: protection.AttackRequest): Promise<Outcome> {
    if (!c.ownNic || c.arch !== 'cdna') throw new Error(`${c.name} has no cdna queue set to enqueue on (arch ${c.arch})`);
    const gref = VICTIM_GREFS[giveAways++ % VICTIM_GREFS.length]!;
    const o = await c.ownNic.hostileGiveAway((gfn, t) => c.hv.grantTransfer(gfn, r.victimDomid, gref, t).then((x) => x.status), c.kernel.now);
    const mfn = c.p2m[o.gfn];
    return outcome(1, o.status === 0 ? 1 : 0, o.status === 0 ? 0 : 1,
      `enqueued a receive buffer on its page ${o.gfn} (mfn ${mfn}), then gave the page to dom${r.victimDomid} (its gref ${gref}) while the buffer was enqueued: ${o.status === 0 ? 'TRANSFERRED — the NIC will write into a page the victim owns' : `refused (status ${o.status})`}`);
  }

  return async function run(r: protection.AttackRequest): Promise<Outcome> {
    const victimPage = r.victimMfns[0];
    const needVictim = () => {
      if (victimPage === undefined) throw new Error('the victim\'s frames are not known (is it on this host?)');
      return victimPage;
    };
    const direct = c.ownNic && ['cdna', 'passthrough', 'native'].includes(c.arch);
    switch (r.kind) {
      case 'spoof-mac': {
        // gratuitous ARP in the victim's name, from the victim's MAC: a bridge that believed it
        // would send the victim's traffic here
        const liar = new NetStack({ mac: r.victimMac, ip: r.victimIp });
        const frames = Array.from({ length: 5 }, (_, i) => liar.announce(c.kernel.now + i).frames[0]!);
        await c.kernel.sendRaw(frames);
        return outcome(frames.length, frames.length, 0, `sent ${frames.length} gratuitous ARPs claiming ${r.victimIp} at ${r.victimMac}`);
      }
      case 'ring-overflow': {
        if (!c.pvFront) throw new Error(`${c.name} has no netfront ring to overrun (arch ${c.arch})`);
        const forged = c.pvFront.netfront.hostileRequestProducer(1000);
        // at the instant the operator chose, so that a victim's pings can meet dom0's work
        await c.kernel.advanceTo(r.atNs);
        await c.hv.evtchnSend(c.pvFront.port, c.kernel.now);
        return outcome(1, 1, 0, `wrote req_prod = ${forged}, 1000 requests past the last real one, and notified the backend`);
      }
      case 'cdna-rx-foreign':
      case 'rx-foreign':
        if (direct) return foreignDescriptors('rx', r.victimMfns.slice(0, 8)); // the victim kernel's own pages
        return foreignGrant(needVictim(), 4, 0);
      case 'cdna-tx-foreign':
      case 'tx-foreign':
        if (direct) return foreignDescriptors('tx', r.victimMfns.slice(0, 8));
        return foreignGrant(needVictim(), 0, 1514);
      case 'grant-foreign':
        return foreignGrant(needVictim(), c.rxMode === 'copy' ? 4 : 0, 1514);
      case 'evtchn-storm':
        return storm(r);
      case 'give-away-dma':
        return giveAway(r);
      default:
        throw new Error(`unknown attack "${r.kind}" (known: ${GUEST_ATTACKS.join(', ')})`);
    }
  };
}
