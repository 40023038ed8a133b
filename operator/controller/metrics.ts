// A tiny Prometheus registry: counters and gauges with labels, rendered in the text
// exposition format (version 0.0.4). conclab needs a handful of series; a dependency for
// that would be more code to trust than this file.

type Labels = Record<string, string>;

interface Series {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, { labels: Labels; value: number }>;
  /** For gauges computed at scrape time. */
  collect?: () => { labels: Labels; value: number }[];
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function renderLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',')}}`;
}

export class Metrics {
  readonly #series = new Map<string, Series>();

  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const s = this.#define(name, help, 'counter');
    return (labels = {}, by = 1) => {
      const key = labelKey(labels);
      const cur = s.values.get(key);
      if (cur) cur.value += by;
      else s.values.set(key, { labels, value: by });
    };
  }

  /** A gauge whose values are computed at scrape time. */
  gauge(name: string, help: string, collect: () => { labels: Labels; value: number }[]): void {
    const s = this.#define(name, help, 'gauge');
    s.collect = collect;
  }

  /** Current value of a counter or gauge series (for tests and logs). */
  value(name: string, labels: Labels = {}): number {
    const s = this.#series.get(name);
    if (!s) return 0;
    if (s.collect) return s.collect().find((v) => labelKey(v.labels) === labelKey(labels))?.value ?? 0;
    return s.values.get(labelKey(labels))?.value ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const s of this.#series.values()) {
      lines.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`);
      let values: { labels: Labels; value: number }[];
      try {
        values = s.collect ? s.collect() : [...s.values.values()];
      } catch {
        values = [];
      }
      for (const v of values) lines.push(`${s.name}${renderLabels(v.labels)} ${v.value}`);
    }
    return `${lines.join('\n')}\n`;
  }

  #define(name: string, help: string, type: Series['type']): Series {
    if (this.#series.has(name)) throw new Error(`metric ${name} defined twice`);
    const s: Series = { name, help, type, values: new Map() };
    this.#series.set(name, s);
    return s;
  }
}
