import { describe, it, expect } from 'vitest';
import { FlowSyntaxError, formatFlow, parseFlow, parseMatch, VswitchError } from './index.js';

function syntaxError(text: string): FlowSyntaxError {
  try { parseFlow(text); } catch (e) { if (e instanceof FlowSyntaxError) return e; throw e; }
  throw new Error(`parsed without error: ${text}`);
}

describe('flow syntax (ovs-ofctl style)', () => {
  it('parses the field list of a flow and prints it back canonically', () => {
    const f = parseFlow('priority=100,in_port=vif1,dl_type=0x0800,nw_dst=10.0.0.0/24,actions=output:vxlan0');
    expect(f.priority).toBe(100);
    expect(f.match.inPort).toBe('vif1');
    expect(f.match.dlType).toBe(0x0800);
    expect(f.match.nwDst).toEqual({ addr: 0x0a000000, prefix: 24 });
    expect(f.actions).toEqual([{ type: 'output', port: 'vxlan0' }]);
    expect(formatFlow(f)).toBe('priority=100,in_port=vif1,dl_type=0x0800,nw_dst=10.0.0.0/24,actions=output:vxlan0');
  });

  it('reads every printed flow back to the same flow', () => {
    const texts = [
      'priority=7 tcp tp_dst=80 nw_src=192.168.1.0/25 actions=mirror:mon0,normal',
      'dl_src=02:00:00:00:00:01,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=flood',
      'tun_id=0x1388,arp,nw_dst=10.1.1.1,actions=set_tunnel:6000,output:vxlan0',
      'priority=0,actions=drop',
    ];
    for (const t of texts) {
      const f = parseFlow(t);
      expect(parseFlow(formatFlow(f))).toEqual(f);
    }
  });

  it('expands shorthands, defaults the priority to 32768 and clears host bits of a prefix', () => {
    const f = parseFlow('udp,nw_dst=10.0.0.7/24,actions=normal');
    expect(f.priority).toBe(32768);
    expect(f.match).toMatchObject({ dlType: 0x0800, nwProto: 17, nwDst: { addr: 0x0a000000, prefix: 24 } });
    expect(parseFlow('tun_id=0x1388,actions=drop').match.tunId).toBe(5000);
    expect(parseFlow('actions=drop').actions).toEqual([]);
  });

  it('names what is wrong with a bad flow, with the offending token', () => {
    const cases: Array<[string, RegExp, string?]> = [
      ['priority=100,in_port=vif1', /missing actions=/],
      ['in_port=vif1,actions=', /actions= is empty/],
      ['nw_dstt=10.0.0.1,actions=drop', /unknown field 'nw_dstt'/, 'nw_dstt=10.0.0.1'],
      ['in_port,actions=drop', /in_port needs a value/, 'in_port'],
      ['ip,nw_dst=10.0.0.0/33,actions=drop', /prefix length must be 0\.\.32/],
      ['ip,nw_src=10.0.0.256,actions=drop', /not an IPv4 address/],
      ['tcp,tp_dst=70000,actions=drop', /tp_dst=70000: out of range 0\.\.65535/],
      ['tun_id=16777216,actions=drop', /a VNI is 24 bits/],
      ['priority=abc,actions=drop', /not a number/],
      ['dl_src=02:00:00:00:00,actions=drop', /not a MAC address/],
      ['in_port=a,in_port=b,actions=drop', /in_port given twice/],
      ['nw_dst=10.0.0.1,actions=drop', /nw_dst needs dl_type=0x0800/],
      ['ip,tp_dst=80,actions=drop', /tp_dst needs dl_type=0x0800 and nw_proto=6 or 17/],
      ['tcp,udp,actions=drop', /'udp' contradicts nw_proto=6/],
      ['actions=outptu:vif1', /unknown action \(known: output:PORT/, 'outptu:vif1'],
      ['actions=output', /needs a port \(output:PORT\)/],
      ['actions=output:vif1,drop', /'drop' must be the only action/],
      ['actions=set_tunnel:x', /set_tunnel:x: not a number/],
      ['actions=normal,,flood', /empty action between commas/],
      ['', /missing actions=/],
    ];
    for (const [text, re, token] of cases) {
      const e = syntaxError(text);
      expect(e).toBeInstanceOf(VswitchError);
      expect(e.reason).toBe('flow_syntax');
      expect(e.message, text).toMatch(re);
      if (token !== undefined) expect(e.token).toBe(token);
    }
  });

  it('parses a bare match for del-flows and refuses actions there', () => {
    expect(parseMatch('priority=5,in_port=vif1')).toEqual({ priority: 5, match: { inPort: 'vif1' } });
    expect(() => parseMatch('in_port=vif1,actions=drop')).toThrow(/takes no actions=/);
  });
});
