// ovs-ofctl's flow syntax, the subset this switch implements:
//   priority=100,in_port=vif1,dl_type=0x0800,nw_dst=10.0.0.0/24,actions=output:vxlan0
// Fields are separated by commas or spaces; `actions=` comes last and takes the rest.
import { ipToNumber, numberToIp } from '@vnetlab/frames';
import { DEFAULT_PRIORITY, prefixMask, type FlowAction, type FlowMatch, type FlowSpec, type IpPrefix, type MacMatch } from './flow.js';
import { macString } from './flow_key.js';
import { FlowSyntaxError } from './vswitch_error.js';

const MATCH_FIELDS = ['priority', 'in_port', 'dl_src', 'dl_dst', 'dl_type', 'nw_src', 'nw_dst', 'nw_proto', 'tp_src', 'tp_dst', 'tun_id'] as const;
const SHORTHANDS: Record<string, { dlType: number; nwProto?: number }> = {
  ip: { dlType: 0x0800 }, arp: { dlType: 0x0806 },
  icmp: { dlType: 0x0800, nwProto: 1 }, tcp: { dlType: 0x0800, nwProto: 6 }, udp: { dlType: 0x0800, nwProto: 17 },
};
const ACTIONS_HELP = 'output:PORT, mirror:PORT, flood, normal, set_tunnel:VNI, drop';
export const PORT_NAME_RE = /^[A-Za-z0-9_.-]+$/;
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export interface ParsedMatch { priority?: number; match: FlowMatch }

/** Parses a whole flow for add-flow; `actions=` is required. */
export function parseFlow(text: string): FlowSpec {
  const { matchPart, actionsPart } = split(text);
  if (actionsPart === undefined) throw new FlowSyntaxError('missing actions= (write actions=drop to drop)', text);
  const { priority, match } = parseFields(matchPart, text);
  return { priority: priority ?? DEFAULT_PRIORITY, match, actions: parseActions(actionsPart, text) };
}

/** Parses a match without actions, for del-flows; `priority` only matters to a strict delete. */
export function parseMatch(text: string): ParsedMatch {
  const { matchPart, actionsPart } = split(text);
  if (actionsPart !== undefined) throw new FlowSyntaxError('a match for del-flows takes no actions=', text, 'actions=');
  return parseFields(matchPart, text);
}

function split(text: string): { matchPart: string; actionsPart?: string } {
  if (typeof text !== 'string') throw new FlowSyntaxError('a flow must be text', String(text));
  const m = /(^|[,\s])actions=/.exec(text);
  if (!m) return { matchPart: text };
  const at = m.index + m[1]!.length;
  return { matchPart: text.slice(0, at), actionsPart: text.slice(at + 'actions='.length) };
}

function parseFields(part: string, text: string): ParsedMatch {
  const match: FlowMatch = {};
  let priority: number | undefined;
  const seen = new Set<string>();
  const setOnce = (name: string, token: string, apply: () => void) => {
    if (seen.has(name)) throw new FlowSyntaxError(`${name} given twice`, text, token);
    seen.add(name);
    apply();
  };
  for (const token of part.split(/[,\s]+/).filter((t) => t !== '')) {
    const eq = token.indexOf('=');
    const name = eq < 0 ? token : token.slice(0, eq);
    const value = eq < 0 ? undefined : token.slice(eq + 1);
    const short = SHORTHANDS[name];
    if (short) {
      if (value !== undefined) throw new FlowSyntaxError(`'${name}' takes no value`, text, token);
      if (match.dlType !== undefined && match.dlType !== short.dlType) throw new FlowSyntaxError(`'${name}' contradicts dl_type=0x${match.dlType.toString(16).padStart(4, '0')}`, text, token);
      if (short.nwProto !== undefined && match.nwProto !== undefined && match.nwProto !== short.nwProto) throw new FlowSyntaxError(`'${name}' contradicts nw_proto=${match.nwProto}`, text, token);
      match.dlType = short.dlType; seen.add('dl_type');
      if (short.nwProto !== undefined) { match.nwProto = short.nwProto; seen.add('nw_proto'); }
      continue;
    }
    if (!(MATCH_FIELDS as readonly string[]).includes(name)) {
      throw new FlowSyntaxError(`unknown field '${name}' (known: ${MATCH_FIELDS.join(', ')}, ${Object.keys(SHORTHANDS).join(', ')})`, text, token);
    }
    if (value === undefined || value === '') throw new FlowSyntaxError(`${name} needs a value (${name}=...)`, text, token);
    const fail = (why: string): never => { throw new FlowSyntaxError(`${name}=${value}: ${why}`, text, token); };
    switch (name) {
      case 'priority': setOnce(name, token, () => { priority = parseNumber(value, 0xffff, fail); }); break;
      case 'in_port': setOnce(name, token, () => { match.inPort = parsePortName(value, fail); }); break;
      case 'dl_src': setOnce(name, token, () => { match.dlSrc = parseMacMatch(value, fail); }); break;
      case 'dl_dst': setOnce(name, token, () => { match.dlDst = parseMacMatch(value, fail); }); break;
      case 'dl_type': {
        const v = parseNumber(value, 0xffff, fail);
        if (match.dlType !== undefined && match.dlType !== v) fail('contradicts an earlier dl_type or shorthand');
        if (match.dlType === undefined) seen.add('dl_type');
        match.dlType = v;
        break;
      }
      case 'nw_src': setOnce(name, token, () => { match.nwSrc = parsePrefix(value, fail); }); break;
      case 'nw_dst': setOnce(name, token, () => { match.nwDst = parsePrefix(value, fail); }); break;
      case 'nw_proto': {
        const v = parseNumber(value, 0xff, fail);
        if (match.nwProto !== undefined && match.nwProto !== v) fail('contradicts an earlier nw_proto or shorthand');
        match.nwProto = v;
        break;
      }
      case 'tp_src': setOnce(name, token, () => { match.tpSrc = parseNumber(value, 0xffff, fail); }); break;
      case 'tp_dst': setOnce(name, token, () => { match.tpDst = parseNumber(value, 0xffff, fail); }); break;
      case 'tun_id': setOnce(name, token, () => { match.tunId = parseNumber(value, 0xffffff, (why) => fail(`${why} (a VNI is 24 bits)`)); }); break;
    }
  }
  checkPrerequisites(match, text);
  return { priority, match };
}

// OpenFlow's prerequisites: an L3 field needs the ethertype that carries it, an L4 port
// needs the IP protocol. ovs-ofctl refuses such flows, and so does this parser.
function checkPrerequisites(m: FlowMatch, text: string): void {
  const l3 = m.dlType === 0x0800 || m.dlType === 0x0806;
  for (const [field, present] of [['nw_src', m.nwSrc], ['nw_dst', m.nwDst], ['nw_proto', m.nwProto]] as const) {
    if (present !== undefined && !l3) throw new FlowSyntaxError(`${field} needs dl_type=0x0800 or 0x0806 (or 'ip' / 'arp')`, text, field);
  }
  for (const [field, present] of [['tp_src', m.tpSrc], ['tp_dst', m.tpDst]] as const) {
    if (present !== undefined && !(m.dlType === 0x0800 && (m.nwProto === 6 || m.nwProto === 17))) {
      throw new FlowSyntaxError(`${field} needs dl_type=0x0800 and nw_proto=6 or 17 (or 'tcp' / 'udp')`, text, field);
    }
  }
}

function parseActions(part: string, text: string): FlowAction[] {
  const tokens = part.split(',').map((t) => t.trim());
  if (tokens.length === 1 && tokens[0] === '') throw new FlowSyntaxError('actions= is empty (write actions=drop to drop)', text, 'actions=');
  if (tokens.includes('drop')) {
    if (tokens.length > 1) throw new FlowSyntaxError("'drop' must be the only action", text, 'drop');
    return [];
  }
  return tokens.map((token): FlowAction => {
    if (token === '') throw new FlowSyntaxError('empty action between commas', text, part);
    const colon = token.indexOf(':');
    const name = colon < 0 ? token : token.slice(0, colon);
    const arg = colon < 0 ? undefined : token.slice(colon + 1);
    const fail = (why: string): never => { throw new FlowSyntaxError(`action ${token}: ${why}`, text, token); };
    switch (name) {
      case 'normal': case 'flood':
        if (arg !== undefined) fail('takes no argument');
        return { type: name };
      case 'output': case 'mirror':
        if (arg === undefined || arg === '') fail(`needs a port (${name}:PORT)`);
        return { type: name, port: parsePortName(arg!, fail) };
      case 'set_tunnel':
        if (arg === undefined || arg === '') fail('needs a VNI (set_tunnel:VNI)');
        return { type: 'set_tunnel', vni: parseNumber(arg!, 0xffffff, (why) => fail(`${why} (a VNI is 24 bits)`)) };
      default:
        return fail(`unknown action (known: ${ACTIONS_HELP})`);
    }
  });
}

function parseNumber(v: string, max: number, fail: (why: string) => never): number {
  let n: number;
  if (/^0x[0-9a-fA-F]+$/.test(v)) n = parseInt(v.slice(2), 16);
  else if (/^[0-9]+$/.test(v)) n = Number(v);
  else return fail('not a number (decimal or 0x hex)');
  if (n > max) fail(`out of range 0..${max}`);
  return n;
}

function parsePortName(v: string, fail: (why: string) => never): string {
  if (!PORT_NAME_RE.test(v)) fail('not a port name (letters, digits, _ . -)');
  return v;
}

function macHalves(m: string): [number, number] {
  const n = m.replace(/:/g, '');
  return [parseInt(n.slice(0, 6), 16), parseInt(n.slice(6), 16)];
}

function parseMacMatch(v: string, fail: (why: string) => never): MacMatch {
  const [mac, mask, extra] = v.split('/');
  if (extra !== undefined) fail('more than one /');
  if (!MAC_RE.test(mac!)) fail('not a MAC address (xx:xx:xx:xx:xx:xx)');
  if (mask !== undefined && !MAC_RE.test(mask)) fail('the mask is not a MAC-shaped mask (xx:xx:xx:xx:xx:xx)');
  const [hi, lo] = macHalves(mac!);
  const [maskHi, maskLo] = mask === undefined ? [0xffffff, 0xffffff] : macHalves(mask);
  return { hi: hi & maskHi, lo: lo & maskLo, maskHi, maskLo };
}

function parsePrefix(v: string, fail: (why: string) => never): IpPrefix {
  const [ip, len, extra] = v.split('/');
  if (extra !== undefined) fail('more than one /');
  let addr: number;
  try { addr = ipToNumber(ip!); } catch { return fail('not an IPv4 address'); }
  let prefix = 32;
  if (len !== undefined) {
    if (!/^[0-9]{1,2}$/.test(len) || Number(len) > 32) fail('the prefix length must be 0..32');
    prefix = Number(len);
  }
  // Host bits beyond the prefix are cleared, as ovs-ofctl does (10.0.0.7/24 is 10.0.0.0/24).
  return { addr: (addr & prefixMask(prefix)) >>> 0, prefix };
}


/** The match as [field, value] pairs in canonical order (also how two matches are compared). */
export function matchFields(m: FlowMatch): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const mac = (x: MacMatch) => macString(x.hi, x.lo) + (x.maskHi === 0xffffff && x.maskLo === 0xffffff ? '' : `/${macString(x.maskHi, x.maskLo)}`);
  const pfx = (p: IpPrefix) => numberToIp(p.addr) + (p.prefix === 32 ? '' : `/${p.prefix}`);
  if (m.inPort !== undefined) out.push(['in_port', m.inPort]);
  if (m.tunId !== undefined) out.push(['tun_id', String(m.tunId)]);
  if (m.dlSrc) out.push(['dl_src', mac(m.dlSrc)]);
  if (m.dlDst) out.push(['dl_dst', mac(m.dlDst)]);
  if (m.dlType !== undefined) out.push(['dl_type', `0x${m.dlType.toString(16).padStart(4, '0')}`]);
  if (m.nwSrc) out.push(['nw_src', pfx(m.nwSrc)]);
  if (m.nwDst) out.push(['nw_dst', pfx(m.nwDst)]);
  if (m.nwProto !== undefined) out.push(['nw_proto', String(m.nwProto)]);
  if (m.tpSrc !== undefined) out.push(['tp_src', String(m.tpSrc)]);
  if (m.tpDst !== undefined) out.push(['tp_dst', String(m.tpDst)]);
  return out;
}

export function formatMatch(m: FlowMatch): string {
  return matchFields(m).map(([k, v]) => `${k}=${v}`).join(',');
}

export function formatActions(actions: FlowAction[]): string {
  if (actions.length === 0) return 'drop';
  return actions.map((a) => {
    switch (a.type) {
      case 'output': case 'mirror': return `${a.type}:${a.port}`;
      case 'set_tunnel': return `set_tunnel:${a.vni}`;
      default: return a.type;
    }
  }).join(',');
}

/** Canonical text that parseFlow reads back to the same flow. */
export function formatFlow(f: FlowSpec): string {
  const m = formatMatch(f.match);
  return `priority=${f.priority},${m ? `${m},` : ''}actions=${formatActions(f.actions)}`;
}
