/**
 * Where to go after logging in: the `?redirect=` path when it is a path of this site, else `/`.
 * Absolute and protocol-relative URLs are refused, so a link cannot send a shopper elsewhere.
 */
export function safeRedirect(value: unknown): string {
  const path = Array.isArray(value) ? value[0] : value;
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return '/';
  return path;
}
