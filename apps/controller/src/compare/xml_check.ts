// A small, strict XML reader: enough to prove the SVG the lab writes is well-formed (one root,
// balanced tags, quoted attributes, escaped text) and to look inside it in tests.

export interface XmlElement { name: string; attrs: Record<string, string>; children: XmlElement[]; text: string }

export class XmlError extends Error {
  constructor(readonly offset: number, message: string) {
    super(`XML at offset ${offset}: ${message}`);
    this.name = 'XmlError';
  }
}

const NAME = /^[A-Za-z_:][\w.:-]*/;
const ENTITY = /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;

function decode(s: string, at: number): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '<') throw new XmlError(at + i, 'a raw "<" in text or an attribute value');
    if (s[i] !== '&') {
      out += s[i];
      continue;
    }
    const m = ENTITY.exec(s.slice(i));
    if (!m) throw new XmlError(at + i, 'an "&" that starts no entity');
    const e = m[1];
    out += e === 'amp' ? '&' : e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : e === 'apos' ? "'" : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    i += m[0].length - 1;
  }
  return out;
}

/** Parses `text`; throws XmlError at the first thing that is not well-formed XML. */
export function parseXml(text: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipWs = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  while (i < text.length) {
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i);
      if (end < 0) throw new XmlError(i, 'unterminated processing instruction');
      if (root || stack.length) throw new XmlError(i, 'a processing instruction after the root element started');
      i = end + 2;
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i);
      if (end < 0) throw new XmlError(i, 'unterminated comment');
      i = end + 3;
    } else if (text.startsWith('</', i)) {
      const m = NAME.exec(text.slice(i + 2));
      const open = stack.pop();
      if (!m || !open) throw new XmlError(i, 'a closing tag without an open element');
      if (m[0] !== open.name) throw new XmlError(i, `</${m[0]}> closes <${open.name}>`);
      i += 2 + m[0].length;
      skipWs();
      if (text[i] !== '>') throw new XmlError(i, `"${m[0]}" closing tag is not closed by ">"`);
      i++;
    } else if (text[i] === '<') {
      const m = NAME.exec(text.slice(i + 1));
      if (!m) throw new XmlError(i, 'a "<" that starts no tag');
      if (root && stack.length === 0) throw new XmlError(i, 'a second root element');
      const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
      i += 1 + m[0].length;
      for (;;) {
        const before = i;
        skipWs();
        if (text.startsWith('/>', i)) { i += 2; break; }
        if (text[i] === '>') { i++; stack.push(el); break; }
        if (i === before) throw new XmlError(i, `attributes of <${el.name}> must be separated by spaces`);
        const a = NAME.exec(text.slice(i));
        if (!a) throw new XmlError(i, `a bad attribute in <${el.name}>`);
        i += a[0].length;
        skipWs();
        if (text[i] !== '=') throw new XmlError(i, `attribute ${a[0]} of <${el.name}> has no value`);
        i++;
        skipWs();
        const q = text[i];
        if (q !== '"' && q !== "'") throw new XmlError(i, `attribute ${a[0]} of <${el.name}> is not quoted`);
        const end = text.indexOf(q, i + 1);
        if (end < 0) throw new XmlError(i, `attribute ${a[0]} of <${el.name}> is not closed`);
        if (a[0] in el.attrs) throw new XmlError(i, `attribute ${a[0]} repeated in <${el.name}>`);
        el.attrs[a[0]] = decode(text.slice(i + 1, end), i + 1);
        i = end + 1;
      }
      const parent = stack[stack.length - (stack[stack.length - 1] === el ? 2 : 1)];
      if (parent) parent.children.push(el);
      else root = el;
    } else {
      const end = text.indexOf('<', i);
      const chunk = text.slice(i, end < 0 ? text.length : end);
      const top = stack[stack.length - 1];
      if (!top) {
        if (chunk.trim()) throw new XmlError(i, 'text outside the root element');
      } else top.text += decode(chunk, i);
      i += chunk.length;
    }
  }
  if (stack.length) throw new XmlError(text.length, `<${stack[stack.length - 1].name}> is never closed`);
  if (!root) throw new XmlError(0, 'no root element');
  return root;
}

/** Every element of the tree, depth first. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}
