import type { Topology } from './types.js';

function rate(bps: number): string {
  if (bps >= 1e9) return `${+(bps / 1e9).toFixed(2)} Gb/s`;
  if (bps >= 1e6) return `${+(bps / 1e6).toFixed(2)} Mb/s`;
  return `${bps} b/s`;
}

function time(ns: number): string {
  if (ns >= 1e6) return `${+(ns / 1e6).toFixed(3)} ms`;
  if (ns >= 1e3) return `${+(ns / 1e3).toFixed(3)} µs`;
  return `${ns} ns`;
}

/** ", offload csum+tso" and the like, or nothing when no offload is on. */
function offloadText(o: { csum: boolean; tso: boolean } | undefined): string {
  const on = o ? (['csum', 'tso'] as const).filter((k) => o[k]) : [];
  return on.length ? ` offload ${on.join('+')}` : '';
}

/** A few lines a person can read at a glance (for `vnetlab inspect` and logs). */
export function topologySummary(t: Topology): string {
  const guests = t.hosts.reduce((n, h) => n + h.guests.length, 0);
  const out = [`lab ${t.name}: ${t.hosts.length} host${t.hosts.length === 1 ? '' : 's'}, ${guests} guest${guests === 1 ? '' : 's'}, ${t.links.length} link${t.links.length === 1 ? '' : 's'}`];
  for (const h of t.hosts) {
    const dd = h.driver_domain;
    out.push(`  host ${h.name}: ${h.cpus.count} CPUs @ ${+(h.cpus.hz / 1e9).toFixed(3)} GHz, ${h.memory_mib} MiB; driver domain on cpu ${dd.cpus.join(',')} (${dd.memory_mib} MiB, ${dd.switch})`);
    if (h.underlay) out.push(`    underlay VTEP ${h.underlay.ip}, MTU ${h.underlay.mtu}`);
    for (const n of h.nics) out.push(`    nic ${n.name} ${n.mac} ${rate(n.rate_bps)}, ${n.queue_sets} queue set${n.queue_sets === 1 ? '' : 's'}${offloadText(n.offload)}`);
    for (const g of h.guests) {
      const ifs = g.interfaces.map((i) => `${i.arch}${i.arch === 'pv' ? `/${i.rx_mode}${i.tx_mode !== 'copy' ? ` tx ${i.tx_mode}` : ''}` : ''} ${i.ip} ${i.mac}${i.nic ? ` via ${i.nic}` : ''}${i.vni !== undefined ? ` vni ${i.vni}` : ''}${offloadText(i.offload)}`);
      out.push(`    guest ${g.name}: ${g.memory_mib} MiB, vcpus on cpu ${g.vcpus.join(',')}${ifs.length ? `; ${ifs.join('; ')}` : ''}`);
    }
  }
  for (const l of t.links) out.push(`  link ${l.ends.join(' ↔ ')}: ${rate(l.rate_bps)}, ${time(l.latency_ns)}, loss ${l.loss} (${l.form === 'segment' ? 'segment ' : ''}${l.name})`);
  return out.join('\n');
}
