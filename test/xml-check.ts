// A small XML well-formedness checker for the SVG tests (no XML parser is a dependency): one root
// element, balanced and properly nested tags, quoted attributes, no raw '<' or stray '&' in text.
export function checkWellFormedXml(xml: string): void {
  let i = 0;
  const stack: string[] = [];
  let roots = 0;
  const fail = (m: string): never => {
    throw new Error(`not well-formed XML at offset ${i}: ${m}`);
  };
  const text = (s: string) => {
    if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(s)) fail(`stray '&' in ${JSON.stringify(s.slice(0, 40))}`);
  };
  if (xml.startsWith('<?xml')) {
    i = xml.indexOf('?>');
    if (i < 0) fail('unterminated XML declaration');
    i += 2;
  }
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const chunk = lt < 0 ? xml.slice(i) : xml.slice(i, lt);
    if (stack.length === 0 && chunk.trim() !== '') fail('text outside the root element');
    text(chunk);
    if (lt < 0) break;
    i = lt;
    if (xml.startsWith('<!--', i)) {
      const e = xml.indexOf('-->', i);
      if (e < 0) fail('unterminated comment');
      i = e + 3;
      continue;
    }
    const gt = xml.indexOf('>', i);
    if (gt < 0) fail('unterminated tag');
    const tag = xml.slice(i + 1, gt);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      if (stack.pop() !== name) fail(`unexpected </${name}>`);
    } else {
      const self = tag.endsWith('/');
      const body = self ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*$/.exec(body);
      if (!m) fail(`malformed tag <${tag}>`);
      const attrs = [...m![2].matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)];
      const names = attrs.map((a) => a[1]);
      if (new Set(names).size !== names.length) fail(`duplicate attribute in <${m![1]}>`);
      for (const a of attrs) text(a[2] ?? a[3]);
      if (stack.length === 0) roots++;
      if (roots > 1) fail('more than one root element');
      if (!self) stack.push(m![1]);
    }
    i = gt + 1;
  }
  if (stack.length) fail(`unclosed <${stack[stack.length - 1]}>`);
  if (roots !== 1) fail('no root element');
}
