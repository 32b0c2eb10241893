// In-memory HtmlService: createHtmlOutputFromFile reads `<name>.html` from the build output directory (the same files
// clasp pushes), or returns a placeholder when none is given. Counts calls. Shared by the tests and the playground
// (devtools/playground); never bundled into the add-on.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallCounter } from './call-counter';

export class FakeHtmlOutput {
  private title = '';
  constructor(private content: string) {}
  setTitle(title: string): FakeHtmlOutput { this.title = title; return this; }
  getTitle(): string { return this.title; }
  setWidth(): FakeHtmlOutput { return this; }
  setHeight(): FakeHtmlOutput { return this; }
  append(html: string): FakeHtmlOutput { this.content += html; return this; }
  getContent(): string { return this.content; }
}

export class FakeHtmlService {
  constructor(private readonly calls: CallCounter, private readonly htmlDir: string | null) {}

  createHtmlOutputFromFile(name: string): FakeHtmlOutput {
    this.calls.hit('HtmlService.createHtmlOutputFromFile');
    const file = this.htmlDir ? join(this.htmlDir, `${name}.html`) : null;
    if (file && existsSync(file)) return new FakeHtmlOutput(readFileSync(file, 'utf8'));
    if (this.htmlDir) throw new Error(`Exception: No HTML file named ${name} was found.`);
    return new FakeHtmlOutput(`<!-- ${name}.html -->`);
  }

  createHtmlOutput(html = ''): FakeHtmlOutput {
    this.calls.hit('HtmlService.createHtmlOutput');
    return new FakeHtmlOutput(html);
  }
}
