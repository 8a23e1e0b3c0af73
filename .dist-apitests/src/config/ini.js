/**
 * Parses oslo.config-style INI text: `[section]` headers, `name = value` (or `name: value`),
 * `#`/`;` comment lines, and indented continuation lines appended to the previous value.
 * Names are case-sensitive as in oslo.config; the `DEFAULT` section keeps its name.
 */
export function parseIni(text, file) {
    const entries = [];
    let section = null;
    let last = null;
    const lines = text.split(/\r?\n/);
    lines.forEach((raw, i) => {
        const line = i + 1;
        if (/^\s*([#;].*)?$/.test(raw)) {
            last = raw.trim() === '' ? null : last;
            return;
        }
        if (/^\s/.test(raw) && last) {
            last.value = `${last.value}\n${raw.trim()}`;
            return;
        }
        const header = /^\[([^\]]+)\]\s*$/.exec(raw);
        if (header) {
            section = header[1].trim();
            last = null;
            return;
        }
        const kv = /^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$/.exec(raw);
        if (!kv)
            throw new Error(`${file}:${line}: cannot parse line '${raw}'`);
        if (section === null)
            throw new Error(`${file}:${line}: option '${kv[1]}' is outside any [section]`);
        last = { section, name: kv[1].trim(), value: kv[2].trim(), line };
        entries.push(last);
    });
    return entries;
}
//# sourceMappingURL=ini.js.map