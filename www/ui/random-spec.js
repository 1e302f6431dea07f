// Parsing of the random-input settings shared by the page and the CLI:
// "name=V,…" for symbolic dimensions, "name=LO:HI,…" for value ranges.

export function parseDims(text, what = 'dims') {
  const dims = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [k, v] = part.split('=').map((s) => s.trim());
    if (!k || !/^\d+$/.test(v ?? '')) throw new Error(`${what}: write name=value pairs, e.g. batch=1,sequence=128 (got '${part}')`);
    dims[k] = Number(v);
  }
  return dims;
}

export function parseRanges(text, what = 'ranges') {
  const ranges = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = part.match(/^([^=]+)=(-?[\d.e+-]+):(-?[\d.e+-]+)$/);
    if (!m) throw new Error(`${what}: write name=low:high pairs, e.g. input_ids=0:30522 (got '${part}')`);
    ranges[m[1].trim()] = [Number(m[2]), Number(m[3])];
  }
  return ranges;
}
