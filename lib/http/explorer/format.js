// How values, times and sizes are shown. Pure functions: no DOM, no fetch.

const numbers = new Intl.NumberFormat("en");
export const count = (n) => numbers.format(n);

export function plural(n, word) {
  return `${count(n)} ${word}${n === 1 ? "" : "s"}`;
}

export function bytes(n) {
  if (n < 1024) return plural(n, "byte");
  const units = ["KiB", "MiB", "GiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const relative = new Intl.RelativeTimeFormat("en", { numeric: "always", style: "short" });
const STEPS = [
  [60, "second"],
  [60, "minute"],
  [24, "hour"],
  [365, "day"],
];

/** "in 3 min", "2 hr ago" for a unix time in seconds. */
export function relativeTime(unixSeconds, nowMs = Date.now()) {
  let value = unixSeconds - nowMs / 1000;
  for (const [size, unit] of STEPS) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return relative.format(Math.round(value), "year");
}

/** The local date and time, plus the unix seconds (what the API speaks). */
export function absoluteTime(unixSeconds) {
  const date = new Date(unixSeconds * 1000);
  return date.toLocaleString("en", { dateStyle: "medium", timeStyle: "medium" });
}

/** `YYYY-MM-DDTHH:MM:SS` in local time, for an <input type="datetime-local">. */
export function toLocalInput(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The value as text, or null when it is not UTF-8 or holds control bytes. */
export function asText(data) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    return null;
  }
  // NUL and other C0 controls (but tab, newline, carriage return) mean binary.
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(text) ? null : text;
}

/** The value parsed as JSON, or undefined when it is not JSON. */
export function asJson(text) {
  if (text === null || !/^\s*[[{"\d\-tfn]/.test(text)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const startsWith = (data, signature, at = 0) => signature.every((byte, i) => data[at + i] === byte);
const ascii = (text) => [...text].map((c) => c.charCodeAt(0));

/** The image type of the bytes, from their first bytes, or null. */
export function imageType(data, text) {
  if (startsWith(data, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "image/png";
  if (startsWith(data, [0xff, 0xd8, 0xff])) return "image/jpeg";
  if (startsWith(data, ascii("GIF87a")) || startsWith(data, ascii("GIF89a"))) return "image/gif";
  if (startsWith(data, ascii("RIFF")) && startsWith(data, ascii("WEBP"), 8)) return "image/webp";
  if (startsWith(data, ascii("ftypavif"), 4)) return "image/avif";
  if (startsWith(data, ascii("BM")) && data.length > 26) return "image/bmp";
  if (startsWith(data, [0, 0, 1, 0]) && data.length > 22) return "image/x-icon";
  // An <img> never runs an SVG's scripts.
  if (text !== null && /^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>]/i.test(text)) return "image/svg+xml";
  return null;
}

/** Offset, 16 bytes in hex, and their printable ASCII, per line. */
export function hexDump(data, limit = 64 * 1024) {
  const lines = [];
  const end = Math.min(data.length, limit);
  for (let offset = 0; offset < end; offset += 16) {
    const row = data.subarray(offset, Math.min(offset + 16, end));
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0"));
    const left = hex.slice(0, 8).join(" ");
    const right = hex.slice(8).join(" ");
    const printable = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${printable}|`);
  }
  return lines.join("\n");
}

/** A file name for a download of `key`: no path separators or controls. */
export function fileNameFor(key) {
  const name = key.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/g, "_").slice(0, 120);
  return name === "" || /^\.+$/.test(name) ? "value.bin" : name;
}
