// URL normalisation for exact-URL deduplication and domain statistics.
//
// normalizeUrl: lower-cases scheme and host, drops `www.`, default ports, user info, the fragment and
// tracking parameters (utm_*, fbclid, gclid, …); resolves `.`/`..` path segments and repeated slashes;
// decodes percent-escapes of unreserved characters and upper-cases the remaining escapes; removes a
// trailing slash and a trailing index.html/index.php; sorts the query parameters; and (by default)
// treats http and https as the same page (`https`). Strings that do not parse as http(s) URLs are
// returned trimmed, so they still dedup exactly.

export interface NormalizeOptions {
  /** Map http:// to https:// (default true). */
  unifyScheme?: boolean;
  /** Drop a leading `www.` from the host (default true). */
  dropWww?: boolean;
}

const TRACKING = /^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|_ga|yclid|igshid|ref_src)$/i;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

function normEscapes(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

function normPath(p: string): string {
  const segs = p.split('/');
  const out: string[] = [];
  for (const s of segs) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(normEscapes(s));
  }
  if (out.length && /^index\.(html?|php)$/i.test(out[out.length - 1])) out.pop();
  return '/' + out.join('/');
}

export function normalizeUrl(raw: string, opts: NormalizeOptions = {}): string {
  const s = raw.trim();
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(s);
  if (!m) return s;
  let scheme = m[1].toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return s;
  let authority = m[2];
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  let host = authority.toLowerCase();
  let port = '';
  const pm = /^(.*?)(?::(\d*))?$/.exec(host);
  if (pm && !host.startsWith('[')) {
    host = pm[1];
    port = pm[2] ?? '';
  }
  host = host.replace(/\.$/, '');
  if ((scheme === 'http' && port === '80') || (scheme === 'https' && port === '443') || port === '') port = '';
  if (opts.dropWww ?? true) host = host.replace(/^www\d*\./, '');
  if (opts.unifyScheme ?? true) scheme = 'https';
  const p = normPath(m[3] || '/');
  let query = '';
  if (m[4] && m[4].length > 1) {
    const params = m[4]
      .slice(1)
      .split('&')
      .filter((kv) => kv.length > 0 && !TRACKING.test(kv.split('=')[0]))
      .map(normEscapes)
      .sort();
    if (params.length) query = '?' + params.join('&');
  }
  return `${scheme}://${host}${port ? ':' + port : ''}${p === '/' ? '' : p}${query}`;
}

/** The host of a URL, lower-cased, without `www.` and port ('' when it has none). */
export function domainOf(raw: string | undefined): string {
  if (!raw) return '';
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(raw.trim());
  if (!m) return '';
  let host = m[1];
  const at = host.lastIndexOf('@');
  if (at >= 0) host = host.slice(at + 1);
  host = host.toLowerCase().replace(/:\d*$/, '').replace(/\.$/, '');
  return host.replace(/^www\d*\./, '');
}
