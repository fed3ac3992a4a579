"use strict";
// The napi-rs platform name of this machine (`linux-x64-gnu`, `darwin-arm64`,
// `win32-x64-msvc`, …): the part of `miniflare-kv.<name>.node` that the
// generated ./binding.js looks for. Shared by scripts/install.js (which names
// a binary it builds from source) and lib/native.js (its error message).

function isMusl() {
  if (process.platform !== "linux") return false;
  const report = typeof process.report?.getReport === "function" ? process.report.getReport() : null;
  // glibc reports its version; musl does not.
  return !report?.header?.glibcVersionRuntime;
}

function platformName() {
  const { platform, arch } = process;
  if (platform === "win32") return `win32-${arch}-msvc`;
  if (platform === "linux") {
    const libc = isMusl() ? "musl" : "gnu";
    return arch === "arm" ? `linux-arm-${libc}eabihf` : `linux-${arch}-${libc}`;
  }
  if (platform === "android" && arch === "arm") return "android-arm-eabi";
  return `${platform}-${arch}`;
}

module.exports = { platformName };
