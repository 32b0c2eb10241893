// In-memory PropertiesService with script, user and document stores. Enforces the documented 9 KB value limit so an
// add-on that stores too much fails in tests as it would in Apps Script. Counts calls. Shared by the tests and the
// playground (devtools/playground); never bundled into the add-on.
import type { CallCounter } from './call-counter';

/** Apps Script: "Properties value size 9 KB / value". */
export const MAX_VALUE_BYTES = 9 * 1024;

export class FakeProperties {
  readonly data = new Map<string, string>();
  constructor(private readonly label: string, private readonly calls: CallCounter) {}

  private hit(m: string): void {
    this.calls.hit(`Properties.${m}`);
  }

  getProperty(key: string): string | null {
    this.hit('getProperty');
    return this.data.get(key) ?? null;
  }

  setProperty(key: string, value: string): FakeProperties {
    this.hit('setProperty');
    this.check(key, value);
    this.data.set(key, String(value));
    return this;
  }

  setProperties(values: Record<string, string>, deleteAllOthers = false): FakeProperties {
    this.hit('setProperties');
    if (deleteAllOthers) this.data.clear();
    for (const [k, v] of Object.entries(values)) {
      this.check(k, v);
      this.data.set(k, String(v));
    }
    return this;
  }

  deleteProperty(key: string): FakeProperties {
    this.hit('deleteProperty');
    this.data.delete(key);
    return this;
  }

  getProperties(): Record<string, string> {
    this.hit('getProperties');
    return Object.fromEntries(this.data);
  }

  getKeys(): string[] {
    this.hit('getKeys');
    return [...this.data.keys()];
  }

  deleteAllProperties(): FakeProperties {
    this.hit('deleteAllProperties');
    this.data.clear();
    return this;
  }

  private check(key: string, value: string): void {
    if (Buffer.byteLength(String(value), 'utf8') > MAX_VALUE_BYTES) {
      throw new Error(`Exception: Argument too large: value (${this.label} property "${key}")`);
    }
  }
}

export class FakePropertiesService {
  readonly script: FakeProperties;
  readonly user: FakeProperties;
  readonly document: FakeProperties;
  /** False models an execution without a document (getDocumentProperties returns null). */
  hasDocument = true;

  constructor(private readonly calls: CallCounter) {
    this.script = new FakeProperties('script', calls);
    this.user = new FakeProperties('user', calls);
    this.document = new FakeProperties('document', calls);
  }

  getScriptProperties(): FakeProperties { this.calls.hit('PropertiesService.getScriptProperties'); return this.script; }
  getUserProperties(): FakeProperties { this.calls.hit('PropertiesService.getUserProperties'); return this.user; }
  getDocumentProperties(): FakeProperties | null {
    this.calls.hit('PropertiesService.getDocumentProperties');
    return this.hasDocument ? this.document : null;
  }
}
