// Text that came from an untrusted file (node and tensor names), made safe for one terminal line.

/** Control characters (newlines, ANSI escapes, bidi overrides) shown as escapes, so a name cannot break or recolour a line. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
