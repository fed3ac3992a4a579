"use strict";
// "Did you mean …?" for option names and kvPersist forms.

/** Edit distance with adjacent transpositions (optimal string alignment), so
 * that "memroy" is one edit from "memory". Case-insensitive. */
function editDistance(a, b) {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const rows = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push(new Array(b.length + 1).fill(0));
    rows[i][0] = i;
  }
  for (let j = 0; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

/** The candidate closest to `word` within `maxDistance` edits (a third of the
 * word's length, at least 1, by default), or undefined. Ties: the first. */
function closest(word, candidates, maxDistance = Math.max(1, Math.floor(word.length / 3))) {
  let best;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= maxDistance ? best : undefined;
}

module.exports = { editDistance, closest };
